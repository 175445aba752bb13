"""Rate-limit counters (table `market`: pk/sk, TTL, no stream, so a counter write is no main-stream record).

  RateCounter  pk=RATE#<principal>  sk=<window>  count, ttl    principal: s:<session-token hash> | k:<API key id>
                                                               | ip:<bucket>:<address>
  LoginFails   pk=LOGIN#u:<username> | LOGIN#ip:<address>  sk=<window>  count (failures), until_ms, ttl

A request counter is an `ADD count 1` conditioned on `count < limit`: as its own UpdateItem (reads, and requests
that committed no transaction) or as one more item of the request's TransactWriteItems (chalicelib/ledger/store.Tx).
"""
from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from chalicelib.storage.db import IntAttribute, is_condition_failure, register


@register
class Counter(Model):
    class Meta:
        logical_table = "market"
        table_name = "sim-market"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    count = IntAttribute(null=True)
    until_ms = IntAttribute(null=True)
    ttl = IntAttribute(null=True)


class LimitReached(Exception):
    pass


def increment_args(limit: int, ttl: int) -> dict:
    """The update of one counted request (for Model.update and for a transaction's update)."""
    return {"actions": [Counter.count.add(1), Counter.ttl.set(ttl)],
            "condition": Counter.count.does_not_exist() | (Counter.count < limit)}


def hit(pk: str, sk: str, limit: int, ttl: int) -> int:
    """Count one request; returns the new count, or raises LimitReached (nothing changed)."""
    item = Counter(pk, sk)
    try:
        item.update(**increment_args(limit, ttl))
    except UpdateError as e:
        if is_condition_failure(e):
            raise LimitReached() from None
        raise
    return int(item.count)


def read(keys: list[tuple[str, str]]) -> dict[str, Counter]:
    """Several counters in one BatchGetItem, by pk (missing ones are absent)."""
    return {c.pk: c for c in Counter.batch_get(keys)}


def add_failure(pk: str, sk: str, until_ms: int | None, ttl: int) -> None:
    actions = [Counter.count.add(1), Counter.ttl.set(ttl)]
    if until_ms:
        actions.append(Counter.until_ms.set(until_ms))
    Counter(pk, sk).update(actions=actions)


def clear(pk: str, sk: str) -> None:
    Counter(pk, sk).delete()

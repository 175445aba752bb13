"""Private channels (`account`, `orders`, `positions`) fed by the main table's stream.

Nothing on a request path publishes: a change to an account, order or position item reaches the owner's
subscribed connections through this stream handler, whatever code path made the change. Capabilities register a
publisher per item-type prefix: publisher(new_image: dict) -> (channel, user_id, data) | None.
"""
from typing import Callable

from boto3.dynamodb.types import TypeDeserializer

from chalicelib.realtime import broadcaster, store

_deser = TypeDeserializer()
_PUBLISHERS: dict[str, Callable[[dict], tuple[str, str, dict] | None]] = {}


def register_publisher(pk_prefix: str, publisher: Callable[[dict], tuple[str, str, dict] | None]) -> None:
    _PUBLISHERS[pk_prefix] = publisher


def image(raw: dict) -> dict:
    return {k: _deser.deserialize(v) for k, v in raw.items()}


def _account(item: dict):
    if item.get("sk") != "A" or item.get("role") == "system":
        return None
    from chalicelib.accounts.logic import account_view

    class _A:  # account_view reads attributes; stream images are dicts
        pass
    a = _A()
    for attr in ("user_id", "username", "role", "wallet_address", "parent_broker_id", "brand_root_id",
                 "created_at"):
        setattr(a, attr, item.get(attr))
    for attr in ("balance", "available_balance", "frozen_margin", "position_margin"):
        setattr(a, attr, item.get(attr, 0))
    return "account", item["user_id"], account_view(a)


register_publisher("ACCT#", _account)


def on_main_records(records: list) -> int:
    """Publish the latest image of each changed item once per batch; returns messages sent."""
    latest: dict[tuple[str, str], dict] = {}
    for rec in records:  # Lambda's DynamoDB stream records (dicts, DynamoDB JSON images)
        raw = rec.get("dynamodb", {}).get("NewImage")
        if not raw:
            continue
        item = image(raw)
        pk = item.get("pk", "")
        latest[(pk, item.get("sk", ""))] = item
    sent = 0
    for (pk, _), item in latest.items():
        prefix = pk.split("#", 1)[0] + "#"
        publisher = _PUBLISHERS.get(prefix)
        if publisher is None:
            continue
        out = publisher(item)
        if out is None:
            continue
        channel, user_id, data = out
        topic = f"{channel}#{user_id}"
        conns = store.subscribers(topic)
        if conns:
            sent += broadcaster.send_many(conns, {"type": channel, "data": data})
    return sent

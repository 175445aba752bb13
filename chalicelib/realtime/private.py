"""Private channels (`account`, `orders`, `positions`) fed by the main table's stream.

Nothing on a request path publishes: a change to an account, order or position item reaches the owner's
subscribed connections through this stream handler, whatever code path made the change. Capabilities register a
publisher per item-type prefix: publisher(new_image: dict) -> (channel, user_id, data) | None.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from boto3.dynamodb.types import TypeDeserializer

from chalicelib.realtime import broadcaster, store

_deser = TypeDeserializer()
_PUBLISHERS: dict[str, Callable[[dict], tuple[str, str, dict] | None]] = {}
_batch = threading.local()  # the keys of once_per_batch() already run in the batch being handled
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _queries() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="private-query")
    return _pool


def once_per_batch(key, fn: Callable, *args) -> None:
    """Run fn(*args) once per stream batch for `key` (at once outside a batch). For side effects that read the
    table when they run, such as a throttled depth broadcast: every change of the batch is committed before the
    batch is delivered, so one run covers them all."""
    seen = getattr(_batch, "seen", None)
    if seen is None:
        fn(*args)
    elif key not in seen:
        seen.add(key)
        fn(*args)


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
    outgoing: list[tuple[str, dict]] = []
    _batch.seen = set()
    try:
        for (pk, _), item in latest.items():
            publisher = _PUBLISHERS.get(pk.split("#", 1)[0] + "#")
            out = publisher(item) if publisher is not None else None
            if out is not None:
                channel, user_id, data = out
                outgoing.append((f"{channel}#{user_id}", {"type": channel, "data": data}))
    finally:
        _batch.seen = None
    # one subscriber query per distinct topic of the batch (a reprice changes four orders of one owner), in parallel
    topics = list(dict.fromkeys(t for t, _ in outgoing))
    if len(topics) > 1:
        audiences = dict(zip(topics, _queries().map(store.subscribers, topics)))
    else:
        audiences = {t: store.subscribers(t) for t in topics}
    sent = 0
    for topic, message in outgoing:
        if audiences[topic]:
            sent += broadcaster.send_many(audiences[topic], message)
    return sent

"""Webhook events, the outbox other capabilities call.

An event about an account reaches the broker that owns the account and every broker above it (account.ancestors),
through each of their active API keys that has a webhook URL. Nothing is written when no such key exists.

    from chalicelib.broker import events
    events.emit("order.filled", account_or_id, {...})       # after your own write (best effort + sweep)

or atomically with a money transaction (the event exists if and only if the transaction committed):

    ev = events.prepare("transfer.deposit", account, {...})
    ev.stage(tx)
    tx.commit()
    ev.dispatch()

`dispatch` creates one delivery per target (webhooks.py) and enqueues them on the webhooks queue; an event whose
dispatch did not finish (crash, queue down) is picked up by webhooks.sweep(). Body of every delivery, byte for
byte the same for every target: {"id":"evt_...","event":"<name>","created_at":"<ISO-8601 UTC>","data":{...}}.
"""
import json


from chalicelib.storage.db import get_or_none
from chalicelib.accounts import store as accounts
from chalicelib.broker import keys, logic
from chalicelib.common import jsonutil
from chalicelib.common.clock import new_id, now_ms
from chalicelib.common.logging import logger
from chalicelib.broker.models import KEEP_MS, SHARDS, WebhookEvent, shard_of, undispatched  # noqa: F401

EVENTS = ("client.created", "transfer.deposit", "withdrawal.created", "withdrawal.locked", "withdrawal.unlocked",
          "withdrawal.broker_completed", "withdrawal.released", "withdrawal.processing", "withdrawal.completed",
          "order.filled")
class Prepared:
    """An event ready to be written (alone, or as part of a Tx) and then dispatched. Falsy when nobody listens."""

    def __init__(self, item: WebhookEvent | None):
        self.item = item

    def __bool__(self):
        return self.item is not None

    @property
    def event_id(self) -> str | None:
        return self.item.event_id if self.item is not None else None

    def stage(self, tx) -> None:
        if self.item is not None:
            tx.put(self.item, condition=WebhookEvent.pk.does_not_exist(), tag="webhook_event")

    def save(self) -> None:
        if self.item is not None:
            self.item.save(condition=WebhookEvent.pk.does_not_exist())

    def dispatch(self) -> None:
        """Never raises: an undispatched event is retried by the sweep."""
        if self.item is None:
            return
        from chalicelib.broker import webhooks  # deliveries depend on events, never the other way
        try:
            webhooks.dispatch_event(self.item)
        except Exception:
            logger.exception("webhook event dispatch failed; the sweep retries it",
                             extra={"eventId": self.item.event_id})


def targets_for(account, extra_brokers=()) -> list[dict]:
    brokers = []
    for b in list(account.ancestors or []) + list(extra_brokers or []):
        if b and b not in brokers:
            brokers.append(b)
    out = []
    for b in brokers:
        for k in keys.webhook_keys(b):
            out.append({"broker_id": b, "key_id": k.key_id, "key_pk": k.pk, "url": k.webhook_url})
    return out


def build_body(event_id: str, event: str, created_at: int, data: dict) -> str:
    return jsonutil.dumps({"id": event_id, "event": event, "created_at": logic.iso(created_at), "data": data})


def prepare(event: str, account, data: dict, extra_brokers=(), now: int | None = None) -> Prepared:
    """`account`: an Account or its id. `extra_brokers`: more broker ids to notify (e.g. a locking broker)."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event}")
    if isinstance(account, str):
        account = accounts.get(account)
        if account is None:
            return Prepared(None)
    targets = targets_for(account, extra_brokers)
    if not targets:
        return Prepared(None)
    now = now or now_ms()
    event_id = "evt_" + new_id().replace("-", "")
    return Prepared(WebhookEvent(*WebhookEvent.key(event_id), event_id=event_id, event=event,
                                 account_id=account.user_id, targets=json.dumps(targets),
                                 body=build_body(event_id, event, now, data), created_at=now,
                                 ttl=(now + KEEP_MS) // 1000, gsi2pk=f"WHOUTBOX#{shard_of(event_id)}",
                                 gsi2sk=f"{now:013d}#{event_id}"))


def emit(event: str, account, data: dict, extra_brokers=()) -> str | None:
    """Write and dispatch an event now (outside any transaction). Returns the event id (None: no listener)."""
    ev = prepare(event, account, data, extra_brokers)
    if ev:
        ev.save()
        ev.dispatch()
    return ev.event_id


def get(event_id: str) -> WebhookEvent | None:
    return get_or_none(WebhookEvent, *WebhookEvent.key(event_id))

"""Items of the broker capability's webhook outbox: the event row (WebhookEvent) and its shard/keep rules.

Shared by events.py (writes events) and webhooks.py (dispatches and sweeps them), so neither imports the other's
items.
"""
import zlib

from pynamodb.attributes import UnicodeAttribute

from chalicelib.storage.db import Gsi2, IntAttribute, MainModel, register

SHARDS = 8
KEEP_MS = 30 * 24 * 3600 * 1000


@register
class WebhookEvent(MainModel):
    event_id = UnicodeAttribute()
    event = UnicodeAttribute()
    account_id = UnicodeAttribute()
    targets = UnicodeAttribute()       # JSON [{broker_id, key_id, key_pk, url}] resolved when the event was made
    body = UnicodeAttribute()          # the exact bytes every delivery sends (and signs)
    created_at = IntAttribute()
    dispatched_at = IntAttribute(null=True)
    ttl = IntAttribute()
    gsi2pk = UnicodeAttribute(null=True)  # WHOUTBOX#<shard> until dispatched
    gsi2sk = UnicodeAttribute(null=True)
    outbox = Gsi2()

    @staticmethod
    def key(event_id: str) -> tuple[str, str]:
        return f"WHEVT#{event_id}", "E"


def shard_of(some_id: str) -> int:
    return zlib.crc32(some_id.encode()) % SHARDS


def undispatched(older_than_ms: int, limit: int = 100):
    for shard in range(SHARDS):
        yield from WebhookEvent.outbox.query(f"WHOUTBOX#{shard}", WebhookEvent.gsi2sk < f"{older_than_ms:013d}",
                                             limit=limit)

"""Webhook delivery: the SQS queue handler, retries with backoff for 24 h, the delivery log, redelivery, the sweep.

  WebhookDelivery  pk=WHD#<id>  sk=D  gsi1pk=WHDELIV#<brokerId> gsi1sk=<createdAt>#<id>     (the broker's log)
                                      gsi2pk=WHDUE#<shard>      gsi2sk=<nextAttemptAt>#<id>  (while not final)

A queue message is {"delivery_id", "attempt"}. Attempt n is claimed with a conditional update
(attempts n-1 -> n), so a duplicate message (SQS is at least once, the sweep may re-send) never makes a second
concurrent attempt. A non-2xx answer, a redirect, a timeout or a connection error schedules attempt n+1 after
RETRY_DELAYS_S[n-1] (10 s, 30 s, 2 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h: 12 attempts over ~23.9 h);
a retry that would start more than 24 h after the event is not made: the delivery is `failed`. SQS delays at most
15 min, so a longer wait travels as a chain of <= 15 min "hops" that only re-enqueue. If a message is lost (crash
between claim and re-enqueue, queue unavailable) the sweep re-enqueues every delivery overdue by SWEEP_GRACE_MS.

The signature is `sha256=<hex HMAC-SHA256(raw body, webhook secret)>`; the body is stored and sent byte for byte.
"""
import ipaddress
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import urllib3
from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError, UpdateError

from chalicelib import config, settings
from chalicelib.broker import keys, logic
from chalicelib.broker import models
from chalicelib.broker.models import WebhookEvent
from chalicelib.common import paging, sqs
from chalicelib.common.clock import new_id, now_ms
from chalicelib.common.logging import logger
from chalicelib.common.sqs import message_body
from chalicelib.storage.db import Gsi1, Gsi2, IntAttribute, MainModel, get_or_none, is_condition_failure, register

PENDING, RETRYING, SUCCEEDED, FAILED = "pending", "retrying", "succeeded", "failed"
FINAL = (SUCCEEDED, FAILED)
DEFAULT_DELAYS_S = (10, 30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800, 28800)
SQS_MAX_DELAY_S = 900
SHARDS = 8
SWEEP_GRACE_MS = 120_000
KEY_ATTRS = ("pk", "sk", "gsi1pk", "gsi1sk")
USER_AGENT = "sim-trading-webhooks/1.0"


def retry_delays() -> tuple[int, ...]:
    raw = settings.get().webhook_retry_delays  # tests: e.g. "1,1,2"
    return tuple(int(x) for x in raw.split(",")) if raw else DEFAULT_DELAYS_S


def retry_window_ms() -> int:
    return settings.get().webhook_retry_window_s * 1000


def timeout_s() -> float:
    """Seconds a receiver gets to answer (a timeout, not money: float is right here)."""
    return settings.get().webhook_timeout_s


@register
class WebhookDelivery(MainModel):
    delivery_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    event = UnicodeAttribute()
    broker_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    key_pk = UnicodeAttribute()
    url = UnicodeAttribute()
    body = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = IntAttribute(default=0)
    created_at = IntAttribute()
    next_attempt_at = IntAttribute(null=True)
    last_attempt_at = IntAttribute(null=True)
    delivered_at = IntAttribute(null=True)
    last_status_code = IntAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    last_duration_ms = IntAttribute(null=True)
    redelivery_of = UnicodeAttribute(null=True)
    ttl = IntAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_broker = Gsi1()
    due = Gsi2()

    @staticmethod
    def key(delivery_id: str) -> tuple[str, str]:
        return f"WHD#{delivery_id}", "D"


def _due_keys(delivery_id: str, at: int) -> tuple[str, str]:
    return f"WHDUE#{models.shard_of(delivery_id)}", f"{at:013d}#{delivery_id}"


def _new(delivery_id: str, event_id: str, event: str, body: str, target: dict, now: int,
         redelivery_of: str | None = None) -> WebhookDelivery:
    g2pk, g2sk = _due_keys(delivery_id, now)
    return WebhookDelivery(*WebhookDelivery.key(delivery_id), delivery_id=delivery_id, event_id=event_id,
                           event=event, broker_id=target["broker_id"], key_id=target["key_id"],
                           key_pk=target["key_pk"], url=target["url"], body=body, status=PENDING, attempts=0,
                           created_at=now, next_attempt_at=now, redelivery_of=redelivery_of,
                           ttl=(now + models.KEEP_MS) // 1000, gsi1pk=f"WHDELIV#{target['broker_id']}",
                           gsi1sk=f"{now:013d}#{delivery_id}", gsi2pk=g2pk, gsi2sk=g2sk)


def create_delivery(event_item, target: dict) -> WebhookDelivery:
    """The delivery of an event to one key (id derived from both: a re-dispatch finds the same one)."""
    import hashlib
    delivery_id = "whd_" + hashlib.sha256(f"{event_item.event_id}|{target['key_id']}".encode()).hexdigest()[:24]
    d = _new(delivery_id, event_item.event_id, event_item.event, event_item.body, target, now_ms())
    try:
        d.save(condition=WebhookDelivery.pk.does_not_exist())
        return d
    except PutError as e:
        if not is_condition_failure(e):
            raise  # not "exists already": the event stays undispatched and the sweep tries again
        return get(delivery_id, consistent=True)


def get(delivery_id: str, consistent: bool = False) -> WebhookDelivery | None:
    if not delivery_id or len(delivery_id) > 64:
        return None
    return get_or_none(WebhookDelivery, *WebhookDelivery.key(delivery_id), consistent_read=consistent)


def list_for(broker_id: str, limit: int, cursor: str | None, status: str | None = None, event: str | None = None):
    cond = None
    if status:
        cond = WebhookDelivery.status == status
    if event:
        c = WebhookDelivery.event == event
        cond = c if cond is None else cond & c
    return paging.query_page(WebhookDelivery.by_broker, f"WHDELIV#{broker_id}", key_attrs=KEY_ATTRS,
                             hash_attr="gsi1pk", limit=limit, cursor=cursor, filter_condition=cond)


def view(d: WebhookDelivery, with_payload: bool = False) -> dict:
    out = {"id": d.delivery_id, "eventId": d.event_id, "event": d.event, "keyId": d.key_id, "url": d.url,
           "status": d.status, "attempts": d.attempts, "lastStatusCode": d.last_status_code,
           "lastError": d.last_error, "lastDurationMs": d.last_duration_ms, "createdAt": d.created_at,
           "lastAttemptAt": d.last_attempt_at,
           "nextAttemptAt": d.next_attempt_at if d.status not in FINAL else None,
           "deliveredAt": d.delivered_at, "redeliveryOf": d.redelivery_of}
    if with_payload:
        out["payload"] = json.loads(d.body)
    return out


def redeliver(d: WebhookDelivery) -> WebhookDelivery:
    """A new delivery of the same event (same body, same event id) to the same key, sent now."""
    k = keys.by_pk(d.key_pk)
    if k is None or k.status != keys.ACTIVE or not k.webhook_url:
        from chalicelib.common.errors import ApiError
        raise ApiError(409, "API_KEY_REVOKED", "the API key of this delivery was revoked: nothing to send to")
    target = {"broker_id": d.broker_id, "key_id": d.key_id, "key_pk": d.key_pk, "url": k.webhook_url}
    new = _new("whd_" + new_id().replace("-", "")[:24], d.event_id, d.event, d.body, target, now_ms(),
               redelivery_of=d.delivery_id)
    new.save(condition=WebhookDelivery.pk.does_not_exist())
    try:
        enqueue([(new.delivery_id, 1)])
    except Exception:
        logger.exception("redelivery enqueue failed; the sweep sends it", extra={"deliveryId": new.delivery_id})
    return new


# --- the queue ---------------------------------------------------------------------------------------------



def enqueue(items: list[tuple[str, int]], delay_s: int = 0) -> None:
    """Send {"delivery_id", "attempt"} messages (DelaySeconds <= 900). Raises if the queue refused any."""
    if not items:
        return
    url = config.queue_url("webhooks")
    if not url:
        raise RuntimeError("WEBHOOKS_QUEUE_URL is not configured")
    delay_s = max(0, min(SQS_MAX_DELAY_S, int(delay_s)))
    for i in range(0, len(items), 10):
        chunk = items[i:i + 10]
        resp = sqs.client().send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": json.dumps({"delivery_id": d, "attempt": a}), "DelaySeconds": delay_s}
            for n, (d, a) in enumerate(chunk)])
        if resp.get("Failed"):
            raise RuntimeError(f"SQS refused {len(resp['Failed'])} webhook messages")


# --- HTTP --------------------------------------------------------------------------------------------------

_http = urllib3.PoolManager(num_pools=50, maxsize=10, retries=False)


def _blocked_address(host: str) -> str | None:
    """In AWS, refuse targets inside the platform's networks (SSRF); locally every address is allowed."""
    s = settings.get()
    if (s.webhook_allow_private_targets or ("0" if s.in_aws else "1")) == "1":
        return None
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as e:
        return f"cannot resolve host: {e.strerror or e}"
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved \
                or ip.is_unspecified:
            return "webhook URL resolves to a non-public address"
    return None


def post(url: str, body: bytes, headers: dict) -> tuple[int | None, str | None, int]:
    """(status code or None, error text or None, duration ms). Never raises."""
    start = time.perf_counter()
    try:
        blocked = _blocked_address(urlsplit(url).hostname or "")
        if blocked:
            return None, blocked, 0
        t = timeout_s()
        r = _http.request("POST", url, body=body, headers=headers, redirect=False, preload_content=False,
                          timeout=urllib3.Timeout(connect=min(5.0, t), read=t))
        try:
            r.read(4096, decode_content=False)  # the answer's body is not used: read a little, then let go
        finally:
            r.release_conn()
        return r.status, None, int((time.perf_counter() - start) * 1000)
    except urllib3.exceptions.TimeoutError:
        return None, "timeout", int((time.perf_counter() - start) * 1000)
    except Exception as e:  # connection refused, DNS, TLS...
        return None, type(e).__name__, int((time.perf_counter() - start) * 1000)


def headers_for(d: WebhookDelivery, body: bytes, secret: str, attempt: int) -> dict:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT,
            "X-Webhook-Signature": logic.sign(body, secret), "X-Webhook-Id": d.event_id,
            "X-Webhook-Timestamp": str(int(time.time())), "X-Webhook-Event": d.event,
            "X-Webhook-Delivery": d.delivery_id, "X-Webhook-Attempt": str(attempt)}


# --- one attempt -------------------------------------------------------------------------------------------

def _finish(d: WebhookDelivery, attempt: int, status: str, now: int, code, error, ms, next_at: int | None):
    actions = [WebhookDelivery.status.set(status), WebhookDelivery.last_status_code.set(code),
               WebhookDelivery.last_error.set(error), WebhookDelivery.last_duration_ms.set(ms)]
    if status == SUCCEEDED:
        actions.append(WebhookDelivery.delivered_at.set(now))
    if next_at is None:
        actions += [WebhookDelivery.gsi2pk.remove(), WebhookDelivery.gsi2sk.remove()]
    else:
        g2pk, g2sk = _due_keys(d.delivery_id, next_at)
        actions += [WebhookDelivery.next_attempt_at.set(next_at), WebhookDelivery.gsi2pk.set(g2pk),
                    WebhookDelivery.gsi2sk.set(g2sk)]
    d.update(actions=actions, condition=WebhookDelivery.attempts == attempt)


def next_attempt_at(created_at: int, attempt_done: int, now: int) -> int | None:
    """When attempt `attempt_done + 1` runs, or None when it would fall outside the 24 h window."""
    delays = retry_delays()
    delay = delays[min(attempt_done - 1, len(delays) - 1)] * 1000
    at = now + delay
    return at if at <= created_at + retry_window_ms() else None


def process(delivery_id: str, attempt: int) -> str:
    """Handle one queue message. Returns what happened (for logs and tests); raises only on storage/queue errors
    (the batch then comes back after the visibility timeout)."""
    d = get(delivery_id, consistent=True)
    if d is None or d.status in FINAL:
        return "final"
    if attempt != d.attempts + 1:
        return "stale"
    now = now_ms()
    if d.next_attempt_at and d.next_attempt_at > now + 1000:  # a hop of a long wait
        enqueue([(delivery_id, attempt)], delay_s=(d.next_attempt_at - now + 999) // 1000)
        return "hop"
    try:
        d.update(actions=[WebhookDelivery.attempts.set(attempt), WebhookDelivery.last_attempt_at.set(now)],
                 condition=(WebhookDelivery.attempts == attempt - 1) & WebhookDelivery.status.is_in(PENDING, RETRYING))
    except UpdateError as e:
        if not is_condition_failure(e):
            raise  # throttling or an outage: the batch comes back after the visibility timeout
        return "stale"  # another worker claimed this attempt
    k = keys.by_pk(d.key_pk)
    secret = keys.webhook_secret(k) if k is not None else None
    if secret is None:
        _finish(d, attempt, FAILED, now, None, "API key revoked", 0, None)
        return FAILED
    body = d.body.encode()
    code, error, ms = post(d.url, body, headers_for(d, body, secret, attempt))
    done = now_ms()
    if code is not None and 200 <= code < 300:
        _finish(d, attempt, SUCCEEDED, done, code, None, ms, None)
        logger.info("webhook delivered", extra={"deliveryId": delivery_id, "attempt": attempt, "status": code})
        return SUCCEEDED
    if error is None:
        error = f"HTTP {code}"
    at = next_attempt_at(d.created_at, attempt, done)
    _finish(d, attempt, RETRYING if at else FAILED, done, code, error[:200], ms, at)
    logger.info("webhook attempt failed", extra={"deliveryId": delivery_id, "attempt": attempt, "status": code,
                                                 "error": error[:200], "final": at is None})
    if at is None:
        return FAILED
    try:
        enqueue([(delivery_id, attempt + 1)], delay_s=(at - done + 999) // 1000)
    except Exception:
        logger.exception("webhook retry enqueue failed; the sweep re-sends it", extra={"deliveryId": delivery_id})
    return RETRYING


def _message(m) -> tuple[str, int] | None:
    data = message_body(m) or {}
    try:
        return str(data["delivery_id"]), int(data["attempt"])
    except (TypeError, ValueError, KeyError):
        logger.warning("malformed webhook queue message dropped")
        return None


def on_webhook_messages(messages: list) -> list[str]:
    """SQS batch of the webhooks queue: each message is one attempt, run in parallel (a batch of 10 slow
    receivers still ends within one timeout). Raises after the batch if any message hit a storage or queue
    error, so SQS redelivers the batch (finished ones are recognised and skipped)."""
    # a message SQS delivered twice into one batch is one job; across batches the conditional claim in process()
    # makes a duplicate "stale"
    jobs = list(dict.fromkeys(j for j in (_message(m) for m in messages) if j is not None))
    if not jobs:
        return []

    def run(job):
        try:
            return process(*job)
        except Exception as e:
            logger.exception("webhook message failed", extra={"deliveryId": job[0]})
            return e

    with ThreadPoolExecutor(max_workers=min(10, len(jobs))) as pool:
        results = list(pool.map(run, jobs))
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        raise RuntimeError(f"{len(errors)} webhook messages failed") from errors[0]
    return results


# --- dispatch of an event -------------------------------------------------------------------------------

def dispatch_event(item: WebhookEvent) -> None:
    deliveries = [create_delivery(item, t) for t in json.loads(item.targets)]
    enqueue([(d.delivery_id, d.attempts + 1) for d in deliveries if d is not None and d.attempts == 0
                      and d.status == PENDING])
    item.update(actions=[WebhookEvent.dispatched_at.set(now_ms()), WebhookEvent.gsi2pk.remove(),
                         WebhookEvent.gsi2sk.remove()])


# --- the sweep ---------------------------------------------------------------------------------------------

def sweep(now: int | None = None, grace_ms: int = SWEEP_GRACE_MS, limit: int = 200) -> dict:
    """Run every few minutes (a schedule): dispatch events whose dispatch did not finish and re-enqueue deliveries
    whose message was lost. Duplicates are harmless (attempt claims)."""
    now = now or now_ms()
    out = {"events": 0, "deliveries": 0, "expired": 0}
    for ev in models.undispatched(now - 60_000, limit):
        try:
            dispatch_event(ev)
            out["events"] += 1
        except Exception:
            logger.exception("sweep: event dispatch failed", extra={"eventId": ev.event_id})
    todo = []
    for shard in range(SHARDS):
        for d in WebhookDelivery.due.query(f"WHDUE#{shard}", WebhookDelivery.gsi2sk < f"{now - grace_ms:013d}",
                                           limit=limit):
            if d.status in FINAL:
                continue
            if now > d.created_at + retry_window_ms() + grace_ms:
                try:
                    _finish(d, d.attempts, FAILED, now, d.last_status_code, d.last_error or "expired", 0, None)
                    out["expired"] += 1
                except UpdateError:
                    pass
                continue
            todo.append((d.delivery_id, d.attempts + 1))
    enqueue(todo)
    out["deliveries"] = len(todo)
    return out

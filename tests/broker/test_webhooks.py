"""Webhooks: signed deliveries through the SQS queue and the app's queue handler (invoked as the local stack's
pump does), the guide's Node.js verifier, fan-out up the hierarchy, retries with backoff, the delivery log,
redelivery and the sweep."""
import hashlib
import hmac
import json
import subprocess
import threading
import time

import boto3

from chalicelib.broker import events, webhooks
from chalicelib.broker.scopes import ALL_SCOPES
from tests.broker.conftest import pump_webhooks
from tests.helpers import spec_file

V1 = "/api/v1/broker"

# The guide's verifier, verbatim (test_guide_copy_is_verbatim checks it against the guide when it is present).
VERIFY_WEBHOOK_JS = """const crypto = require('crypto');
function verifyWebhook(rawBody, signature, secret) {
const expected = 'sha256=' + crypto
.createHmac('sha256', secret)
.update(rawBody) // raw string body
.digest('hex');
return crypto.timingSafeEqual(
Buffer.from(signature),
Buffer.from(expected)
);
}
"""
# What the guide's Express handler does with the request: req.body (a Buffer from express.raw) .toString().
HARNESS_JS = """
const fs = require('fs');
const [bodyPath, sig, secret] = process.argv.slice(2);
const reqBody = fs.readFileSync(bodyPath);
let ok;
try { ok = verifyWebhook(reqBody.toString(), sig, secret); } catch (e) { ok = false; }
process.stdout.write(JSON.stringify(ok));
"""


def node_verify(tmp_path, body: bytes, signature: str, secret: str) -> bool:
    script = tmp_path / "verify.js"
    script.write_text(VERIFY_WEBHOOK_JS + HARNESS_JS)
    body_file = tmp_path / f"body-{hashlib.sha1(body).hexdigest()}.bin"
    body_file.write_bytes(body)
    out = subprocess.run(["node", str(script), str(body_file), signature, secret], capture_output=True, text=True,
                         timeout=30, check=True)
    return json.loads(out.stdout)


def test_guide_copy_is_verbatim():
    guide = spec_file("seed-platform-guide.txt").read_text(encoding="utf-8")
    assert VERIFY_WEBHOOK_JS.strip() in guide


def test_delivery_is_signed_and_the_guides_node_verifier_accepts_it(world, receiver, tmp_path):
    api = world.api
    a = world.broker(credit=100, webhook_url=receiver.url + "/hook")
    c = world.client_of(a, "hooked")
    api.post(f"{V1}/clients/hooked/deposit", {"amount": "30.5", "reference": "存款 #1 ✓"}, key=a.key)
    assert pump_webhooks(world.client) == 2
    # deliveries of one batch run in parallel: webhooks promise no order (receivers dedupe on id)
    assert sorted(e["event"] for e in receiver.events()) == ["client.created", "transfer.deposit"]
    now = time.time()
    for req in receiver.requests:
        raw, h = req["body"], req["headers"]
        event = json.loads(raw)
        assert set(event) == {"id", "event", "created_at", "data"} and event["id"].startswith("evt_")
        assert event["created_at"].endswith("Z") and h["Content-Type"] == "application/json"
        assert h["X-Webhook-Id"] == event["id"] and abs(int(h["X-Webhook-Timestamp"]) - now) < 60
        expected = "sha256=" + hmac.new(a.secret.encode(), raw, hashlib.sha256).hexdigest()
        assert h["X-Webhook-Signature"] == expected
        assert node_verify(tmp_path, raw, h["X-Webhook-Signature"], a.secret) is True
    deposit = next(r for r in receiver.requests if json.loads(r["body"])["event"] == "transfer.deposit")
    data = json.loads(deposit["body"])["data"]
    assert data["amount"] == 30.5 and data["reference"] == "存款 #1 ✓" and data["account_id"] == c["account_id"]
    assert "存款".encode() in deposit["body"]  # raw UTF-8 on the wire, signed as sent
    sig = deposit["headers"]["X-Webhook-Signature"]
    tampered = deposit["body"].replace(b'"amount":30.5', b'"amount":305.')
    assert tampered != deposit["body"] and len(tampered) == len(deposit["body"])
    assert node_verify(tmp_path, tampered, sig, a.secret) is False
    assert node_verify(tmp_path, deposit["body"] + b" ", sig, a.secret) is False
    assert node_verify(tmp_path, deposit["body"], sig, a.secret + "x") is False


def test_event_reaches_the_owner_and_every_broker_above_with_a_webhook(world, receiver):
    api = world.api
    root = world.broker(webhook_url=receiver.url + "/root")
    s = world.sub_broker(root, webhook_url=receiver.url + "/s")
    ss = world.sub_broker(s)  # has a key, but no webhook
    world.sub_broker(ss, webhook_url=receiver.url + "/below")  # below the owner: not notified
    world.broker(webhook_url=receiver.url + "/other")  # unrelated broker: not notified
    extra = world.new_key(s, ALL_SCOPES, webhook_url=receiver.url + "/s2")  # a second webhook key of S
    world.client_of(ss, "deep")
    assert pump_webhooks(world.client) == 3
    assert sorted(r["path"] for r in receiver.requests) == ["/root", "/s", "/s2"]
    assert len({r["body"] for r in receiver.requests}) == 1  # the same bytes, the same event id everywhere
    secrets = {"/root": root.secret, "/s": s.secret, "/s2": extra["webhookSecret"]}
    for r in receiver.requests:  # each signed with its own key's secret
        assert r["headers"]["X-Webhook-Signature"] == \
            "sha256=" + hmac.new(secrets[r["path"]].encode(), r["body"], hashlib.sha256).hexdigest()
    assert api.get("/api/broker/webhooks/deliveries", token=ss.token).json["deliveries"] == []


def test_no_listener_writes_nothing(world, moto_db):
    a = world.broker(credit=10)
    world.client_of(a, "quiet")
    world.api.post(f"{V1}/clients/quiet/deposit", {"amount": 1}, key=a.key)
    assert list(events.WebhookEvent.scan(events.WebhookEvent.pk.startswith("WHEVT#"))) == []
    sqs = boto3.client("sqs", region_name="us-east-1")
    assert sqs.receive_message(QueueUrl=moto_db.queues["webhooks"]).get("Messages", []) == []


def _delivery(world, token, n=0):
    return world.api.get("/api/broker/webhooks/deliveries", token=token).json["deliveries"][n]


class FakeClock:
    """webhooks' clock (now_ms), moved by the test. Retries are enqueued with no SQS delay; the delay each one
    asked for is recorded instead, so the backoff is checked exactly and no test waits on the wall clock."""

    def __init__(self, monkeypatch):
        self.now = int(time.time() * 1000)
        self.delays: list[tuple[list, int]] = []
        real_enqueue = webhooks.enqueue

        def enqueue(items, delay_s=0):
            self.delays.append((list(items), delay_s))
            real_enqueue(items, 0)

        monkeypatch.setattr(webhooks, "now_ms", lambda: self.now)
        monkeypatch.setattr(webhooks, "enqueue", enqueue)

    def advance(self, ms: int) -> None:
        self.now += ms


def test_retries_with_backoff_until_2xx(world, receiver, monkeypatch):
    monkeypatch.setenv("WEBHOOK_RETRY_DELAYS", "1,2")
    clock = FakeClock(monkeypatch)
    pump_once = lambda c: pump_webhooks(c, max_rounds=1)  # noqa: E731  (one receive: what is visible now)
    a = world.broker(webhook_url=receiver.url + "/h")
    receiver.script = [500, 503]
    world.client_of(a, "r1")
    assert pump_once(world.client) == 1
    d = _delivery(world, a.token)
    assert d["status"] == "retrying" and d["attempts"] == 1 and d["lastStatusCode"] == 500
    assert d["lastAttemptAt"] == clock.now and d["nextAttemptAt"] == clock.now + 1000  # first delay: 1 s
    assert clock.delays[-1] == ([(d["id"], 2)], 1)  # attempt 2, SQS DelaySeconds 1
    clock.advance(1000)
    assert pump_once(world.client) == 1
    d = _delivery(world, a.token)
    assert d["status"] == "retrying" and d["attempts"] == 2 and d["lastError"] == "HTTP 503"
    assert d["nextAttemptAt"] == clock.now + 2000 and clock.delays[-1] == ([(d["id"], 3)], 2)  # second: 2 s
    clock.advance(500)  # the message came early (SQS delays are not exact): no POST, it waits again
    assert pump_once(world.client) == 1 and len(receiver.requests) == 2
    assert clock.delays[-1] == ([(d["id"], 3)], 2) and _delivery(world, a.token)["attempts"] == 2
    clock.advance(1500)
    assert pump_once(world.client) == 1
    d = _delivery(world, a.token)
    assert d["status"] == "succeeded" and d["attempts"] == 3 and d["deliveredAt"] == clock.now
    assert d["nextAttemptAt"] is None
    assert [r["headers"]["X-Webhook-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r["body"] for r in receiver.requests}) == 1
    assert len({r["headers"]["X-Webhook-Id"] for r in receiver.requests}) == 1  # receivers dedupe on it


def test_gives_up_after_the_retry_window(world, receiver, monkeypatch):
    """Retries every 1 s within a 3 s window, on the fake clock: attempts at +0, +1, +2 and +3 s; the next would
    fall outside the window, so the fourth failure is final and nothing is sent again."""
    monkeypatch.setenv("WEBHOOK_RETRY_DELAYS", "1")
    monkeypatch.setenv("WEBHOOK_RETRY_WINDOW_S", "3")
    clock = FakeClock(monkeypatch)
    a = world.broker(webhook_url=receiver.url + "/h")
    receiver.script = [500] * 50
    world.client_of(a, "never")
    for n in range(1, 5):
        assert pump_webhooks(world.client, max_rounds=1) == 1
        d = _delivery(world, a.token)
        assert d["attempts"] == n and len(receiver.requests) == n
        if n < 4:
            assert d["status"] == "retrying" and d["nextAttemptAt"] == clock.now + 1000
            clock.advance(1000)
    assert d["status"] == "failed" and d["nextAttemptAt"] is None
    assert len(clock.delays) == 1 + 3  # the first delivery and three retries; none after the final failure
    clock.advance(60_000)
    assert pump_webhooks(world.client) == 0 and len(receiver.requests) == 4


def test_schedule_covers_24_hours():
    delays = webhooks.DEFAULT_DELAYS_S
    assert all(0 < d for d in delays) and list(delays) == sorted(delays)
    total = sum(delays)
    assert 23 * 3600 < total <= 24 * 3600  # the last retry is made within the 24 h window
    created = 0
    at, n = created, 1
    while True:
        nxt = webhooks.next_attempt_at(created, n, at)
        if nxt is None:
            break
        at, n = nxt, n + 1
    assert n == len(delays) + 1 and at == total * 1000


def test_timeout_is_a_failure_and_retried(world, receiver, monkeypatch):
    """The receiver answers after 2 s; the configured timeout is 0.5 s. Checked without the wall clock: the read
    timeout handed to urllib3, the attempt's own measured duration (server side) and its outcome."""
    monkeypatch.setenv("WEBHOOK_TIMEOUT_S", "0.5")
    timeouts = []
    real_request = webhooks._http.request

    def request(*args, **kw):
        timeouts.append(kw.get("timeout"))
        return real_request(*args, **kw)

    monkeypatch.setattr(webhooks._http, "request", request)
    a = world.broker(webhook_url=receiver.url + "/slow")
    receiver.delay = 2.0
    world.client_of(a, "slowpoke")
    pump_webhooks(world.client)
    assert [t.read_timeout for t in timeouts] == [0.5] and len(receiver.requests) == 1
    d = _delivery(world, a.token)
    assert d["status"] == "retrying" and d["lastError"] == "timeout" and d["lastStatusCode"] is None
    assert d["lastDurationMs"] >= 450  # it did wait for the timeout (a 2 s wait would have been a 200)


def test_redirect_is_not_followed(world, receiver):
    a = world.broker(webhook_url=receiver.url + "/moved")
    receiver.script = [302]
    world.client_of(a, "redir")
    pump_webhooks(world.client)
    d = _delivery(world, a.token)
    assert d["status"] == "retrying" and d["lastStatusCode"] == 302 and len(receiver.requests) == 1


def test_revoked_key_gets_no_more_deliveries(world, receiver):
    a = world.broker(webhook_url=receiver.url + "/h")
    world.client_of(a, "x")
    world.api.delete(f"/api/broker/api-keys/{a.key_id}", token=a.token)
    pump_webhooks(world.client)
    assert receiver.requests == []
    d = _delivery(world, a.token)
    assert d["status"] == "failed" and d["lastError"] == "API key revoked"


def test_delivery_log_and_redelivery(world, receiver):
    api = world.api
    a = world.broker(credit=10, webhook_url=receiver.url + "/h")
    b = world.broker(webhook_url=receiver.url + "/b")
    world.client_of(a, "logme")
    api.post(f"{V1}/clients/logme/deposit", {"amount": 1}, key=a.key)
    pump_webhooks(world.client)
    log = api.get("/api/broker/webhooks/deliveries", token=a.token).json
    # newest first; the two events may share a millisecond, so only the set is exact
    assert sorted(d["event"] for d in log["deliveries"]) == ["client.created", "transfer.deposit"]
    assert all(d["status"] == "succeeded" and "payload" not in d for d in log["deliveries"])
    first = next(d for d in log["deliveries"] if d["event"] == "client.created")
    one = api.get(f"/api/broker/webhooks/deliveries/{first['id']}", token=a.token).json
    assert one["payload"]["event"] == "client.created" and one["payload"]["id"] == first["eventId"]
    assert api.get("/api/broker/webhooks/deliveries?status=succeeded&event=client.created",
                   token=a.token).json["deliveries"][0]["id"] == first["id"]
    page = api.get("/api/broker/webhooks/deliveries?limit=1", token=a.token).json
    assert len(page["deliveries"]) == 1 and page["nextCursor"]
    # another broker: not its deliveries
    assert api.get("/api/broker/webhooks/deliveries", token=b.token).json["deliveries"] == []
    assert api.get(f"/api/broker/webhooks/deliveries/{first['id']}", token=b.token).status == 404
    assert api.post(f"/api/broker/webhooks/deliveries/{first['id']}/redeliver", token=b.token).status == 404
    # redelivery: a new delivery of the same event, same bytes, signed again
    r = api.post(f"/api/broker/webhooks/deliveries/{first['id']}/redeliver", token=a.token)
    assert r.status == 202 and r.json["redeliveryOf"] == first["id"] and r.json["id"] != first["id"]
    pump_webhooks(world.client)
    original = next(q for q in receiver.requests[:2] if json.loads(q["body"])["event"] == "client.created")
    assert len(receiver.requests) == 3 and receiver.requests[2]["body"] == original["body"]
    assert receiver.requests[2]["headers"]["X-Webhook-Delivery"] == r.json["id"]
    world.api.delete(f"/api/broker/api-keys/{a.key_id}", token=a.token)
    gone = api.post(f"/api/broker/webhooks/deliveries/{first['id']}/redeliver", token=a.token)
    assert gone.status == 409 and gone.json["code"] == "API_KEY_REVOKED"


def test_duplicate_messages_make_one_attempt(world, receiver, moto_db):
    from app import app
    from local.lambdas import Invoker, QueuePump
    a = world.broker(webhook_url=receiver.url + "/h")
    world.client_of(a, "dup")
    sqs = boto3.client("sqs", region_name="us-east-1")
    msgs = sqs.receive_message(QueueUrl=moto_db.queues["webhooks"], MaxNumberOfMessages=10)["Messages"]
    assert len(msgs) == 1
    pump = QueuePump.__new__(QueuePump)
    pump.arn, pump.region = "arn:aws:sqs:us-east-1:123456789012:webhooks", "us-east-1"
    Invoker(app)("on_webhook_queue", {"Records": [pump.record(m) for m in msgs * 3]})  # the same message 3 times
    Invoker(app)("on_webhook_queue", {"Records": [pump.record(msgs[0])]})  # and once more later
    assert len(receiver.requests) == 1


def test_two_workers_racing_one_attempt_make_one_post_on_dynamodb_local(ddb_world, receiver, monkeypatch):
    """Two Lambda workers handle the same attempt at once (SQS at-least-once; two batches, not one). Both read the
    delivery before either claims it (a barrier after the read), so only the conditional attempt claim on
    DynamoDB Local (AWS's own engine) can keep them apart: one POSTs, the other is stale."""
    from tests.helpers import run_together
    a = ddb_world.broker(webhook_url=receiver.url + "/h")
    ddb_world.client_of(a, "dup")
    d = webhooks.WebhookDelivery.scan(webhooks.WebhookDelivery.pk.startswith("WHD#")).next()
    assert d.attempts == 0
    read_both = threading.Barrier(2, timeout=30)
    real_get = webhooks.get

    def get_then_wait(delivery_id, consistent=False):
        out = real_get(delivery_id, consistent=consistent)
        read_both.wait()  # neither claims before both have read attempts == 0
        return out

    monkeypatch.setattr(webhooks, "get", get_then_wait)
    outcomes = run_together([lambda: webhooks.process(d.delivery_id, 1)] * 2, timeout=60)
    assert sorted(outcomes) == ["stale", webhooks.SUCCEEDED]
    assert len(receiver.requests) == 1
    monkeypatch.setattr(webhooks, "get", real_get)
    after = webhooks.get(d.delivery_id, consistent=True)
    assert (after.attempts, after.status) == (1, webhooks.SUCCEEDED)


def test_sweep_recovers_lost_messages_and_undispatched_events(world, receiver, moto_db, monkeypatch):
    a = world.broker(credit=10, webhook_url=receiver.url + "/h")
    world.client_of(a, "lost")
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.purge_queue(QueueUrl=moto_db.queues["webhooks"])  # the message is lost
    assert pump_webhooks(world.client) == 0
    assert webhooks.sweep()["deliveries"] == 0  # not overdue yet
    out = webhooks.sweep(now=int(time.time() * 1000) + webhooks.SWEEP_GRACE_MS + 1000)
    assert out["deliveries"] == 1
    assert pump_webhooks(world.client) == 1 and len(receiver.requests) == 1
    # the queue is down while an event is made: it stays in the outbox, the sweep dispatches it
    monkeypatch.delenv("WEBHOOKS_QUEUE_URL")
    r = world.api.post(f"{V1}/clients/lost/deposit", {"amount": 1}, key=a.key)
    assert r.status == 201  # the deposit itself is not affected
    monkeypatch.setenv("WEBHOOKS_QUEUE_URL", moto_db.queues["webhooks"])
    assert len(list(events.undispatched(int(time.time() * 1000) + 1))) == 1
    later = int(time.time() * 1000) + webhooks.SWEEP_GRACE_MS + 61_000
    out = webhooks.sweep(now=later)
    assert out["events"] == 1 and out["deliveries"] >= 1  # both paths re-send; the attempt claim dedupes
    pump_webhooks(world.client)
    # deliveries of one batch run in parallel: webhooks promise no order (receivers dedupe on id)
    assert sorted(e["event"] for e in receiver.events()) == ["client.created", "transfer.deposit"]
    assert list(events.undispatched(later)) == []
    assert webhooks.sweep(now=later + 1)["deliveries"] == 0


def test_long_waits_travel_as_hops(world, receiver):
    a = world.broker(webhook_url=receiver.url + "/h")
    world.client_of(a, "hop")
    d = webhooks.WebhookDelivery.scan(webhooks.WebhookDelivery.pk.startswith("WHD#")).next()
    future = int(time.time() * 1000) + 3 * 3600 * 1000
    d.update(actions=[webhooks.WebhookDelivery.next_attempt_at.set(future)])
    assert webhooks.process(d.delivery_id, 1) == "hop"
    assert receiver.requests == [] and webhooks.get(d.delivery_id).attempts == 0
    assert webhooks.process(d.delivery_id, 5) == "stale"

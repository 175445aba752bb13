"""Fixtures of the broker API tests: a small world of brokers, keys and clients over the real app."""
import http.server
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import boto3
import pytest

from chalicelib.broker.scopes import ALL_SCOPES
from tests.helpers import Api


@dataclass
class Broker:
    token: str
    uid: str
    key: str = ""
    key_id: str = ""
    secret: str | None = None
    extra: dict = field(default_factory=dict)


class World:
    def __init__(self, client):
        self.api = Api(client)
        self.client = client
        self.admin = self.api.admin_token()

    def broker(self, credit=None, scopes=ALL_SCOPES, webhook_url=None) -> Broker:
        token, uid = self.api.create_broker(self.admin)
        b = Broker(token, uid)
        if credit:
            self.api.credit(self.admin, uid, credit)
        if scopes:
            k = self.new_key(b, scopes, webhook_url)
            b.key, b.key_id, b.secret = k["key"], k["id"], k["webhookSecret"]
        return b

    def new_key(self, b: Broker, scopes=ALL_SCOPES, webhook_url=None, token=None) -> dict:
        body = {"name": "k" + uuid.uuid4().hex[:6], "scopes": list(scopes)}
        if webhook_url:
            body["webhookUrl"] = webhook_url
        r = self.api.post("/api/broker/api-keys", body, token=token or b.token)
        assert r.status == 201, r
        return r.json

    def login(self, username, password="password-123") -> str:
        r = self.api.post("/api/auth/login", {"username": username, "password": password})
        assert r.status == 200, r
        return r.json["token"]

    def client_of(self, b: Broker, user_id=None, **extra) -> dict:
        user_id = user_id or "usr_" + uuid.uuid4().hex[:8]
        r = self.api.post("/api/v1/broker/clients", {"user_id": user_id, **extra}, key=b.key)
        assert r.status == 201, r
        return r.json

    def sub_broker(self, parent: Broker, key=None, scopes=ALL_SCOPES, webhook_url=None, credit=None) -> Broker:
        username = "sb_" + uuid.uuid4().hex[:8]
        r = self.api.post("/api/v1/broker/sub-brokers", {"username": username, "password": "password-123"},
                          key=key or parent.key)
        assert r.status == 201, r
        b = Broker(self.login(username), r.json["user_id"], extra={"username": username})
        if credit:
            self.api.credit(self.admin, b.uid, credit)
        if scopes:
            k = self.new_key(b, scopes, webhook_url)
            b.key, b.key_id, b.secret = k["key"], k["id"], k["webhookSecret"]
        return b

    def balance(self, uid) -> Decimal:
        from chalicelib.accounts import store
        return store.get(uid, consistent=True).balance


@pytest.fixture
def world(client):
    return World(client)


@pytest.fixture
def ddb_world(ddb_client):
    return World(ddb_client)


# --- an HTTP receiver for webhooks --------------------------------------------------------------------------

class Receiver:
    """Records every POST (raw body bytes and headers); answers with the next status of `script` (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[int] = []
        self.delay = 0.0  # seconds before answering (timeouts)
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append({"path": self.path, "body": raw, "headers": dict(self.headers)})
                    code = outer.script.pop(0) if outer.script else 200
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, path=None):
        return [json.loads(r["body"]) for r in self.requests if path is None or r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def pump_webhooks(app_or_client, max_rounds=20) -> int:
    """Do what the local stack's SQS pump does for the webhooks queue: receive, build the Lambda SQS event,
    invoke the app's `on_webhook_queue` handler, delete on success. Returns how many messages were handled.
    Only messages visible now are taken (delayed retries stay in the queue)."""
    import os

    from local.lambdas import Invoker, QueuePump
    from app import app
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = os.environ["WEBHOOKS_QUEUE_URL"]
    invoker = Invoker(app)
    pump = QueuePump.__new__(QueuePump)  # only its record() shaping is used
    pump.arn, pump.region = "arn:aws:sqs:us-east-1:123456789012:webhooks", "us-east-1"
    handled = 0
    for _ in range(max_rounds):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                   MessageAttributeNames=["All"]).get("Messages", [])
        if not msgs:
            break
        invoker("on_webhook_queue", {"Records": [pump.record(m) for m in msgs]})
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(msgs)])
        handled += len(msgs)
    return handled

"""End to end on the local stack (`python -m local.stack`, as `make run` starts it): a webhook delivery made by the
stack's own SQS pump and queue handler is captured by a receiver here, and the guide's Node.js verifyWebhook
accepts its signature unchanged and rejects a tampered body."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.broker.test_webhooks import node_verify

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.timeout(240)  # node (the guide's verifier) is installed by `make test`, like DynamoDB Local
SCRUB = ("TABLE_PREFIX", "DYNAMODB_ENDPOINT", "SQS_ENDPOINT", "MAIN_TABLE", "TICKS_TABLE", "CONNECTIONS_TABLE",
         "BROADCAST_QUEUE_URL", "MATCHING_QUEUE_URL", "WEBHOOKS_QUEUE_URL", "AWS_ENDPOINT_URL", "AWS_PROFILE")


@pytest.fixture
def local_stack(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SCRUB and not k.startswith("AWS_ENDPOINT_URL")}
    env.update({"PORT": "0", "FEED": "off", "DB": "moto", "STACK_INFO_PATH": str(tmp_path / "stack.json"),
                "CREDS_PATH": str(tmp_path / "creds.json"), "ADMIN_PASSWORD": "Local-Admin-Pass-1"})
    log = open(tmp_path / "stack.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "creds.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"local stack did not come up:\n{log.read()[-3000:]}")
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go; give the writer a moment to close it
        yield json.loads((tmp_path / "creds.json").read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait(receiver, n, timeout=30):
    deadline = time.monotonic() + timeout
    while len(receiver.requests) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return receiver.requests


def test_delivery_from_the_local_stack_verifies_with_the_guides_node_function(local_stack, receiver, tmp_path):
    base, broker = local_stack["baseUrl"], local_stack["broker"]
    r = requests.post(f"{base}/api/broker/api-keys", headers={"Authorization": f"Bearer {broker['token']}"},
                      json={"name": "e2e", "scopes": ["clients:create", "transfer:deposit"],
                            "webhookUrl": receiver.url + "/webhook"}, timeout=30)
    assert r.status_code == 201, r.text
    key, secret = r.json()["key"], r.json()["webhookSecret"]
    h = {"X-API-Key": key}
    assert requests.post(f"{base}/api/v1/broker/clients", json={"user_id": "e2e_user"}, headers=h,
                         timeout=30).status_code == 201
    assert requests.post(f"{base}/api/v1/broker/clients/e2e_user/deposit", headers=h, timeout=30,
                         json={"amount": 12.34, "reference": "入金 e2e"}).status_code == 201
    got = _wait(receiver, 2)
    assert sorted(json.loads(x["body"])["event"] for x in got) == ["client.created", "transfer.deposit"]
    for x in got:
        sig = x["headers"]["X-Webhook-Signature"]
        assert sig.startswith("sha256=") and x["headers"]["X-Webhook-Id"] == json.loads(x["body"])["id"]
        assert node_verify(tmp_path, x["body"], sig, secret) is True
        tampered = x["body"].replace(b'"event":"', b'"event":"x', 1)[:-1]  # changed, same length
        assert len(tampered) == len(x["body"]) and tampered != x["body"]
        assert node_verify(tmp_path, tampered, sig, secret) is False
    deliveries = requests.get(f"{base}/api/broker/webhooks/deliveries", timeout=30,
                              headers={"Authorization": f"Bearer {broker['token']}"}).json()["deliveries"]
    assert sorted(d["status"] for d in deliveries) == ["succeeded", "succeeded"]

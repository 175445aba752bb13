"""End to end on the local stack (`python -m local.stack`, as `make run` starts it): a webhook delivery made by the
stack's own SQS pump and queue handler is captured by a receiver here, and the guide's Node.js verifyWebhook
accepts its signature unchanged and rejects a tampered body."""
import json
import time

import pytest
import requests

from tests.broker.test_webhooks import node_verify
from tests.fixtures.local_stack import SCRUB, local_stack as start_local_stack

pytestmark = pytest.mark.timeout(240)  # node (the guide's verifier) is installed by `make test`, like DynamoDB Local


@pytest.fixture
def local_stack(tmp_path):
    with start_local_stack(tmp_path, unset=SCRUB, env={"FEED": "off", "ADMIN_PASSWORD": "Local-Admin-Pass-1"}) as s:
        yield s.creds


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

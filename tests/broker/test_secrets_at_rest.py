"""No API key, webhook secret, session token or password is stored in plain text: a scan of every item of every
table (and every message body sent to any queue, and the logs) finds none of the secrets issued during a busy
scenario."""
import json

import pytest

from chalicelib.broker.scopes import ALL_SCOPES
from tests.broker.conftest import pump_webhooks
from tests.fixtures import record_calls

V1 = "/api/v1/broker"


def all_items(stack) -> str:
    ddb = stack.dynamodb()
    chunks = []
    for table in stack.tables.values():
        kw = {"TableName": table}
        while True:
            page = ddb.scan(**kw)
            chunks += [json.dumps(i, ensure_ascii=False, sort_keys=True) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return "\n".join(chunks)


@pytest.fixture
def sent_to_queues():
    """Every SQS call the scenario makes (any client, any thread), recorded as it is sent: the pump deletes the
    messages afterwards, so reading the queue at the end would find nothing."""
    with record_calls("sqs") as calls:
        yield calls


def queue_bodies(calls) -> list[str]:
    out = []
    for op, params in calls:
        if op == "SendMessage":
            out.append(json.dumps([params.get("MessageBody"), params.get("MessageAttributes")], ensure_ascii=False,
                                  default=str))
        elif op == "SendMessageBatch":
            out += [json.dumps([e.get("MessageBody"), e.get("MessageAttributes")], ensure_ascii=False, default=str)
                    for e in params.get("Entries", [])]
    return out


def test_no_secret_in_plain_text_anywhere(world, moto_db, receiver, capfd, sent_to_queues):
    import os
    api = world.api
    secrets = {"admin password": os.environ["ADMIN_PASSWORD"], "admin session": world.admin}
    a = world.broker(credit=100, webhook_url=receiver.url + "/a")
    secrets.update({"broker session": a.token, "broker key": a.key, "broker webhook secret": a.secret,
                    "broker password": "password-123"})
    revoked = world.new_key(a, ["balance:read"], webhook_url=receiver.url + "/r")
    api.delete(f"/api/broker/api-keys/{revoked['id']}", token=a.token)
    secrets.update({"revoked key": revoked["key"], "revoked webhook secret": revoked["webhookSecret"]})
    # a key created with an Idempotency-Key header: the response (key + secret) must not be stored for replay
    r = api.post("/api/broker/api-keys", {"name": "idem", "scopes": list(ALL_SCOPES),
                                          "webhookUrl": receiver.url + "/i"},
                 token=a.token, headers={"Idempotency-Key": "key-create-1"})
    assert r.status == 201
    secrets.update({"idempotent key": r.json["key"], "idempotent webhook secret": r.json["webhookSecret"]})
    admin_key = world.new_key(None, list(ALL_SCOPES), token=world.admin)
    secrets["admin key"] = admin_key["key"]
    # clients, sub-brokers and upgrades with passwords, through idempotent POSTs (their responses are stored)
    c = api.post(f"{V1}/clients", {"user_id": "secretive", "password": "Client-Pass-7781"}, key=a.key,
                 headers={"Idempotency-Key": "c-1"}).json
    secrets["client password"] = "Client-Pass-7781"
    secrets["client session"] = world.login(c["username"], "Client-Pass-7781")
    sb = api.post(f"{V1}/sub-brokers", {"username": "sub_secret", "password": "Sub-Pass-99183"}, key=a.key,
                  headers={"Idempotency-Key": "sb-1"})
    assert sb.status == 201
    secrets["sub-broker password"] = "Sub-Pass-99183"
    secrets["sub-broker session"] = world.login("sub_secret", "Sub-Pass-99183")
    api.post(f"{V1}/clients/secretive/deposit", {"amount": 5}, key=a.key, headers={"Idempotency-Key": "d-1"})
    up = api.post(f"{V1}/clients/secretive/upgrade-to-broker", {"password": "Upgraded-Pass-4412"}, key=a.key,
                  headers={"Idempotency-Key": "u-1"})
    assert up.status == 200
    secrets["upgrade password"] = "Upgraded-Pass-4412"
    secrets["upgraded session"] = world.login(c["username"], "Upgraded-Pass-4412")
    _, uid = api.register(password="Widget-Pass-5531", brokerUid=a.uid)
    secrets["widget user password"] = "Widget-Pass-5531"
    pump_webhooks(world.client)
    assert len(receiver.requests) >= 3  # webhooks were signed and sent with the secrets in between

    stored = all_items(moto_db)
    assert c["account_id"] in stored and "secretive" in stored  # the scan does see the data
    for what, secret in secrets.items():
        assert secret, what
        body = secret.split("_", 1)[1] if secret.startswith(("bk_", "whsec_", "st_")) else secret
        assert secret not in stored and body not in stored, f"{what} is stored in plain text"

    bodies = queue_bodies(sent_to_queues)
    queued = "\n".join(bodies)
    assert len(bodies) >= 3 and queued.count("delivery_id") >= 3  # the webhook deliveries were queued, seen here
    logs = "".join(capfd.readouterr())
    for what, secret in secrets.items():
        body = secret.split("_", 1)[1] if secret.startswith(("bk_", "whsec_", "st_")) else secret
        assert secret not in queued and body not in queued, f"{what} in a queue message"
        assert secret not in logs, f"{what} in the logs"

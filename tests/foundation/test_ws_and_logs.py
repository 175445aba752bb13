"""WebSocket protocol (handler level; the gateway itself is tested in tests/local) and log hygiene."""
import io
import json
import logging
from decimal import Decimal

import pytest

from chalicelib.common.logging import logger
from chalicelib.realtime import handlers, store
from tests.helpers import Api


def test_ping_auth_subscribe(client, moto_db):
    api = Api(client)
    token, uid = api.register()
    handlers.on_connect("c1")
    pong = handlers.handle("c1", '{"type":"ping"}')
    assert pong["type"] == "pong" and isinstance(pong["ts"], int)
    assert handlers.handle("c1", '{"type":"subscribe","channel":"orders"}')["code"] == "AUTH_REQUIRED"
    assert handlers.handle("c1", '{"type":"auth","token":"bad"}')["code"] == "SESSION_INVALID"
    assert handlers.handle("c1", json.dumps({"type": "auth", "token": token})) == \
        {"type": "auth", "ok": True, "userId": uid}
    assert handlers.handle("c1", '{"type":"subscribe","channel":"orders"}')["type"] == "subscribed"
    assert store.subscribers(f"orders#{uid}") == ["c1"]
    assert handlers.handle("c1", '{"type":"subscribe","channel":"nope"}')["code"] == "UNKNOWN_CHANNEL"
    assert handlers.handle("c1", "not json")["code"] == "MALFORMED_JSON"
    assert handlers.handle("c1", '{"type":"what"}')["code"] == "UNKNOWN_TYPE"
    handlers.on_disconnect("c1")
    assert store.subscribers(f"orders#{uid}") == [] and store.get_connection("c1") is None


@pytest.fixture
def captured_logs():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_logs_are_json_with_request_id_and_no_secrets(client, captured_logs):
    api = Api(client)
    admin = api.admin_token()
    token, uid = api.register("logged_user", "hunter2-hunter2")
    api.credit(admin, uid, 5)
    api.put("/api/accounts/me/wallet", {"walletAddress": "bad"}, token=token)
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines() if line.strip()]
    http = [line for line in lines if line.get("message") == "http"]
    assert len(http) >= 3 and all(line.get("request_id") and line.get("status") for line in http)
    text = captured_logs.getvalue()
    for secret in (token, admin, "hunter2-hunter2", "admin-pass-123"):
        assert secret not in text


def test_account_channel_is_fed_by_the_main_stream(client, moto_db, monkeypatch):
    """A balance change reaches the owner's `account` subscribers through the main table's stream handler: the
    records are the table's own stream (moto), delivered twice in one batch; what leaves is what the broadcaster
    hands to API Gateway (post_to_connection), captured there."""
    from chalicelib.realtime import broadcaster, private
    from tests.marketdata.conftest import StreamPump
    api = Api(client)
    admin = api.admin_token()
    token, uid = api.register()
    handlers.on_connect("c9")
    handlers.handle("c9", json.dumps({"type": "auth", "token": token}))
    handlers.handle("c9", '{"type":"subscribe","channel":"account"}')
    main_stream = StreamPump(moto_db, "main")
    main_stream.read()  # everything before the credit
    api.credit(admin, uid, "12.5")
    records = main_stream.read()
    mine = [r for r in records if r["dynamodb"].get("Keys", {}).get("pk", {}).get("S") == f"ACCT#{uid}"]
    assert mine and mine[-1]["eventName"] == "MODIFY"
    sent = []
    monkeypatch.setattr(broadcaster, "send", lambda cid, data: sent.append((cid, json.loads(data))) or True)
    assert private.on_main_records(records + records) == len(sent) == 1  # coalesced per item within a batch
    cid, msg = sent[0]
    assert cid == "c9" and msg["type"] == "account"
    assert msg["data"]["userId"] == uid and Decimal(str(msg["data"]["balance"])) == Decimal("12.5")

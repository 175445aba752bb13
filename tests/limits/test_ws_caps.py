"""WebSocket caps: at most WS_MAX_SUBSCRIPTIONS (100) subscriptions per connection and the message size limit, each
answered with the contract's `error` message while the connection keeps working: at the handler (moto) and through
the local stack's gateway with a real client (a 129 KB message reaches the handler instead of closing the socket)."""
import asyncio
import json

import pytest
import websockets

from chalicelib.realtime import handlers, store
from tests.fixtures.local_stack import local_stack


def test_the_101st_subscription_is_refused_and_the_connection_still_works(moto_db, monkeypatch):
    monkeypatch.setitem(handlers._CHANNELS, "probe", lambda msg, user_id: f"probe#{msg.get('n')}")
    handlers.on_connect("c1")
    sub = lambda n: handlers.handle("c1", json.dumps({"type": "subscribe", "channel": "probe", "n": n}))  # noqa: E731
    for n in range(100):
        assert sub(n)["type"] == "subscribed", n
    refused = sub(100)
    assert refused["type"] == "error" and refused["code"] == "TOO_MANY_SUBSCRIPTIONS" and refused["error"], refused
    assert store.subscribers("probe#100") == []
    assert sub(7)["type"] == "subscribed"  # one it already has is not a new one
    assert handlers.handle("c1", '{"type":"ping"}')["type"] == "pong"
    assert handlers.handle("c1", json.dumps({"type": "unsubscribe", "channel": "probe", "n": 0}))["type"] == \
        "unsubscribed"
    assert sub(100)["type"] == "subscribed"  # room again after an unsubscribe
    assert store.subscribers("probe#100") == ["c1"]
    assert handlers.handle("c2", "x" * (129 * 1024))["code"] == "MESSAGE_TOO_LARGE"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with local_stack(tmp_path_factory.mktemp("wscaps"),
                     env={"FEED": "off", "LOG_LEVEL": "WARNING", "WS_MAX_SUBSCRIPTIONS": "3"},
                     unset=("TABLE_PREFIX", "DYNAMODB_ENDPOINT", "MAIN_TABLE", "TICKS_TABLE", "CONNECTIONS_TABLE",
                            "MARKET_TABLE")) as s:
        yield s.creds


async def _ask(ws, msg) -> dict:
    await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if m.get("type") in ("subscribed", "error", "pong"):
            return m


@pytest.mark.timeout(180)
def test_caps_through_the_local_gateway_answer_with_an_error_message(live):
    async def run():
        async with websockets.connect(live["wsUrl"], max_size=2 ** 21) as ws:
            for interval in ("1m", "5m", "15m"):
                assert (await _ask(ws, {"type": "subscribe", "channel": "kline", "symbol": "BTCUSDT",
                                        "interval": interval}))["type"] == "subscribed"
            refused = await _ask(ws, {"type": "subscribe", "channel": "ticker", "symbol": "BTCUSDT"})
            assert refused["type"] == "error" and refused["code"] == "TOO_MANY_SUBSCRIPTIONS", refused
            big = await _ask(ws, json.dumps({"type": "ping", "pad": "x" * (129 * 1024)}))
            assert big["type"] == "error" and big["code"] == "MESSAGE_TOO_LARGE", big
            assert (await _ask(ws, {"type": "ping"}))["type"] == "pong"  # the same connection still works
    asyncio.run(run())

"""Sandbox controls on the real local stack (`python -m local.stack` subprocess: SANDBOX on as in `make run`):
X-Sim-Fault: drop-ws closes the caller's real WebSocket connections through the management API's
delete_connection and leaves another account's open; status and reset over real HTTP; a depth subscribe over a
real socket answers with the snapshot after `subscribed`."""
import asyncio
import json
import uuid

import pytest
import requests
import websockets

from tests.fixtures.local_stack import local_stack

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with local_stack(tmp_path_factory.mktemp("sandboxstack"),
                     env={"FEED": "off", "SEED": "on", "LOG_LEVEL": "WARNING"},
                     unset=("SANDBOX",)) as s:  # the stack's own default: on
        yield s.creds


def call(stack, method, path, token=None, headers=None, **kw):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    h.update(headers or {})
    return requests.request(method, stack["baseUrl"] + path, headers=h, timeout=30, **kw)


def register(stack):
    r = call(stack, "POST", "/api/auth/register",
             json={"username": "sb_" + uuid.uuid4().hex[:10], "password": "password-123"})
    assert r.status_code == 201, r.text
    return r.json()["token"]


async def recv(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def authed(stack, token):
    ws = await websockets.connect(stack["wsUrl"])
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert (await recv(ws))["type"] == "auth"
    return ws


async def closed(ws, timeout=10) -> bool:
    try:
        await asyncio.wait_for(ws.wait_closed(), timeout)
        return True
    except asyncio.TimeoutError:
        return False


def test_drop_ws_closes_only_the_callers_sockets(stack):
    a, b = register(stack), register(stack)

    async def go():
        a1, a2, b1 = await authed(stack, a), await authed(stack, a), await authed(stack, b)
        r = await asyncio.to_thread(call, stack, "GET", "/api/accounts/me", a, {"X-Sim-Fault": "drop-ws"})
        assert r.status_code == 200 and r.headers["X-Sim-Dropped-Connections"] == "2", (r.status_code, r.text)
        assert await closed(a1) and await closed(a2)
        await b1.send(json.dumps({"type": "ping"}))
        assert (await recv(b1))["type"] == "pong"  # the other account's socket is still open
        await b1.close()
    asyncio.run(go())


def test_status_fault_and_reset_over_http(stack):
    token = register(stack)
    r = call(stack, "GET", "/api/symbols", token, {"X-Sim-Fault": "status=429"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "1" and r.json()["code"] == "SIMULATED_FAULT"
    r = call(stack, "POST", "/api/sandbox/reset", token)
    assert r.status_code == 200 and r.json()["epoch"] == 1, r.text
    me = call(stack, "GET", "/api/accounts/me", token).json()
    assert float(me["balance"]) == 10000


def test_depth_subscribe_answers_subscribed_then_snapshot(stack):
    async def go():
        async with websockets.connect(stack["wsUrl"]) as ws:
            await ws.send(json.dumps({"type": "subscribe", "channel": "depth", "symbol": "BTCUSDT"}))
            first, second = await recv(ws), await recv(ws)
            assert first["type"] == "subscribed"
            assert second["type"] == "depth" and second["snapshot"] is True
            assert {"seq", "checksum", "bids", "asks"} <= set(second)
            get = await asyncio.to_thread(call, stack, "GET", "/api/depth?symbol=BTCUSDT")
            assert get.json()["seq"] >= second["seq"]
    asyncio.run(go())

"""The WebSocket stream against a scripted websockets server: typed messages with Decimals, reconnect after the
server drops the connection with auth, cancelOnDisconnect and every subscription sent again, a SESSION_INVALID
auth answer turned into a fresh login, and depth seq/checksum verification (and its absence)."""
import asyncio
import json
from decimal import Decimal

import pytest
import websockets

from simtrade import Stream, depth_checksum

pytestmark = pytest.mark.timeout(30)


class Server:
    def __init__(self, valid_tokens=("good",)):
        self.valid = set(valid_tokens)
        self.received: list[list[dict]] = []  # per connection
        self.conns = []

    async def handler(self, ws):
        got = []
        self.received.append(got)
        self.conns.append(ws)
        async for raw in ws:
            msg = json.loads(raw)
            got.append(msg)
            if msg["type"] == "auth":
                if msg["token"] in self.valid:
                    await ws.send(json.dumps({"type": "auth", "ok": True, "userId": "u1"}))
                else:
                    await ws.send(json.dumps({"type": "error", "code": "SESSION_INVALID",
                                              "error": "Session无效或已过期"}))
            elif msg["type"] == "subscribe":
                await ws.send(json.dumps({"type": "subscribed", "channel": msg["channel"],
                                          "symbol": msg.get("symbol")}))


class FakeClient:
    """What the stream needs of simtrade.Client: token, login(), can_reauthenticate, reauths, symbol()."""

    def __init__(self, url, token):
        self.ws_url, self.token, self.reauths, self.logins = url, token, 0, 0
        self.can_reauthenticate = True

    def login(self):
        self.logins += 1
        self.token = "good"


async def _next(stream, kind, timeout=5):
    async def go():
        async for m in stream:
            if m.type == kind:
                return m
    return await asyncio.wait_for(go(), timeout)


def test_reconnect_resends_auth_cancel_on_disconnect_and_every_subscription():
    async def main():
        srv = Server()
        async with websockets.serve(srv.handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            client = FakeClient(url, "good")
            stream = Stream(client, backoff_base=0.05, yield_control=True)
            await stream.connect()
            await stream.set_cancel_on_disconnect(True, 3000)
            await stream.subscribe("ticker", "XAUUSD")
            await stream.subscribe("orders")
            await _next(stream, "subscribed")
            await asyncio.sleep(0.2)
            await srv.conns[0].send(json.dumps({"type": "ticker", "symbol": "XAUUSD", "price": 2350.125}))
            t = await _next(stream, "ticker")
            assert t.data["price"] == Decimal("2350.125") and isinstance(t.data["price"], Decimal)
            await srv.conns[0].close()  # the server drops us
            await _next(stream, "reconnected")
            await asyncio.sleep(0.3)
            await stream.close()
            return srv, stream
    srv, stream = asyncio.run(main())
    assert stream.connects == 2 and len(srv.received) == 2
    first, second = srv.received
    assert [m["type"] for m in second] == ["auth", "cancelOnDisconnect", "subscribe", "subscribe"]
    assert second[0]["token"] == "good" and second[1] == {"type": "cancelOnDisconnect", "enabled": True,
                                                          "graceMs": 3000}
    assert {json.dumps(m, sort_keys=True) for m in second[2:]} == {
        json.dumps({"type": "subscribe", "channel": "ticker", "symbol": "XAUUSD"}, sort_keys=True),
        json.dumps({"type": "subscribe", "channel": "orders"}, sort_keys=True)}


def test_a_revoked_token_on_reconnect_logs_in_again():
    async def main():
        srv = Server(valid_tokens=("good",))
        async with websockets.serve(srv.handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            client = FakeClient(url, "revoked")
            stream = Stream(client)
            await stream.connect()
            await stream.close()
            return srv, stream, client
    srv, stream, client = asyncio.run(main())
    assert client.logins == 1 and client.reauths == 1 and stream.user_id == "u1"
    assert [m.get("token") for m in srv.received[0]] == ["revoked", "good"]


def _depth(bids, asks, seq=None, checksum=None):
    m = {"type": "depth", "symbol": "XAUUSD", "bids": bids, "asks": asks}
    if seq is not None:
        m["seq"] = seq
    if checksum is not None:
        m["checksum"] = checksum
    return json.dumps(m)


def test_depth_checksum_and_seq_are_verified_and_a_bad_one_resubscribes():
    bids, asks = [[2349.5, 1]], [[2350.1, 0.85]]
    good = depth_checksum([[Decimal("2349.5"), Decimal(1)]], [[Decimal("2350.1"), Decimal("0.85")]], 2, 2)

    async def main():
        srv = Server()
        async with websockets.serve(srv.handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            stream = Stream(url=url, precisions={"XAUUSD": (2, 2)})
            await stream.connect()
            await stream.subscribe("depth", "XAUUSD")
            await _next(stream, "subscribed")
            ws = srv.conns[0]
            await ws.send(_depth(bids, asks))  # no seq / checksum: nothing to verify
            await ws.send(_depth(bids, asks, 1, good))
            await ws.send(_depth(bids, asks, 3, good))  # a jump ahead (a fresh snapshot may skip): accepted
            await ws.send(_depth(bids, asks, 2, good))  # seq going back: stale
            await ws.send(_depth(bids, asks, 9, good + 1))  # corrupted
            got = [await _next(stream, "depth") for _ in range(5)]
            await asyncio.sleep(0.3)
            await stream.close()
            return srv, stream, got
    srv, stream, got = asyncio.run(main())
    assert [m.verified for m in got] == [None, True, True, False, False]
    assert stream.checksum_failures == 2
    sent = [(m["type"], m.get("channel")) for m in srv.received[0]]
    assert sent.count(("unsubscribe", "depth")) == 2 and sent.count(("subscribe", "depth")) == 3

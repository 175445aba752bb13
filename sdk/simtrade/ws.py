"""The WebSocket client: an async iterator of typed messages that survives dropped connections.

    async with Stream(client) as stream:                 # client: a simtrade.Client (token, ws_url)
        await stream.subscribe("ticker", "XAUUSD")
        await stream.subscribe("orders")                 # private: auth is sent first when there is a token
        async for msg in stream:                         # WsMessage: .type, .symbol, .data (Decimals)
            ...

The guide's reconnect rule: the server forgets subscriptions with the connection, so after every reconnect
(backoff with jitter) the stream re-sends `auth` (with the client's current token: a SESSION_INVALID answer
makes the client log in again first) and every subscription, and the `cancelOnDisconnect` setting if one was
asked for. Depth messages carrying `seq` / `checksum` are verified (checksum: simtrade.checksum; seq: +1 per
message on one connection); a mismatch marks the message (`verified=False`), and the stream re-subscribes to
get a fresh snapshot. Without those fields nothing is verified (`verified=None`).
"""
import asyncio
import logging
import random
from decimal import Decimal
from typing import Any, Optional

import websockets
from pydantic import BaseModel, ConfigDict

from simtrade import _json
from simtrade.checksum import depth_checksum

log = logging.getLogger("simtrade.ws")


class WsMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    symbol: Optional[str] = None
    channel: Optional[str] = None
    code: Optional[str] = None
    verified: Optional[bool] = None  # depth only: True/False when seq/checksum were sent and checked

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Stream:
    def __init__(self, client=None, *, url: str | None = None, token: str | None = None,
                 precisions: dict[str, tuple[int, int]] | None = None, backoff_base: float = 0.5,
                 backoff_cap: float = 10.0, ping_interval: float | None = 20.0, yield_control: bool = False):
        self.client = client
        self.url = url or (client.ws_url if client else "ws://127.0.0.1:3001/ws")
        self._token = token
        self.precisions = dict(precisions or {})
        self.backoff_base, self.backoff_cap, self.ping_interval = backoff_base, backoff_cap, ping_interval
        self.yield_control = yield_control  # also yield {"type":"reconnected"} / {"type":"auth"} messages
        self.subscriptions: list[dict] = []
        self.cancel_on_disconnect: dict | None = None
        self.ws = None
        self.connects = 0  # connections made (1 + reconnects)
        self.checksum_failures = 0
        self._seq: dict[str, int] = {}
        self._closed = False
        self._pending: list[WsMessage] = []
        self.user_id: str | None = None

    @property
    def token(self) -> str | None:
        return self.client.token if self.client is not None else self._token

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self):
        self._closed = True
        if self.ws is not None:
            await self.ws.close()

    async def connect(self):
        attempt = 0
        while not self._closed:
            try:
                self.ws = await websockets.connect(self.url, ping_interval=self.ping_interval, open_timeout=10,
                                                   max_size=2 ** 20)
                self.connects += 1
                self._seq.clear()
                await self._handshake()
                return
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as e:
                attempt += 1
                delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))
                log.warning("websocket %s: %s; reconnecting in %.2f s", self.url, e, delay)
                await asyncio.sleep(delay)

    async def _handshake(self):
        """auth (when there is a token), then cancelOnDisconnect, then every subscription, again."""
        if self.token:
            reply = await self._request({"type": "auth", "token": self.token}, ("auth", "error"))
            if reply.type == "error" and reply.code == "SESSION_INVALID" and self.client is not None \
                    and self.client.can_reauthenticate:
                log.info("websocket auth: SESSION_INVALID, logging in again")
                await asyncio.to_thread(self.client.login)
                self.client.reauths += 1
                reply = await self._request({"type": "auth", "token": self.token}, ("auth", "error"))
            if reply.type == "auth":
                self.user_id = reply.data.get("userId")
        if self.cancel_on_disconnect is not None:
            await self._send(self.cancel_on_disconnect)
        for sub in self.subscriptions:
            await self._send(sub)

    async def _request(self, msg: dict, answers: tuple[str, ...]) -> WsMessage:
        await self._send(msg)
        while True:
            reply = self._typed(_json.loads(await asyncio.wait_for(self.ws.recv(), 10)))
            if reply.type in answers:
                return reply
            self._pending.append(reply)

    async def _send(self, msg: dict):
        await self.ws.send(_json.dumps(msg))

    # --- subscriptions ---------------------------------------------------------------------------------------

    async def subscribe(self, channel: str, symbol: str | None = None, interval: str | None = None):
        sub = {k: v for k, v in {"type": "subscribe", "channel": channel, "symbol": symbol,
                                 "interval": interval}.items() if v is not None}
        if sub not in self.subscriptions:
            self.subscriptions.append(sub)
        if channel == "depth" and symbol and symbol not in self.precisions and self.client is not None:
            try:
                s = await asyncio.to_thread(self.client.symbol, symbol)
                self.precisions[symbol] = (s.pricePrecision, s.quantityPrecision)
            except Exception as e:  # verification is then skipped for this symbol
                log.warning("no precisions for %s (%s): depth checksums not verified", symbol, e)
        await self._send_quietly(sub)

    async def unsubscribe(self, channel: str, symbol: str | None = None, interval: str | None = None):
        sub = {k: v for k, v in {"type": "subscribe", "channel": channel, "symbol": symbol,
                                 "interval": interval}.items() if v is not None}
        if sub in self.subscriptions:
            self.subscriptions.remove(sub)
        await self._send_quietly({**sub, "type": "unsubscribe"})

    async def set_cancel_on_disconnect(self, enabled: bool = True, grace_ms: int = 5000):
        """Ask the server to cancel the account's pairs when this connection drops (re-sent on every reconnect)."""
        self.cancel_on_disconnect = {"type": "cancelOnDisconnect", "enabled": enabled, "graceMs": grace_ms}
        await self._send_quietly(self.cancel_on_disconnect)

    async def ping(self):
        await self._send_quietly({"type": "ping"})

    async def _send_quietly(self, msg: dict):
        """Sent now when connected; a dropped connection re-sends it with the handshake anyway."""
        if self.ws is None:
            return
        try:
            await self._send(msg)
        except websockets.ConnectionClosed:
            pass

    # --- messages ----------------------------------------------------------------------------------------------

    def _typed(self, raw) -> WsMessage:
        if not isinstance(raw, dict) or "type" not in raw:
            raw = {"type": "unknown", "raw": raw}
        msg = WsMessage.model_validate(raw)
        if msg.type == "depth":
            msg.verified = self._verify_depth(msg)
        return msg

    def _verify_depth(self, msg: WsMessage) -> bool | None:
        d = msg.data
        seq, checksum, ok = d.get("seq"), d.get("checksum"), None
        if seq is not None and msg.symbol:
            last = self._seq.get(msg.symbol)
            ok = last is None or int(seq) > last  # a snapshot after (re)subscribe may jump ahead; never back
            if last is not None and int(seq) != last + 1:
                log.info("depth %s: seq %s after %s", msg.symbol, seq, last)
            self._seq[msg.symbol] = int(seq)
        if checksum is not None and msg.symbol in self.precisions:
            pp, qp = self.precisions[msg.symbol]
            good = depth_checksum(d.get("bids") or [], d.get("asks") or [], pp, qp) == int(checksum)
            ok = good if ok is None else (ok and good)
        if ok is False:
            self.checksum_failures += 1
        return ok

    def __aiter__(self):
        return self

    async def __anext__(self) -> WsMessage:
        while not self._closed:
            if self._pending:
                return self._pending.pop(0)
            if self.ws is None:
                await self.connect()
            try:
                msg = self._typed(_json.loads(await self.ws.recv()))
            except websockets.ConnectionClosed as e:
                log.warning("websocket closed (%s); reconnecting", e.rcvd.code if e.rcvd else "no close frame")
                await self.connect()
                if self.yield_control:
                    return WsMessage(type="reconnected", connects=self.connects)
                continue
            if msg.type == "depth" and msg.verified is False and msg.symbol:
                sub = next((s for s in self.subscriptions if s.get("channel") == "depth"
                            and s.get("symbol") == msg.symbol), None)
                if sub:  # a fresh snapshot
                    self._seq.pop(msg.symbol, None)
                    await self._send_quietly({**sub, "type": "unsubscribe"})
                    await self._send_quietly(sub)
            return msg
        raise StopAsyncIteration


def price_of(msg: WsMessage) -> Decimal | None:
    p = msg.data.get("price")
    return None if p is None else Decimal(str(p))

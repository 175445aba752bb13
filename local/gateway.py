"""API Gateway on one local port (aiohttp): the REST API, the WebSocket API and its management API.

- every HTTP request goes through Chalice's LocalGateway (the app's own routing, CORS, binary types);
- GET /ws with an Upgrade header is the WebSocket API: $connect (non-2xx rejects the handshake), each frame
  to $default, close to $disconnect, with API Gateway's event shapes;
- /<stage>/@connections/<connectionId> is the management API the app calls through boto3
  (POST sends, GET describes, DELETE closes; an unknown connection is 410 GoneException);
- GET /_local/stats is the emulator's own (no AWS counterpart): handler pool, pumps, connections, memory.

HTTP requests and WebSocket events run in a thread pool (one thread per in-flight request, as one Lambda
container per request in AWS), so a slow request never holds up the others; the event loop only moves bytes.
"""
import asyncio
import base64
import functools
import json
import logging
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import unquote

from aiohttp import WSMsgType, web
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException
from multidict import CIMultiDict

from local.lambdas import Invoker

log = logging.getLogger("local.gateway")
MAX_MESSAGE = 128 * 1024  # API Gateway's WebSocket message limit
# Client messages up to this size reach the $default handler, which answers an over-limit one with an `error`
# message (realtime/handlers.py) instead of the connection being dropped by the socket library.
MAX_INBOUND = 1024 * 1024
MAX_BODY = 10 * 1024 * 1024  # API Gateway's REST payload limit


def _ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def new_connection_id() -> str:
    """API Gateway-like: 16 characters of base64 ending in '=' (so clients must URL-encode it)."""
    return base64.b64encode(os.urandom(11)).decode()


def _json(status: int, body: dict, error_type: str | None = None) -> web.Response:
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return web.json_response(body, status=status, headers=headers)


def http_response(status: int, headers: dict | None, multi: dict | None, body) -> web.Response:
    out = CIMultiDict()
    for name, value in {**(headers or {}), **(multi or {})}.items():
        for item in value if isinstance(value, list) else [value]:
            out.add(name, str(item))
    for hop in ("Content-Length", "Transfer-Encoding", "Connection"):
        out.popall(hop, None)
    out.setdefault("Content-Type", "application/json")
    return web.Response(status=status, headers=out, body=body.encode() if isinstance(body, str) else body)


@dataclass
class Connection:
    ws: web.WebSocketResponse
    connected_at: int
    source_ip: str
    user_agent: str
    last_active: int = field(default_factory=_ms)


class Gateway:
    def __init__(self, app, invoker: Invoker, pool: ThreadPoolExecutor, stage: str = "local",
                 api_id: str = "local", idle_timeout_s: float = 600, stats=None):
        self.app, self.invoker, self.pool = app, invoker, pool
        self.stats = stats or (lambda: {})
        self.in_flight = 0
        self.rest = LocalGateway(app, Config())
        self.stage, self.api_id, self.idle_timeout_s = stage, api_id, idle_timeout_s
        self.management_prefix = f"/{stage}/@connections/"
        self.connections: dict[str, Connection] = {}
        self.closing = False

    def web_app(self) -> web.Application:
        web_app = web.Application(client_max_size=MAX_BODY)
        web_app.router.add_route("*", "/{tail:.*}", self.dispatch)
        web_app.on_shutdown.append(self._close_all)
        return web_app

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(self.management_prefix):
            return await self.management(request)
        if request.path == "/ws" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request)
        if request.path == "/_local/stats" and request.method == "GET":
            return web.json_response({"inFlight": self.in_flight, "queued": self.pool._work_queue.qsize(),
                                      "connections": len(self.connections), **self.stats()})
        return await self.http(request)

    async def _run(self, fn, *args, **kw):
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(fn, *args, **kw))
        finally:
            self.in_flight -= 1

    # --- REST API --------------------------------------------------------------------------------------

    async def http(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            resp = await self._run(self.rest.handle_request, method=request.method, path=request.raw_path,
                                   headers=dict(request.headers), body=body or None)
        except LocalGatewayException as e:
            return http_response(e.CODE, e.headers, None, e.body)
        except Exception:
            log.exception("%s %s failed outside the app's error handling", request.method, request.path)
            return _json(502, {"message": "Internal server error"})
        body = resp.get("body")
        if resp.get("isBase64Encoded"):
            body = base64.b64decode(body)
        return http_response(resp["statusCode"], resp.get("headers"), resp.get("multiValueHeaders"), body)

    # --- WebSocket API ---------------------------------------------------------------------------------

    def _context(self, request: web.Request, cid: str, route: str, event_type: str, connected_at: int) -> dict:
        now = _ms()
        return {"routeKey": route, "eventType": event_type, "messageDirection": "IN", "stage": self.stage,
                "apiId": self.api_id, "domainName": request.host, "connectionId": cid, "connectedAt": connected_at,
                "requestId": str(uuid.uuid4()), "extendedRequestId": str(uuid.uuid4()),
                "requestTime": formatdate(now / 1000, usegmt=True), "requestTimeEpoch": now,
                "identity": {"sourceIp": request.remote or "127.0.0.1",
                             "userAgent": request.headers.get("User-Agent", "")}}

    async def _route(self, route: str, event: dict):
        """Invoke the app's handler for a route key; None when the app has none."""
        handler = self.app.websocket_handlers.get(route)
        if handler is None:
            return None
        return await self._run(self.invoker, handler.name, event)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        cid, connected_at = new_connection_id(), _ms()
        event = {"headers": dict(request.headers),
                 "multiValueHeaders": {k: request.headers.getall(k) for k in request.headers.keys()},
                 "requestContext": self._context(request, cid, "$connect", "CONNECT", connected_at),
                 "isBase64Encoded": False}
        if request.query:
            event["queryStringParameters"] = dict(request.query)
            event["multiValueQueryStringParameters"] = {k: request.query.getall(k) for k in request.query.keys()}
        try:
            result = await self._route("$connect", event) or {"statusCode": 200}
        except Exception:
            log.exception("$connect handler failed")
            return _json(500, {"message": "Internal server error"})
        status = int(result.get("statusCode", 200))
        if not 200 <= status < 300:
            return http_response(status, result.get("headers"), result.get("multiValueHeaders"), result.get("body"))

        ws = web.WebSocketResponse(max_msg_size=MAX_INBOUND, receive_timeout=self.idle_timeout_s)
        await ws.prepare(request)
        conn = Connection(ws, connected_at, request.remote or "127.0.0.1", request.headers.get("User-Agent", ""))
        self.connections[cid] = conn
        try:
            while True:
                try:
                    msg = await ws.receive()
                except asyncio.TimeoutError:  # API Gateway's idle timeout
                    await ws.close(code=1001, message=b"Going away")
                    break
                if msg.type == WSMsgType.TEXT:
                    body, b64 = msg.data, False
                elif msg.type == WSMsgType.BINARY:
                    body, b64 = base64.b64encode(msg.data).decode(), True
                else:
                    break
                conn.last_active = _ms()
                await self._message(request, cid, connected_at, body, b64)
        finally:
            self.connections.pop(cid, None)
            event = {"headers": {"Host": request.host}, "isBase64Encoded": False,
                     "requestContext": {**self._context(request, cid, "$disconnect", "DISCONNECT", connected_at),
                                        "disconnectStatusCode": ws.close_code or 1006, "disconnectReason": ""}}
            try:
                await self._route("$disconnect", event)
            except Exception:
                if not self.closing:  # at shutdown the handler pool may be gone before the last sockets close
                    log.exception("$disconnect handler failed")
        return ws

    async def _message(self, request, cid: str, connected_at: int, body: str, b64: bool):
        ctx = {**self._context(request, cid, "$default", "MESSAGE", connected_at),
               "messageId": base64.b64encode(os.urandom(11)).decode()}
        try:
            await self._route("$default", {"requestContext": ctx, "body": body, "isBase64Encoded": b64})
        except Exception:
            log.exception("$default handler failed")
            conn = self.connections.get(cid)
            if conn and not conn.ws.closed:  # what API Gateway tells the client when the integration fails
                await conn.ws.send_str(json.dumps({"message": "Internal server error", "connectionId": cid,
                                                   "requestId": ctx["requestId"]}))

    async def _close_all(self, _app):
        self.closing = True
        for conn in list(self.connections.values()):
            await conn.ws.close(code=1001, message=b"Going away")

    # --- management API --------------------------------------------------------------------------------

    async def management(self, request: web.Request) -> web.Response:
        cid = unquote(request.raw_path.split("?", 1)[0][len(self.management_prefix):])
        conn = self.connections.get(cid)
        if conn is None or conn.ws.closed:
            return _json(410, {"message": f"connection {cid} is gone"}, "GoneException")
        if request.method == "POST":
            data = await request.read()
            if len(data) > MAX_MESSAGE:
                return _json(413, {"message": "message too large"}, "PayloadTooLargeException")
            try:
                try:
                    await conn.ws.send_str(data.decode("utf-8"))
                except UnicodeDecodeError:
                    await conn.ws.send_bytes(data)
            except ConnectionError:
                return _json(410, {"message": f"connection {cid} is gone"}, "GoneException")
            return web.Response(status=200)
        if request.method == "GET":
            return _json(200, {"connectedAt": _iso(conn.connected_at), "lastActiveAt": _iso(conn.last_active),
                               "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent}})
        if request.method == "DELETE":
            await conn.ws.close(code=1000)
            return web.Response(status=204)
        return _json(405, {"message": f"{request.method} is not supported"}, "MethodNotAllowedException")

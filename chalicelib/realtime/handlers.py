"""WebSocket protocol ($connect / $default / $disconnect): auth, subscribe, unsubscribe, ping, and the message
types and disconnect hooks capabilities register (register_message / register_disconnect).

Channels are registered by the capabilities that publish them (register_channel): a resolver turns a subscribe
message into a topic, or raises ChannelError for an unknown symbol or a private channel without auth.
"""
from typing import Callable

from chalicelib import settings
from chalicelib.auth import store as sessions
from chalicelib.common import jsonutil
from chalicelib.common.clock import now_ms
from chalicelib.common.logging import logger
from chalicelib.realtime import broadcaster, store

MAX_MESSAGE_BYTES = 4096


class ChannelError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# channel name -> resolver(message: dict, user_id: str | None) -> topic
_CHANNELS: dict[str, Callable[[dict, str | None], str]] = {}
_SNAPSHOTS: dict[str, Callable[[dict], dict | None]] = {}  # channel -> snapshot(subscribed reply) sent after it
PRIVATE_CHANNELS = ("orders", "positions", "account")


def register_channel(name: str, resolver: Callable[[dict, str | None], str],
                     snapshot: Callable[[dict], dict | None] | None = None) -> None:
    _CHANNELS[name] = resolver
    if snapshot is not None:
        _SNAPSHOTS[name] = snapshot


# message type -> handler(connection_id, user_id | None, message) -> reply; name -> hook(connection_id, user_id)
_MESSAGES: dict[str, Callable[[str, str | None, dict], dict | None]] = {}
_ON_DISCONNECT: dict[str, Callable[[str, str | None], None]] = {}


def register_message(kind: str, handler: Callable[[str, str | None, dict], dict | None]) -> None:
    """A capability's own client message type (e.g. trading's cancelOnDisconnect)."""
    _MESSAGES[kind] = handler


def register_disconnect(name: str, hook: Callable[[str, str | None], None]) -> None:
    """Called on $disconnect with the connection's user (None before auth), before the connection is removed."""
    _ON_DISCONNECT[name] = hook


def _private(name: str):
    def resolve(msg, user_id):
        if not user_id:
            raise ChannelError("AUTH_REQUIRED", f"channel {name} needs auth first")
        return f"{name}#{user_id}"
    return resolve


for _name in PRIVATE_CHANNELS:
    register_channel(_name, _private(_name))


def on_connect(connection_id: str) -> None:
    store.add_connection(connection_id)


def on_disconnect(connection_id: str) -> None:
    if _ON_DISCONNECT:
        conn = store.get_connection(connection_id)
        for name, hook in list(_ON_DISCONNECT.items()):
            try:
                hook(connection_id, conn.user_id if conn else None)
            except Exception:  # one hook failing never keeps the connection's items behind
                logger.exception("disconnect hook failed", extra={"hook": name})
    store.remove_connection(connection_id)


def on_message(connection_id: str, body: str) -> None:
    reply = handle(connection_id, body)
    if reply is not None:
        broadcaster.send(connection_id, reply)
        snapshot = _SNAPSHOTS.get(reply.get("channel")) if reply.get("type") == "subscribed" else None
        message = snapshot(reply) if snapshot else None
        if message is not None:  # after the subscription is stored: the next broadcast follows it
            broadcaster.send(connection_id, message)


def _error(code: str, message: str, **extra) -> dict:
    return {"type": "error", "code": code, "error": message, **extra}


def _over_cap(connection_id: str, topic: str) -> bool:
    """WS_MAX_SUBSCRIPTIONS reached (one COUNT query), and the topic is not one of them already."""
    cap, pk = settings.get().ws_max_subscriptions, f"CONN#{connection_id}"
    if cap <= 0 or store.Subscription.count(pk, store.Subscription.sk.startswith("SUB#"), limit=cap) < cap:
        return False
    return store.get_or_none(store.Subscription, pk, f"SUB#{topic}") is None


def handle(connection_id: str, body: str) -> dict | None:
    """Process one client message; returns the reply (pure of transport, so tests can call it directly)."""
    if body is None or len(body.encode()) > MAX_MESSAGE_BYTES:
        return _error("MESSAGE_TOO_LARGE", f"messages are limited to {MAX_MESSAGE_BYTES} bytes")
    try:
        msg = jsonutil.loads(body)
    except ValueError:
        return _error("MALFORMED_JSON", "message must be a JSON object")
    if not isinstance(msg, dict):
        return _error("MALFORMED_JSON", "message must be a JSON object")
    kind = msg.get("type")
    if kind == "ping":
        return {"type": "pong", "ts": now_ms()}
    if kind == "auth":
        token = msg.get("token")
        session = sessions.lookup(token) if isinstance(token, str) and token else None
        if session is None:
            return _error("SESSION_INVALID", "Session无效或已过期")
        store.set_user(connection_id, session.user_id)
        return {"type": "auth", "ok": True, "userId": session.user_id}
    if kind in ("subscribe", "unsubscribe"):
        channel = msg.get("channel")
        resolver = _CHANNELS.get(channel) if isinstance(channel, str) else None
        if resolver is None:
            return _error("UNKNOWN_CHANNEL", f"unknown channel {channel!r}", channels=sorted(_CHANNELS))
        conn = store.get_connection(connection_id)
        try:
            topic = resolver(msg, conn.user_id if conn else None)
        except ChannelError as e:
            return _error(e.code, e.message, channel=channel)
        if kind == "subscribe" and _over_cap(connection_id, topic):
            cap = settings.get().ws_max_subscriptions
            return _error("TOO_MANY_SUBSCRIPTIONS", f"at most {cap} subscriptions per connection", channel=channel)
        if kind == "subscribe":
            store.subscribe(connection_id, topic)
        else:
            store.unsubscribe(connection_id, topic)
        echo = {k: msg[k] for k in ("channel", "symbol", "interval") if k in msg}
        return {"type": "subscribed" if kind == "subscribe" else "unsubscribed", **echo}
    if isinstance(kind, str) and kind in _MESSAGES:
        conn = store.get_connection(connection_id)
        return _MESSAGES[kind](connection_id, conn.user_id if conn else None, msg)
    return _error("UNKNOWN_TYPE", f"unknown message type {kind!r}")

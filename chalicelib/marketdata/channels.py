"""WebSocket channels of market data: ticker, kline (per interval), depth, trades (public; need no auth).

A subscribe names a symbol (and for kline an interval); an unknown symbol or interval is an error message to
the client, never a dropped connection. A depth subscribe is answered by `subscribed`, then a full snapshot
(`"snapshot": true`, the sequence of the latest broadcast): the next broadcast carries seq + 1.
"""
from chalicelib.marketdata import logic, service, store
from chalicelib.marketdata.fanout import topic
from chalicelib.realtime.handlers import ChannelError, register_channel


def _symbol(msg: dict) -> str:
    symbol = msg.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise ChannelError("SYMBOL_REQUIRED", "symbol is required")
    if store.get_symbol(symbol) is None:
        raise ChannelError("UNKNOWN_SYMBOL", f"unknown symbol {symbol!r}")
    return symbol


def _simple(channel: str):
    def resolve(msg: dict, user_id: str | None) -> str:
        return topic(channel, _symbol(msg))
    return resolve


def _kline(msg: dict, user_id: str | None) -> str:
    interval = msg.get("interval")
    if not isinstance(interval, str) or interval not in logic.INTERVALS:
        raise ChannelError("INVALID_INTERVAL", f"interval must be one of {', '.join(logic.INTERVALS)}")
    return topic("kline", _symbol(msg), interval)


def _depth_snapshot(reply: dict) -> dict:
    return {"type": "depth", **service.depth_snapshot(reply["symbol"]), "snapshot": True}


def register() -> None:
    register_channel("ticker", _simple("ticker"))
    register_channel("kline", _kline)
    register_channel("depth", _simple("depth"), _depth_snapshot)
    register_channel("trades", _simple("trades"))

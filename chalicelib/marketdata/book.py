"""The order book as the trading capability exposes it (guarded: an empty book until trading lands).

trading.store.best_bid_ask(symbol) -> (bid, ask) | {"bid", "ask"}; trading.store.depth(symbol, limit) ->
{"bids": [[price, qty]], "asks": [...]} | (bids, asks). Missing module or function: no liquidity.
"""
from decimal import Decimal


def best_bid_ask(symbol: str) -> tuple[Decimal | None, Decimal | None]:
    try:
        from chalicelib.trading.store import best_bid_ask as fn
    except (ImportError, AttributeError):
        return None, None
    out = fn(symbol)
    if out is None:
        return None, None
    if isinstance(out, dict):
        return out.get("bid"), out.get("ask")
    bid, ask = out
    return bid, ask


def depth(symbol: str, limit: int) -> tuple[list, list]:
    try:
        from chalicelib.trading.store import depth as fn
    except (ImportError, AttributeError):
        return [], []
    out = fn(symbol, limit)
    if out is None:
        return [], []
    if isinstance(out, dict):
        bids, asks = out.get("bids") or [], out.get("asks") or []
    else:
        bids, asks = out
    return [[p, q] for p, q in bids][:limit], [[p, q] for p, q in asks][:limit]

"""The order book as market data sees it, through a provider that the wiring registers (chalicelib/wiring.py).

Market data never imports trading: `register(best_bid_ask, depth)` installs the trading capability's functions,
best_bid_ask(symbol) -> (bid, ask) | {"bid", "ask"}; depth(symbol, limit) -> {"bids": [[price, qty]], "asks": [...]}
| (bids, asks). Nothing registered: no liquidity.
"""
from decimal import Decimal
from typing import Callable

_provider: dict[str, Callable] = {}


def register(best_bid_ask: Callable, depth: Callable) -> None:
    _provider["best_bid_ask"], _provider["depth"] = best_bid_ask, depth


def best_bid_ask(symbol: str) -> tuple[Decimal | None, Decimal | None]:
    fn = _provider.get("best_bid_ask")
    out = fn(symbol) if fn else None
    if out is None:
        return None, None
    if isinstance(out, dict):
        return out.get("bid"), out.get("ask")
    bid, ask = out
    return bid, ask


def depth(symbol: str, limit: int) -> tuple[list, list]:
    fn = _provider.get("depth")
    out = fn(symbol, limit) if fn else None
    if out is None:
        return [], []
    if isinstance(out, dict):
        bids, asks = out.get("bids") or [], out.get("asks") or []
    else:
        bids, asks = out
    return [[p, q] for p, q in bids][:limit], [[p, q] for p, q in asks][:limit]

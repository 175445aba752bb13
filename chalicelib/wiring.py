"""Every cross-capability hook, in one place; app.py calls `wire()` once at import (every Lambda imports app.py).

- market data's order book comes from trading (marketdata never imports trading: it gets a provider);
- the main-table stream publishers of trading's items (private channels orders/positions, trades, depth);
- market data's public WebSocket channels (ticker, kline, depth, trades).

Idempotent: calling it again re-registers the same functions. The hooks' targets are imported lazily where that
keeps the API Lambda's cold start small.
"""


def _best_bid_ask(symbol):
    from chalicelib.trading import store
    return store.best_bid_ask(symbol)


def _depth(symbol, limit):
    from chalicelib.trading import store
    return store.depth(symbol, limit)


def wire() -> None:
    from chalicelib.marketdata import book, channels
    from chalicelib.trading import events as trading_events

    book.register(_best_bid_ask, _depth)
    trading_events.register()
    channels.register()

"""Candles worked out from scratch, independently of chalicelib.marketdata.logic (no merge, fresh, bucket or
INTERVALS): the oracle of the candle-exactness tests, so an OHLC, bucketing or dedupe bug cannot show on both
sides. Interval lengths are the contract's, written out here."""
from collections import defaultdict

INTERVAL_MS = {"1m": 60 * 1000, "5m": 5 * 60 * 1000, "15m": 15 * 60 * 1000, "1h": 60 * 60 * 1000,
               "4h": 4 * 60 * 60 * 1000, "1d": 24 * 60 * 60 * 1000}


def expected_candles(ticks) -> dict[tuple[str, int], tuple]:
    """ticks: (order_key, ts_ms, price), each pushed tick exactly once. Returns
    {(interval, open_time): (open, high, low, close, tick_count, open_key, close_key)} where open/close are the
    prices of the first/last tick in order-key order."""
    ticks = list(ticks)
    assert len({k for k, _, _ in ticks}) == len(ticks), "the oracle takes each tick once"
    out = {}
    for name, ms in INTERVAL_MS.items():
        groups = defaultdict(list)
        for key, ts, price in ticks:
            groups[(ts // ms) * ms].append((key, price))
        for open_time, g in groups.items():
            g.sort()
            prices = [p for _, p in g]
            out[(name, open_time)] = (prices[0], max(prices), min(prices), prices[-1], len(g), g[0][0], g[-1][0])
    return out

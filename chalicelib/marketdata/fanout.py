"""Throttled sends: build a channel's messages from the stored state and fan them out to the subscribers.

deliver() runs for a claimed slot (inline in the stream handler, or from a delayed flush message):
  1. mark the slot sent with a conditional write that returns the state (a duplicate SQS delivery or a
     redriven slot sends nothing; a tick committed after this snapshot claims a new slot, see events.py);
  2. build the messages (subscriber lists, order book, candles);
  3. record the posting time, conditional on the previous one and at least a second after its end: slots are
     a second apart, but building and posting take variable time, so the gap is enforced where it is seen;
  4. post: the first chunk of every audience here, the other chunks through the broadcast queue, where other
     Lambda invocations post them in parallel.
"""
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chalicelib import settings
from chalicelib.common import jsonutil
from chalicelib.common.clock import now_ms
from chalicelib.common.logging import logger
from chalicelib.marketdata import book, logic, queues, store
from chalicelib.marketdata.logic import BROADCAST_WINDOW_MS, INTERVALS
from chalicelib.realtime import broadcaster
from chalicelib.realtime import store as rt

CHUNK_SIZE = settings.get().ws_fanout_chunk  # per Lambda instance (tests monkeypatch it)
DEPTH_LEVELS = 20
MAX_WAIT_MS = 2000


def topic(channel: str, symbol: str, interval: str | None = None) -> str:
    return f"{channel}#{symbol}#{interval}" if interval else f"{channel}#{symbol}"


@dataclass
class Outgoing:
    topic: str
    ids: list[str]
    message: dict


_pool: ThreadPoolExecutor | None = None


def _queries() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="md-query")
    return _pool


# --- messages ------------------------------------------------------------------------------------------

def _safe_bid_ask(symbol: str):
    try:
        return book.best_bid_ask(symbol)
    except Exception:
        logger.exception("best_bid_ask failed", extra={"symbol": symbol})
        return None, None


def ticker_message(symbol: str, state, bid=None, ask=None) -> dict:
    return {"type": "ticker", "symbol": symbol, "price": state.last_price, "bid": bid, "ask": ask,
            "ts": state.last_ts}


def kline_message(symbol: str, interval: str, candle: logic.Candle) -> dict:
    return {"type": "kline", "symbol": symbol, "interval": interval, **logic.candle_view(candle, interval)}


def depth_view(symbol: str, limit: int, seq: int | None) -> dict:
    """The book's best `limit` levels at the symbol's precisions, with `seq` and the checksum of the 10 best
    levels of each side (read even when `limit` is smaller, so the checksum is always of the same book)."""
    cfg = store.get_symbol(symbol)
    pp, qp = (cfg.price_precision, cfg.quantity_precision) if cfg else (8, 8)
    bids, asks = book.depth(symbol, max(limit, logic.CHECKSUM_LEVELS))
    bids, asks = logic.format_levels(bids, pp, qp), logic.format_levels(asks, pp, qp)
    return {"symbol": symbol, "bids": bids[:limit], "asks": asks[:limit], "ts": now_ms(), "seq": seq or 0,
            "checksum": logic.depth_checksum(bids, asks)}


def depth_message(symbol: str, seq: int | None, limit: int = DEPTH_LEVELS) -> dict:
    return {"type": "depth", **depth_view(symbol, limit, seq)}


def build_market(symbol: str, state) -> list[Outgoing]:
    """ticker + kline (every interval with subscribers) from the state snapshot."""
    if state.last_price is None:
        return []
    out = []
    names = [topic("ticker", symbol)] + [topic("kline", symbol, iv) for iv in INTERVALS]
    audiences = dict(zip(names, _queries().map(rt.subscribers, names)))  # in parallel
    ids = audiences[names[0]]
    if ids:
        bid, ask = _safe_bid_ask(symbol)
        out.append(Outgoing(names[0], ids, ticker_message(symbol, state, bid, ask)))
    wanted = {iv: ids for iv in INTERVALS if (ids := audiences[topic("kline", symbol, iv)])}
    current = store.current_candles(state) if wanted else {}
    keys = [(iv, current[iv].open_time) for iv in wanted if iv in current]
    items = store.get_candles(symbol, keys)  # traded volume (and a candle closed meanwhile)
    for iv, ids in wanted.items():
        if iv in current:
            k = (iv, current[iv].open_time)
            c = logic.overlay([items[k]] if k in items else [], current[iv])[-1]
            out.append(Outgoing(topic("kline", symbol, iv), ids, kline_message(symbol, iv, c)))
    return out


def build_depth(symbol: str, state) -> list[Outgoing]:
    ids = rt.subscribers(topic("depth", symbol))
    return [Outgoing(topic("depth", symbol), ids, depth_message(symbol, state.depth_seq))] if ids else []


def build_trades(symbol: str, state, at: int) -> list[Outgoing]:
    ids = rt.subscribers(topic("trades", symbol))
    trades = store.trades_between(symbol, state.trades_prev or 0, at) if ids else []
    if not trades:
        return []
    return [Outgoing(topic("trades", symbol), ids, {"type": "trades", "symbol": symbol, "trades": trades})]


# --- posting ---------------------------------------------------------------------------------------------

def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def post(outgoing: list[Outgoing]) -> int:
    """First chunk of every audience posted here (in parallel); the other chunks queued for other invocations."""
    first: list[tuple[list[str], str]] = []
    for o in outgoing:
        data = jsonutil.dumps(o.message)
        parts = logic.chunks(o.ids, CHUNK_SIZE)
        if len(parts) > 1:
            queues.enqueue_chunks(o.topic, data, parts[1:])
        first.append((parts[0], data))
    return sum(broadcaster.send_many(ids, data) for ids, data in first)


def fanout(topic_name: str, message: dict) -> int:
    """Unthrottled send to every subscriber of a topic; returns the number posted by this invocation."""
    ids = rt.subscribers(topic_name)
    return post([Outgoing(topic_name, ids, message)]) if ids else 0


def _claim_posting(symbol: str, channel: str, previous: int | None) -> int:
    """Wait until a second after the previous posting of the channel ended, then record this one as started
    (conditionally: a sender that overtook us makes us wait for a second after it). Returns the start time."""
    for _ in range(5):
        if previous is not None:
            wait = previous + BROADCAST_WINDOW_MS - now_ms()
            if wait > 0:
                _sleep(min(wait, MAX_WAIT_MS) / 1000)
        start = now_ms()
        ok, previous = store.mark_posted(symbol, channel, previous, start)
        if ok:
            return start
    raise RuntimeError(f"{symbol} {channel}: could not record the posting time")


def deliver(symbol: str, channel: str, at: int) -> int | None:
    """Send the slot `at` of a channel (waiting for it if the message came early); None if already sent."""
    wait = at - now_ms()
    if wait > 0:
        _sleep(min(wait, MAX_WAIT_MS) / 1000)
    start = now_ms()
    state = store.mark_sent(symbol, channel, at)
    if state is None:
        return None
    if channel == "market":
        outgoing = build_market(symbol, state)
    elif channel == "depth":
        outgoing = build_depth(symbol, state)
    elif channel == "trades":
        outgoing = build_trades(symbol, state, at)
    else:
        raise ValueError(f"unknown channel {channel!r}")
    if not outgoing:
        return 0
    built = now_ms()
    posting = _claim_posting(symbol, channel, getattr(state, f"{channel}_posted"))
    n = post(outgoing)
    # the gap is kept from the end of this posting (posting itself can take a while under load)
    store.mark_posted(symbol, channel, posting, now_ms())
    logger.debug("broadcast", extra={"symbol": symbol, "channel": channel, "slot": at, "lagMs": posting - at,
                                     "buildMs": built - start,
                                     "waitMs": posting - built, "postMs": now_ms() - posting, "posted": n})
    return n


def send_chunk(body: dict) -> int:
    return broadcaster.send_many(list(body.get("ids") or []), body["data"])

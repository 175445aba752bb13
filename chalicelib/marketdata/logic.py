"""Pure market-data logic: symbols, ticks, K-line candles, throttle slots. No I/O here.

Candles are exact however ticks are batched or redelivered:
- a tick's *order* is its key (the ticks table sort key, `<ts:013d>#<suffix>`): open is the price of the
  smallest key in the bucket, close of the largest, so ticks applied late or out of order still land right;
- a tick's *identity* for idempotency is its stream sequence number: the state item keeps the largest sequence
  number applied (the watermark) and skips every record at or below it, so a redelivered batch is not counted
  twice; a candle item that takes late ticks keeps its own watermark the same way.

Throttles are "slots": a channel (or the matching trigger) of a symbol remembers the time of its last claimed
send (`slot_at`); plan_slot decides for a new tick whether to send now, to claim one delayed send, or to do
nothing because a send already scheduled in the future will carry the latest state.

Book integrity (docs/market-data.md): depth levels are formatted with the symbol's precisions and carry a CRC32
checksum of the 10 best asks then the 10 best bids (Kraken's scheme, depth_checksum).
"""
import math
import re
import zlib
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Iterable

SYMBOL_RE = re.compile(r"^[A-Z0-9]{3,20}$")

INTERVALS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}

BROADCAST_WINDOW_MS = 1_000   # at most one message per second per symbol and channel
MATCH_WINDOW_MS = 5_000       # at most one matching check every 5 s per symbol
EARLY_MS = 999                # a broadcast message may arrive this much before its slot (the sender waits)
ZERO = Decimal(0)

# Built-in symbols: exist without anyone creating them (their items are ensured idempotently).
BUILTINS: dict[str, dict] = {
    "BTCUSDT": {"name": "Bitcoin / Tether USD", "price_precision": 2, "quantity_precision": 4,
                "min_quantity": Decimal("0.0001"), "max_leverage": 100},
    "ETHUSDT": {"name": "Ethereum / Tether USD", "price_precision": 2, "quantity_precision": 3,
                "min_quantity": Decimal("0.001"), "max_leverage": 100},
}


def valid_symbol(symbol) -> bool:
    return isinstance(symbol, str) and bool(SYMBOL_RE.match(symbol))


# --- prices --------------------------------------------------------------------------------------------

class PriceError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def feed_price(price: Decimal | None, bid: Decimal | None, ask: Decimal | None) -> Decimal:
    """The reference price of a push: `price`, or the mid of a legacy {bid, ask} quote (crossed: error)."""
    if price is not None:
        return price
    if bid is None or ask is None:
        raise PriceError("MISSING_FIELDS", "price (or legacy bid and ask) is required")
    if bid > ask:
        raise PriceError("CROSSED_QUOTE", "bid must not be greater than ask")
    return (bid + ask) / 2


def round_price(price: Decimal, precision: int) -> Decimal:
    """Round to the symbol's price precision (banker's rounding); a price that rounds to 0 is an error."""
    out = price.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_EVEN)
    if out <= 0:
        raise PriceError("INVALID_PRICE", f"price rounds to 0 at {precision} decimals")
    return out


def decimals_of(value: Decimal) -> int:
    exp = value.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


# --- ticks and candles ----------------------------------------------------------------------------------

def tick_key(ts: int, suffix: str) -> str:
    """Sort key of a tick: chronological, unique per push."""
    return f"{ts:013d}#{suffix}"


@dataclass(frozen=True)
class Tick:
    symbol: str
    key: str          # order (sort key in the ticks table)
    price: Decimal
    ts: int
    seq: int = 0      # identity for idempotency (stream sequence number)


@dataclass
class Candle:
    open_time: int
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    close: Decimal | None = None
    volume: Decimal = ZERO
    ticks: int = 0
    open_key: str | None = None
    close_key: str | None = None
    seq: int | None = None   # largest sequence number applied to this candle


def bucket(ts: int, interval: str) -> int:
    ms = INTERVALS[interval]
    return ts - ts % ms


def merge(candle: Candle | None, open_time: int, ticks: Iterable[Tick]) -> Candle:
    """The candle after applying `ticks` (all in this candle's bucket, none applied before)."""
    c = replace(candle) if candle is not None else Candle(open_time=open_time)
    for t in ticks:
        if c.open_key is None or t.key < c.open_key:
            c.open, c.open_key = t.price, t.key
        if c.close_key is None or t.key > c.close_key:
            c.close, c.close_key = t.price, t.key
        c.high = t.price if c.high is None else max(c.high, t.price)
        c.low = t.price if c.low is None else min(c.low, t.price)
        c.ticks += 1
        c.seq = t.seq if c.seq is None else max(c.seq, t.seq)
    return c


def fresh(ticks: Iterable[Tick], watermark: int | None) -> list[Tick]:
    """Ticks not applied yet (sequence number above the watermark), deduplicated, in sequence order."""
    seen: dict[int, Tick] = {}
    for t in ticks:
        if watermark is None or t.seq > watermark:
            seen[t.seq] = t
    return [seen[s] for s in sorted(seen)]


def _groups(ticks: list[Tick], interval: str) -> dict[int, list[Tick]]:
    out: dict[int, list[Tick]] = {}
    for t in ticks:
        out.setdefault(bucket(t.ts, interval), []).append(t)
    return out


def _roles(current: Candle | None, groups: dict[int, list[Tick]]) -> tuple[int, list[int]]:
    """(the bucket that is current after the batch, buckets of late ticks: neither current before nor after)."""
    top = max([*groups, *([current.open_time] if current else [])])
    late = [b for b in groups if b != top and not (current is not None and b == current.open_time)]
    return top, late


def stored_keys_needed(watermark: int | None, current: dict[str, Candle], ticks: Iterable[Tick]) -> list[tuple]:
    """Candle items plan_batch must read: those that receive late ticks (rare: clock skew, backlogs)."""
    new = fresh(ticks, watermark)
    keys = []
    for iv in INTERVALS:
        groups = _groups(new, iv)
        if groups:
            keys += [(iv, b) for b in _roles(current.get(iv), groups)[1]]
    return keys


@dataclass
class BatchPlan:
    current: dict[str, Candle] = field(default_factory=dict)       # the state's current candle per interval
    closes: dict[tuple[str, int], Candle] = field(default_factory=dict)       # candles closed by this batch
    late: dict[tuple[str, int], tuple[Candle, int | None]] = field(default_factory=dict)  # (new, expected seq)
    watermark: int | None = None
    latest: Tick | None = None      # the tick with the largest key, when it is newer than the state's


def plan_batch(watermark: int | None, latest_key: str | None, current: dict[str, Candle],
               stored: dict[tuple[str, int], Candle], ticks: Iterable[Tick]) -> BatchPlan:
    """Apply a batch of one symbol's ticks; pure (inputs are not modified).

    The current candle of every interval lives in the symbol's state item, whose watermark covers every tick
    applied. When ticks open a later bucket, the current candle is closed (written to its own item, a plain
    overwrite with the same values on a retry). Ticks for a bucket that is neither current before nor after
    (late ticks) merge into that bucket's item under its own watermark (`seq`), conditional on it.
    `stored` holds the items of stored_keys_needed() (missing: none yet).
    """
    new = fresh(ticks, watermark)
    plan = BatchPlan(current=dict(current))
    if not new:
        return plan
    for iv in INTERVALS:
        groups = _groups(new, iv)
        cur = current.get(iv)
        top, late = _roles(cur, groups)
        if cur is not None and cur.open_time == top:
            plan.current[iv] = merge(cur, top, groups.get(top, []))
        else:
            plan.current[iv] = merge(None, top, groups[top])
            if cur is not None:
                plan.closes[(iv, cur.open_time)] = merge(cur, cur.open_time, groups.get(cur.open_time, []))
        for b in late:
            base = stored.get((iv, b))
            todo = [t for t in groups[b] if base is None or base.seq is None or t.seq > base.seq]
            if todo:
                plan.late[(iv, b)] = (merge(base, b, todo), base.seq if base else None)
    plan.watermark = max(t.seq for t in new)
    top_tick = max(new, key=lambda t: t.key)
    plan.latest = top_tick if latest_key is None or top_tick.key > latest_key else None
    return plan


def overlay(items: Iterable[Candle], current: Candle | None) -> list[Candle]:
    """Stored candle items overlaid with the state's current candle (which holds OHLC and ticks of its
    bucket; its item, if any, holds the traded volume). Oldest first."""
    by = {c.open_time: c for c in items}
    if current is not None:
        item = by.get(current.open_time)
        if item is None or item.seq is None or (current.seq or 0) >= item.seq:
            by[current.open_time] = replace(current, volume=item.volume if item is not None else current.volume)
    return [by[t] for t in sorted(by)]


def reference_candles(ticks: Iterable[Tick]) -> dict[tuple[str, int], Candle]:
    """Candles computed from scratch over unique ticks (by sequence number): the oracle of the tests."""
    out = {}
    uniq = fresh(ticks, None)
    for iv in INTERVALS:
        for b, g in _groups(uniq, iv).items():
            out[(iv, b)] = merge(None, b, sorted(g, key=lambda t: t.key))
    return out


# --- throttle slots -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SlotPlan:
    action: str                 # "none" | "now" | "delay"
    slot_at: int | None = None  # the slot to claim (ms); None for "none"
    delay_s: int = 0            # SQS DelaySeconds for "delay" (the handler waits for slot_at if it arrives early)


def plan_slot(now: int, slot_at: int | None, window_ms: int, sent_at: int | None = None,
              early_ms: int = EARLY_MS) -> SlotPlan:
    """Decide what a new event does about a throttled send whose last claimed slot is `slot_at` (and, for
    senders that record it, whose last slot actually sent is `sent_at`).

    - a slot claimed in the future and not sent yet reads the state when it fires: nothing to do (for the
      market channel the caller makes its commit conditional on `sent_at` being unchanged, so a sender that
      already took its snapshot forces a re-plan);
    - else the target is the earliest allowed time, max(now, slot_at + window): at once when that is now;
      otherwise one delayed message. SQS delays are whole seconds: the message is delayed by
      ceil((target - now - early_ms) / 1000) s and the slot is the later of the target and that delivery
      time. With early_ms = 999 (broadcasts: the sender waits for the slot) the slot is the target itself;
      with early_ms = 0 (matching: the handler does not wait) the message never arrives before its slot.

    Guarantees: claimed slots are at least window_ms apart, and an event at `now` is carried by a send at a
    slot <= now + window_ms.
    """
    if slot_at is not None and slot_at > now and (sent_at is None or sent_at < slot_at):
        return SlotPlan("none")
    target = now if slot_at is None else max(now, slot_at + window_ms)
    if target == now:
        return SlotPlan("now", now, 0)
    delay_s = max(0, math.ceil((target - now - early_ms) / 1000))
    return SlotPlan("delay", max(target, now + delay_s * 1000), delay_s)


def next_match_at(now: int, match_at: int | None) -> int:
    """When the next matching check runs: the scheduled slot, else the earliest a new tick can trigger one."""
    if match_at is None:
        return now
    if match_at >= now:
        return match_at
    return max(now, match_at + MATCH_WINDOW_MS)


# --- views ----------------------------------------------------------------------------------------------

def candle_view(c: Candle, interval: str) -> dict:
    return {"openTime": c.open_time, "closeTime": c.open_time + INTERVALS[interval] - 1,
            "open": c.open, "high": c.high, "low": c.low, "close": c.close,
            "volume": c.volume, "ticks": c.ticks}


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# --- book integrity -------------------------------------------------------------------------------------

CHECKSUM_LEVELS = 10


def fixed(value, precision: int) -> Decimal:
    """A price or quantity at exactly `precision` decimals (what a depth message shows and the checksum uses)."""
    return Decimal(value).quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_EVEN)


def format_levels(levels: list, price_precision: int, quantity_precision: int) -> list[list[Decimal]]:
    return [[fixed(p, price_precision), fixed(q, quantity_precision)] for p, q in levels]


def _checksum_part(value: Decimal) -> str:
    return f"{value:f}".replace(".", "").lstrip("0")


def depth_checksum(bids: list, asks: list) -> int:
    """CRC32 (unsigned) of the 10 best asks (lowest first) then the 10 best bids (highest first): each level's
    price then quantity, as formatted (format_levels), with the '.' removed and leading zeros stripped."""
    parts = [_checksum_part(v) for level in asks[:CHECKSUM_LEVELS] + bids[:CHECKSUM_LEVELS] for v in level]
    return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF

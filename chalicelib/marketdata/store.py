"""Market-data items and their repository (pynamodb). Prices are Decimal end to end (DecimalAttribute).

Market items live in the `market` table (infra/resources.json: pk/sk, TTL, no stream):
  Symbol config   pk=SYMBOLS           sk=<symbol>        one partition: listed with one consistent Query
  Market state    pk=SYM#<symbol>      sk=STATE           last price, stream watermark, the current candle of
                                                          every interval, throttle slots
  Candle          pk=KLINE#<symbol>#<interval>  sk=<openTime:013d>   closed candles (and traded volume)
  Recent trade    pk=TRADES#<symbol>   sk=<ts:013d>#<id>  ttl 1 day (the `trades` channel's buffer)
Ticks table (stream NEW_IMAGE):
  Tick            pk=<symbol>          sk=<ts:013d>#<suffix>  price, ts, by, ttl 2 days
"""
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.models import Model

from chalicelib.common import jsonutil
from chalicelib.common.clock import now_ms
from chalicelib.marketdata import logic
from chalicelib.marketdata.logic import INTERVALS, BatchPlan, Candle, SlotPlan, Tick
from chalicelib.storage.db import DecimalAttribute, IntAttribute, get_or_none, is_condition_failure, register

TICK_TTL_S = 2 * 86400
TRADE_TTL_S = 86400
SYMBOL_CACHE_S = 60.0


# --- items ------------------------------------------------------------------------------------------------

# A table of their own (`market`) keeps the market items' churn (a state write per stream batch, send marks every
# second) off the main table's stream and out of its transactions' way.
class MarketModel(Model):
    class Meta:
        logical_table = "market"
        table_name = "sim-market"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


@register
class SymbolItem(MarketModel):
    symbol = UnicodeAttribute()
    name = UnicodeAttribute()
    custom = BooleanAttribute(default=False)
    price_precision = IntAttribute()
    quantity_precision = IntAttribute()
    min_quantity = DecimalAttribute()
    max_leverage = IntAttribute()
    owner_id = UnicodeAttribute(null=True)
    created_at = IntAttribute()

    @staticmethod
    def key(symbol: str) -> tuple[str, str]:
        return "SYMBOLS", symbol


@register
class MarketState(MarketModel):
    """Written by the tick stream handler (one writer per symbol) and the throttled senders."""
    last_price = DecimalAttribute(null=True)
    last_ts = IntAttribute(null=True)
    last_key = UnicodeAttribute(null=True)   # key of the latest tick by order (ts)
    last_seq = UnicodeAttribute(null=True)   # stream watermark: largest sequence number applied
    candles = UnicodeAttribute(null=True)    # JSON: interval -> the current candle (see _candles_json)
    market_at = IntAttribute(null=True)      # ticker + kline broadcast: last claimed slot
    market_sent = IntAttribute(null=True)    # ... last slot actually sent (dedupes redelivered messages)
    depth_at = IntAttribute(null=True)
    depth_sent = IntAttribute(null=True)
    depth_seq = IntAttribute(null=True)      # sequence of the last depth broadcast (+1 per slot sent, atomic)
    trades_at = IntAttribute(null=True)
    trades_sent = IntAttribute(null=True)
    trades_prev = IntAttribute(null=True)    # the slot sent before trades_sent: trades in (prev, sent] go out
    match_at = IntAttribute(null=True)       # matching trigger: last claimed slot
    market_posted = IntAttribute(null=True)  # when the last message of a channel was posted (ms)
    depth_posted = IntAttribute(null=True)
    trades_posted = IntAttribute(null=True)

    @staticmethod
    def key(symbol: str) -> tuple[str, str]:
        return f"SYM#{symbol}", "STATE"


@register
class CandleItem(MarketModel):
    open_time = IntAttribute()
    open = DecimalAttribute(null=True)
    high = DecimalAttribute(null=True)
    low = DecimalAttribute(null=True)
    close = DecimalAttribute(null=True)
    volume = DecimalAttribute(default=0)
    ticks = IntAttribute(default=0)
    open_key = UnicodeAttribute(null=True)
    close_key = UnicodeAttribute(null=True)
    seq = UnicodeAttribute(null=True)        # largest stream sequence number applied (late ticks)

    @staticmethod
    def key(symbol: str, interval: str, open_time: int) -> tuple[str, str]:
        return f"KLINE#{symbol}#{interval}", f"{open_time:013d}"


@register
class TradeItem(MarketModel):
    data = UnicodeAttribute()  # the trade as published (JSON, Decimal-exact)
    ts = IntAttribute()
    ttl = IntAttribute()


@register
class TickItem(Model):
    class Meta:
        logical_table = "ticks"
        table_name = "sim-ticks"

    pk = UnicodeAttribute(hash_key=True)   # symbol
    sk = UnicodeAttribute(range_key=True)  # <ts:013d>#<suffix>
    price = DecimalAttribute()
    ts = IntAttribute()
    by = UnicodeAttribute(null=True)       # user id of the pusher
    ttl = IntAttribute()


# --- symbols ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SymbolConfig:
    symbol: str
    name: str
    custom: bool
    price_precision: int
    quantity_precision: int
    min_quantity: Decimal
    max_leverage: int
    owner_id: str | None = None
    created_at: int = 0


class SymbolExists(Exception):
    pass


def _config(item: SymbolItem) -> SymbolConfig:
    return SymbolConfig(symbol=item.symbol, name=item.name, custom=bool(item.custom),
                        price_precision=item.price_precision, quantity_precision=item.quantity_precision,
                        min_quantity=item.min_quantity, max_leverage=item.max_leverage, owner_id=item.owner_id,
                        created_at=item.created_at or 0)


def builtin_config(symbol: str) -> SymbolConfig | None:
    b = logic.BUILTINS.get(symbol)
    return SymbolConfig(symbol=symbol, custom=False, **b) if b else None


def _item(cfg: SymbolConfig) -> SymbolItem:
    return SymbolItem(*SymbolItem.key(cfg.symbol), symbol=cfg.symbol, name=cfg.name, custom=cfg.custom,
                      price_precision=cfg.price_precision, quantity_precision=cfg.quantity_precision,
                      min_quantity=cfg.min_quantity, max_leverage=cfg.max_leverage, owner_id=cfg.owner_id,
                      created_at=cfg.created_at)


_cache: dict[str, tuple[float, SymbolConfig]] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def get_symbol(symbol: str, cached: bool = True) -> SymbolConfig | None:
    """A symbol's config: built-ins from code (no I/O), custom ones by one GetItem, cached for a minute.

    Only found symbols are cached (a symbol is never deleted), so a symbol created a moment ago is seen at once.
    """
    if not logic.valid_symbol(symbol):
        return None
    b = builtin_config(symbol)
    if b is not None:
        return b
    if cached:
        with _cache_lock:
            hit = _cache.get(symbol)
        if hit and hit[0] > time.monotonic():
            return hit[1]
    item = get_or_none(SymbolItem, *SymbolItem.key(symbol), consistent_read=True)
    if item is None:
        return None
    cfg = _config(item)
    with _cache_lock:
        _cache[symbol] = (time.monotonic() + SYMBOL_CACHE_S, cfg)
    return cfg


def create_symbol(cfg: SymbolConfig) -> SymbolConfig:
    if builtin_config(cfg.symbol) is not None:
        raise SymbolExists(cfg.symbol)
    try:
        _item(cfg).save(condition=SymbolItem.pk.does_not_exist())
    except PutError as e:
        if is_condition_failure(e):
            raise SymbolExists(cfg.symbol) from None
        raise
    return cfg


def ensure_builtin_symbols(existing: set[str] | None = None) -> None:
    """Idempotent: a conditional put of every built-in symbol not in `existing` (all when None)."""
    now = now_ms()
    for symbol in logic.BUILTINS:
        if existing is not None and symbol in existing:
            continue
        cfg = builtin_config(symbol)
        try:
            _item(SymbolConfig(**{**cfg.__dict__, "created_at": now})).save(condition=SymbolItem.pk.does_not_exist())
        except PutError as e:
            if not is_condition_failure(e):
                raise


def list_symbols() -> list[SymbolConfig]:
    """Every symbol, built-ins first then by symbol; built-in items are ensured on the way (once)."""
    items = [_config(i) for i in SymbolItem.query("SYMBOLS", consistent_read=True)]
    have = {c.symbol for c in items}
    missing = [s for s in logic.BUILTINS if s not in have]
    if missing:
        ensure_builtin_symbols(have)
        items += [builtin_config(s) for s in missing]
    return sorted(items, key=lambda c: (c.custom, c.symbol))


# --- ticks ------------------------------------------------------------------------------------------------

def put_tick(symbol: str, price: Decimal, ts: int, by: str | None = None) -> str:
    """The price-feed write: ONE PutItem into the ticks table (unique key: no condition needed)."""
    key = logic.tick_key(ts, uuid.uuid4().hex[:12])
    TickItem(symbol, key, price=price, ts=ts, by=by, ttl=ts // 1000 + TICK_TTL_S).save()
    return key


def latest_tick(symbol: str) -> Tick | None:
    """The most recent push (by key), read straight from the ticks table: fresh even before the stream ran."""
    for item in TickItem.query(symbol, scan_index_forward=False, limit=1, consistent_read=True):
        return Tick(symbol, item.sk, item.price, item.ts)
    return None


def tick_from_image(image: dict, seq: str | int) -> Tick | None:
    """A Tick from a stream record's NewImage (DynamoDB JSON)."""
    try:
        return Tick(symbol=image["pk"]["S"], key=image["sk"]["S"], price=Decimal(image["price"]["N"]),
                    ts=int(Decimal(image["ts"]["N"])), seq=int(seq))
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None


# --- market state and candles -----------------------------------------------------------------------------

def get_state(symbol: str, consistent: bool = True) -> MarketState:
    state = get_or_none(MarketState, *MarketState.key(symbol), consistent_read=consistent)
    return state if state is not None else MarketState(*MarketState.key(symbol))


def get_states(symbols: list[str]) -> dict[str, MarketState]:
    out = {}
    for item in MarketState.batch_get([MarketState.key(s) for s in symbols]):
        out[item.pk[4:]] = item
    return out


def _candle(item: CandleItem) -> Candle:
    return Candle(open_time=item.open_time, open=item.open, high=item.high, low=item.low, close=item.close,
                  volume=item.volume if item.volume is not None else Decimal(0), ticks=item.ticks or 0,
                  open_key=item.open_key, close_key=item.close_key, seq=int(item.seq) if item.seq else None)


_FIELDS = (("t", "open_time"), ("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"), ("n", "ticks"),
           ("ok", "open_key"), ("ck", "close_key"), ("s", "seq"))


def _candles_json(current: dict[str, Candle]) -> str:
    return jsonutil.dumps({iv: {k: getattr(c, a) for k, a in _FIELDS} for iv, c in current.items()})


def current_candles(state: MarketState) -> dict[str, Candle]:
    """The state's current candle of every interval (OHLC and ticks; volume lives in the candle items)."""
    if not state.candles:
        return {}
    out = {}
    for iv, d in jsonutil.loads(state.candles).items():
        c = Candle(open_time=int(d["t"]))
        for k, a in _FIELDS[1:]:
            v = d.get(k)
            setattr(c, a, int(v) if a in ("ticks", "seq") and v is not None else v)
        out[iv] = c
    return out


def get_candles(symbol: str, keys) -> dict[tuple[str, int], Candle]:
    """Stored candle items for (interval, open_time) keys (strongly consistent)."""
    keys = list(keys)
    if not keys:
        return {}
    out = {}
    for item in CandleItem.batch_get([CandleItem.key(symbol, iv, t) for iv, t in keys], consistent_read=True):
        out[(item.pk.rsplit("#", 1)[1], item.open_time)] = _candle(item)
    return out


def query_candles(symbol: str, interval: str, start: int | None, end: int | None, limit: int,
                  state: MarketState | None = None) -> list[Candle]:
    """Oldest first: with a start, the first `limit` from it; otherwise the last `limit` up to end. The items
    are overlaid with the state's current candle (read here unless given)."""
    pk = f"KLINE#{symbol}#{interval}"
    lo, hi = max(start or 0, 0), end if end is not None else 10 ** 13 - 1
    cond = CandleItem.sk.between(f"{lo:013d}", f"{hi:013d}")
    forward = start is not None
    items = [_candle(i) for i in CandleItem.query(pk, cond, scan_index_forward=forward, limit=limit,
                                                   page_size=min(limit, 1000))]
    state = state if state is not None else get_state(symbol, consistent=False)
    cur = current_candles(state).get(interval)
    if cur is not None and not lo <= cur.open_time <= hi:
        cur = None
    out = logic.overlay(items, cur)
    return out[:limit] if forward else out[-limit:]


class Conflict(Exception):
    """The state changed between read and write (another writer): re-read and retry."""


def _eq_or_missing(attr, value):
    return attr.does_not_exist() if value is None else (attr == value)


def _candle_actions(c: Candle) -> list:
    """SET of everything but the volume (which record_trade_volume ADDs): a retry writes the same values."""
    return [CandleItem.open_time.set(c.open_time), CandleItem.open.set(c.open), CandleItem.high.set(c.high),
            CandleItem.low.set(c.low), CandleItem.close.set(c.close), CandleItem.ticks.set(c.ticks),
            CandleItem.open_key.set(c.open_key), CandleItem.close_key.set(c.close_key),
            CandleItem.seq.set(str(c.seq) if c.seq is not None else None),
            CandleItem.volume.set(CandleItem.volume | Decimal(0))]


def commit_batch(symbol: str, old: MarketState, plan: BatchPlan, market: SlotPlan | None,
                 match: SlotPlan | None) -> None:
    """Write a batch: closed candles (plain overwrite), late ticks (conditional on the item's watermark), then
    the state in ONE conditional UpdateItem (watermark, last price, current candles, claimed slots), conditioned
    on what was read: the watermark, the slots and the market's last sent slot unchanged. No transaction: each
    item carries its own watermark, so a failure between the writes is repaired by the redelivered batch."""
    for (iv, open_time), c in plan.closes.items():
        CandleItem(*CandleItem.key(symbol, iv, open_time)).update(actions=_candle_actions(c))
    for (iv, open_time), (c, expected) in plan.late.items():
        try:
            CandleItem(*CandleItem.key(symbol, iv, open_time)).update(
                actions=_candle_actions(c),
                condition=_eq_or_missing(CandleItem.seq, str(expected) if expected is not None else None))
        except UpdateError as e:
            if is_condition_failure(e):
                raise Conflict(symbol) from None
            raise
    actions = [MarketState.last_seq.set(str(plan.watermark)), MarketState.candles.set(_candles_json(plan.current))]
    if plan.latest is not None:
        t = plan.latest
        actions += [MarketState.last_price.set(t.price), MarketState.last_ts.set(t.ts),
                    MarketState.last_key.set(t.key)]
    cond = _eq_or_missing(MarketState.last_seq, old.last_seq)
    if market is not None:
        # also when the plan is "none": the pending slot must not have been taken by its sender meanwhile,
        # so that this batch is committed before that sender's snapshot of the state
        cond &= _eq_or_missing(MarketState.market_at, old.market_at)
        cond &= _eq_or_missing(MarketState.market_sent, old.market_sent)
        if market.slot_at is not None:
            actions.append(MarketState.market_at.set(market.slot_at))
    if match is not None:
        cond &= _eq_or_missing(MarketState.match_at, old.match_at)
        if match.slot_at is not None:
            actions.append(MarketState.match_at.set(match.slot_at))
    try:
        MarketState(*MarketState.key(symbol)).update(actions=actions, condition=cond)
    except UpdateError as e:
        if is_condition_failure(e):
            raise Conflict(symbol) from None
        raise


def claim_slot(symbol: str, channel: str, old_at: int | None, new_at: int) -> bool:
    """Conditionally move a channel's slot (depth, trades, market, match) from old_at to new_at."""
    attr = getattr(MarketState, f"{channel}_at")
    try:
        MarketState(*MarketState.key(symbol)).update(actions=[attr.set(new_at)],
                                                     condition=_eq_or_missing(attr, old_at))
        return True
    except UpdateError as e:
        if is_condition_failure(e):
            return False
        raise


def mark_sent(symbol: str, channel: str, at: int) -> MarketState | None:
    """Record that the slot `at` of a channel is being sent; None when it (or a later one) already was.
    Returns the state after the update (the latest price etc.) on success."""
    sent = getattr(MarketState, f"{channel}_sent")
    actions = [sent.set(at)]
    if channel == "trades":
        actions.append(MarketState.trades_prev.set(MarketState.trades_sent | 0))
    if channel == "depth":  # the message of this slot gets the next sequence number: one per slot, no gaps
        actions.append(MarketState.depth_seq.add(1))
    item = MarketState(*MarketState.key(symbol))
    try:
        item.update(actions=actions, condition=sent.does_not_exist() | (sent < at))
    except UpdateError as e:
        if is_condition_failure(e):
            return None
        raise
    return item


def mark_posted(symbol: str, channel: str, previous: int | None, now: int) -> tuple[bool, int | None]:
    """Record a channel's posting time if the last one is still `previous`: (True, now), else (False, the
    newer posting time)."""
    attr = getattr(MarketState, f"{channel}_posted")
    try:
        MarketState(*MarketState.key(symbol)).update(actions=[attr.set(now)], condition=_eq_or_missing(attr, previous))
        return True, now
    except UpdateError as e:
        if not is_condition_failure(e):
            raise
    return False, getattr(get_state(symbol), f"{channel}_posted")


def add_volume(symbol: str, qty: Decimal, ts: int) -> None:
    """Traded quantity into the candle of every interval (ADD: commutes with the tick transaction)."""
    for iv in INTERVALS:
        open_time = logic.bucket(ts, iv)
        CandleItem(*CandleItem.key(symbol, iv, open_time)).update(actions=[
            CandleItem.volume.add(qty), CandleItem.open_time.set(open_time)])


def put_trade(symbol: str, trade: dict, ts: int) -> None:
    tid = str(trade.get("tradeId") or trade.get("id") or uuid.uuid4())
    TradeItem(f"TRADES#{symbol}", f"{ts:013d}#{tid}", data=jsonutil.dumps(trade), ts=ts,
              ttl=ts // 1000 + TRADE_TTL_S).save()


def trades_between(symbol: str, after: int, upto: int, limit: int = 200) -> list[dict]:
    """The latest `limit` trades published in (after, upto], oldest first."""
    cond = TradeItem.sk.between(f"{after + 1:013d}", f"{upto:013d}#\uffff")
    items = TradeItem.query(f"TRADES#{symbol}", cond, scan_index_forward=False, limit=limit)
    return [jsonutil.loads(i.data) for i in items][::-1]

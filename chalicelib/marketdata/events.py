"""Event handlers of the market-data pipeline (called by the thin Lambda handlers in app.py), and the hooks the
trading capability calls (record_trade_volume, publish_trade, notify_depth, reference_price).

Tick stream batch, per symbol:
  1. read the state item (watermark, current candles, slots)                         (1 read)
  2. apply the ticks above the watermark; plan the broadcast and matching slots     (pure: logic.py)
  3. write closed candles (when a bucket rolls over), then the state in ONE conditional UpdateItem
  4. after the commit: one flush message on the broadcast queue and one matching message, when claimed
A redelivered batch finds its ticks at or below the watermark and only re-drives sends not yet done.
"""
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from chalicelib.common.clock import now_ms
from chalicelib.common.logging import logger
from chalicelib.common.sqs import message_body
from chalicelib.marketdata import fanout, logic, queues, store
from chalicelib.marketdata.logic import BROADCAST_WINDOW_MS, MATCH_WINDOW_MS, SlotPlan, Tick

MAX_ATTEMPTS = 8


# --- the tick stream ---------------------------------------------------------------------------------------

def _record_parts(record) -> tuple[str | None, dict | None, str | None]:
    """(eventName, NewImage, SequenceNumber) of a chalice DynamoDBRecord or a raw Lambda record dict."""
    if hasattr(record, "new_image"):
        return record.event_name, record.new_image, record.sequence_number
    d = record.get("dynamodb", {})
    return record.get("eventName"), d.get("NewImage"), d.get("SequenceNumber")


def ticks_of(records: list) -> dict[str, list[Tick]]:
    out: dict[str, list[Tick]] = {}
    for r in records:
        name, image, seq = _record_parts(r)
        if name not in ("INSERT", "MODIFY") or not image or seq is None:
            continue  # REMOVE: TTL expiry of an old tick
        t = store.tick_from_image(image, seq)
        if t is None:
            logger.warning("malformed tick record skipped", extra={"seq": seq})
            continue
        out.setdefault(t.symbol, []).append(t)
    return out


def on_tick_records(records: list) -> None:
    """DynamoDB stream batch of the ticks table: candles, throttled broadcast, matching trigger.

    Symbols are independent: one failing symbol does not stop the others; the batch then fails (Lambda retries
    it) and the watermark makes the retry skip what was applied.
    """
    failed = []
    for symbol, ticks in ticks_of(records).items():
        try:
            process_symbol(symbol, ticks)
        except Exception:
            logger.exception("tick batch failed", extra={"symbol": symbol, "ticks": len(ticks)})
            failed.append(symbol)
    if failed:
        raise RuntimeError(f"tick batch failed for {', '.join(failed)}")


def process_symbol(symbol: str, ticks: list[Tick]) -> None:
    for _ in range(MAX_ATTEMPTS):
        state = store.get_state(symbol)
        watermark = int(state.last_seq) if state.last_seq else None
        if not logic.fresh(ticks, watermark):
            redrive(symbol, state)
            return
        current = store.current_candles(state)
        stored = store.get_candles(symbol, logic.stored_keys_needed(watermark, current, ticks))
        plan = logic.plan_batch(watermark, state.last_key, current, stored, ticks)
        now = now_ms()
        market = logic.plan_slot(now, state.market_at, BROADCAST_WINDOW_MS, state.market_sent)
        match = logic.plan_slot(now, state.match_at, MATCH_WINDOW_MS, early_ms=0)
        try:
            store.commit_batch(symbol, state, plan, market, match)
        except store.Conflict:
            continue  # someone else wrote in between: re-read, re-plan
        after_commit(symbol, market, match)
        return
    raise RuntimeError(f"{symbol}: state kept changing over {MAX_ATTEMPTS} attempts")


def after_commit(symbol: str, market: SlotPlan | None, match: SlotPlan | None) -> None:
    """The claimed sends go through the queues: the stream handler never waits for a fan-out (a shard's next
    batch would wait with it), and the broadcast handler waits for the slot when the message is early."""
    if match is not None and match.action != "none":
        queues.enqueue_matching(symbol, match.slot_at, match.delay_s)
    if market is not None and market.action != "none":
        queues.enqueue_flush(symbol, "market", market.slot_at, market.delay_s)


def _delay_for(at: int, now: int) -> int:
    return max(0, (at - now) // 1000)


def redrive(symbol: str, state) -> None:
    """A batch that was applied already (redelivery): make sure its claimed sends happen (they dedupe)."""
    now = now_ms()
    if state.market_at is not None and (state.market_sent or 0) < state.market_at:
        queues.enqueue_flush(symbol, "market", state.market_at, _delay_for(state.market_at, now))
    if state.match_at is not None and state.match_at > now - MATCH_WINDOW_MS:
        at = max(state.match_at, now)
        queues.enqueue_matching(symbol, state.match_at, -(-(at - now) // 1000), reason="redrive")


# --- the broadcast queue -----------------------------------------------------------------------------------

_body = message_body


def on_broadcast_messages(messages: list) -> None:
    """SQS batch of the broadcast queue: fan-out chunks (posted at once), then the flushes, in parallel (each
    waits for its own slot).

    No partial batch failure exists for Chalice queue handlers, so nothing here raises for one message: a
    chunk that fails is logged (re-posting the whole batch would duplicate what went out); a flush that fails
    is re-enqueued on its own.
    """
    bodies = [b for b in (_body(m) for m in messages) if b is not None]
    for b in bodies:
        if b.get("kind") == "chunk":
            try:
                start = now_ms()
                n = fanout.send_chunk(b)
                logger.debug("broadcast chunk", extra={"topic": b.get("topic"), "posted": n, "ms": now_ms() - start})
            except Exception:
                logger.exception("fan-out chunk failed", extra={"topic": b.get("topic")})
    flushes = [b for b in bodies if b.get("kind") == "flush"]
    if len(flushes) == 1:
        _flush(flushes[0])
    elif flushes:
        with ThreadPoolExecutor(max_workers=min(len(flushes), 10), thread_name_prefix="flush") as pool:
            list(pool.map(_flush, flushes))


def _flush(b: dict) -> None:
    try:
        fanout.deliver(b["symbol"], b["channel"], int(b["at"]))
    except Exception:
        logger.exception("flush failed; re-enqueued", extra={"symbol": b.get("symbol")})
        queues.enqueue_flush(b["symbol"], b["channel"], int(b["at"]), 1)


# --- hooks for the trading capability ----------------------------------------------------------------------

def request_broadcast(symbol: str, channel: str) -> None:
    """Throttled send of a channel not driven by ticks (depth, trades): claim a slot, then send or delay."""
    for _ in range(MAX_ATTEMPTS):
        state = store.get_state(symbol)
        old = getattr(state, f"{channel}_at")
        now = now_ms()
        plan = logic.plan_slot(now, old, BROADCAST_WINDOW_MS, getattr(state, f"{channel}_sent"))
        if plan.action == "none":
            return
        if not store.claim_slot(symbol, channel, old, plan.slot_at):
            continue
        queues.enqueue_flush(symbol, channel, plan.slot_at, plan.delay_s)
        return


def publish_trade(symbol: str, trade: dict) -> None:
    """A trade for the `trades` channel: stored, then broadcast (at most one message per second per symbol,
    carrying every trade published since the previous one). Does not add volume: see record_trade_volume."""
    store.put_trade(symbol, trade, now_ms())
    request_broadcast(symbol, "trades")


def notify_depth(symbol: str) -> None:
    """The book of a symbol changed: a throttled `depth` broadcast."""
    request_broadcast(symbol, "depth")


def record_trade_volume(symbol: str, qty, ts: int) -> None:
    """Traded quantity into the candles of every interval containing `ts` (ms)."""
    store.add_volume(symbol, Decimal(str(qty)), int(ts))


def reference_price(symbol: str) -> Decimal | None:
    """The latest pushed price (straight from the ticks table), for the matching check."""
    t = store.latest_tick(symbol)
    if t is not None:
        return t.price
    return store.get_state(symbol, consistent=False).last_price

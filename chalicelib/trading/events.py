"""Event handlers of the trading engine (called by the thin Lambda handlers in app.py).

  on_matching_messages  SQS `matching` queue ({"symbol", "at", "reason"} from the market-data pipeline): one
                        matching check per symbol per batch, never before its slot `at`.
  sweep                 once a minute: a check for every symbol with a reference price whose last matching slot
                        is older than SWEEP_QUIET_MS (no recent ticks), claiming the slot so that `nextMatchAt`
                        (GET /api/ticker) and the 5 s throttle stay right.
  main-table stream     publishers (chalicelib.realtime.private): `orders` and `positions` private channels, and
                        off the request path: depth broadcasts when a liquidity order changes, public trades and
                        candle volume for each trade, `order.filled` webhooks. At least once (a redelivered stream
                        batch may repeat a trade message); never on a request path, never blocking the batch.
                        A liquidity fill also feeds market-maker protection (mm_service.on_liquidity_fill).
  on_timer_messages     SQS `mmtimers` queue: the dead-man's switch and cancel-on-disconnect deadlines.
"""
import threading
import time
from decimal import Decimal

from chalicelib.common.clock import now_ms
from chalicelib.common.logging import logger
from chalicelib.common.sqs import message_body
from chalicelib.realtime.private import once_per_batch, register_publisher
from chalicelib.trading.orders import LIQUIDITY, TERMINAL
from chalicelib.trading.views import order_view, position_view_of, public_trade

MAX_WAIT_MS = 2_000  # a delayed message arrives at most this much before its slot; it waits for it
SWEEP_QUIET_MS = 55_000


_body = message_body


def wanted_checks(messages: list) -> dict[str, int]:
    """symbol -> the latest slot asked for, one check per symbol per batch."""
    out: dict[str, int] = {}
    for m in messages:
        body = _body(m)
        symbol = body.get("symbol") if body else None
        if not isinstance(symbol, str) or not 0 < len(symbol) <= 40:
            logger.warning("matching message without a symbol skipped")
            continue
        at = body.get("at")
        at = int(at) if isinstance(at, (int, float, Decimal)) and not isinstance(at, bool) else 0
        out[symbol] = max(out.get(symbol, 0), at)
    return out


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def on_matching_messages(messages: list) -> None:
    """SQS batch of the matching queue: run the matching check of each symbol named (deduplicated).

    Never raises: a failed check is logged, and the next tick or the minute sweep checks the symbol again
    (a raise would redeliver the whole batch, repeating the checks that succeeded)."""
    from chalicelib.trading.service import run_matching_check
    for symbol, at in sorted(wanted_checks(messages).items(), key=lambda kv: kv[1]):
        wait = at - now_ms()
        if wait > 0:  # the slot's check must read the prices pushed up to the slot
            _sleep(min(wait, MAX_WAIT_MS) / 1000)
        try:
            r = run_matching_check(symbol)
            logger.info("matching check", extra={"symbol": symbol, "fills": r.fills, "liquidations": r.liquidations,
                                                 "ordersRead": r.orders_read, "lost": r.lost})
        except Exception:
            logger.exception("matching check failed", extra={"symbol": symbol})


def sweep(now: int | None = None) -> list[str]:
    """Once a minute: a matching check for every symbol with a reference price and no matching slot in the last
    SWEEP_QUIET_MS (no recent tick). Returns the symbols checked."""
    from chalicelib.marketdata import store as md
    from chalicelib.trading.service import run_matching_check
    now = now or now_ms()
    symbols = [c.symbol for c in md.list_symbols()]
    states = md.get_states(symbols) if symbols else {}
    checked = []
    for symbol in symbols:
        st = states.get(symbol)
        if st is None or st.last_price is None:
            continue  # never priced: nothing can fill or be liquidated
        if st.match_at is not None and st.match_at > now - SWEEP_QUIET_MS:
            continue  # a tick-driven check ran (or is scheduled) recently
        try:
            if not md.claim_slot(symbol, "match", st.match_at, now):
                continue  # a tick claimed the slot meanwhile: its check runs
            run_matching_check(symbol)
            checked.append(symbol)
        except Exception:
            logger.exception("sweep check failed", extra={"symbol": symbol})
    return checked


# ---- main-table stream publishers -------------------------------------------------------------------------

_marks: dict[str, tuple[float, Decimal | None]] = {}
_marks_lock = threading.Lock()


def _mark(symbol: str) -> Decimal | None:
    """The reference price, cached for a second within a stream Lambda."""
    with _marks_lock:
        hit = _marks.get(symbol)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    from chalicelib.trading.store import reference_price
    price = reference_price(symbol)
    with _marks_lock:
        _marks[symbol] = (time.monotonic() + 1.0, price)
    return price


def _quietly(what: str, fn, *args) -> None:
    try:
        fn(*args)
    except Exception:
        logger.exception(f"{what} failed", extra={"args": [str(a)[:80] for a in args]})


def _order_filled_webhook(item: dict) -> None:
    from chalicelib.broker import events as webhooks
    webhooks.emit("order.filled", item["account_id"], order_view(item))


def publish_order(item: dict):
    """ORDER# images: the owner's `orders` channel; a changed liquidity order moves the depth; a terminal order
    with fills is an `order.filled` webhook for the account's brokers."""
    if "order_id" not in item or "account_id" not in item:
        return None
    if item.get("kind") == LIQUIDITY:  # one depth broadcast request per symbol per stream batch
        from chalicelib.marketdata import events as md
        once_per_batch(("depth", item["symbol"]), _quietly, "depth notify", md.notify_depth, item["symbol"])
    if item.get("status") in TERMINAL and Decimal(item.get("filled_quantity") or 0) > 0:
        _quietly("order.filled webhook", _order_filled_webhook, item)
    return "orders", item["account_id"], order_view(item)


def publish_position(item: dict):
    if "position_id" not in item or "account_id" not in item:
        return None
    mark = None
    try:
        mark = _mark(item["symbol"])
    except Exception:
        logger.exception("mark price unavailable", extra={"symbol": item.get("symbol")})
    return "positions", item["account_id"], position_view_of(item, mark)


def _trade(item: dict) -> None:
    from chalicelib.marketdata import events as md
    md.publish_trade(item["symbol"], public_trade(item))
    md.record_trade_volume(item["symbol"], Decimal(item["quantity"]), int(item["ts"]))


def publish_fill(item: dict):
    """FILLS# images: each trade once (the taker's fill, or the fill against the house) to the public `trades`
    channel and the candles' volume."""
    if "trade_id" not in item:
        return None
    if item.get("role") == "taker" or item.get("counterparty") == "house":
        _quietly("trade publish", _trade, item)
    if item.get("order_kind") == LIQUIDITY:  # market-maker protection counts the maker's fills
        from chalicelib.trading import mm_service
        _quietly("market-maker protection", mm_service.on_liquidity_fill, item)
    return None


def on_timer_messages(messages: list) -> None:
    """SQS batch of the `mmtimers` queue: dead-man's switch and cancel-on-disconnect deadlines. Never raises (a
    failed timer is logged; a raise would redeliver the batch's other timers too)."""
    from chalicelib.trading import mm_service
    for m in messages:
        body = _body(m)
        try:
            outcome = mm_service.fire_timer(body)
            logger.info("market-maker timer", extra={"kind": (body or {}).get("kind"), "outcome": outcome})
        except Exception:
            logger.exception("market-maker timer failed", extra={"kind": (body or {}).get("kind")})


def register() -> None:
    """Called by chalicelib/wiring.py: the main-table stream publishers of trading's items."""
    register_publisher("ORDER#", publish_order)
    register_publisher("POS#", publish_position)
    register_publisher("FILLS#", publish_fill)
    from chalicelib.realtime import handlers
    handlers.register_message("cancelOnDisconnect", ws_cancel_on_disconnect)
    handlers.register_disconnect("cancelOnDisconnect", ws_disconnected)


def ws_cancel_on_disconnect(connection_id: str, user_id: str | None, msg: dict) -> dict:
    from chalicelib.trading import mm_service  # lazily: the WebSocket Lambdas import it only when used
    return mm_service.ws_cancel_on_disconnect(connection_id, user_id, msg)


def ws_disconnected(connection_id: str, user_id: str | None) -> None:
    from chalicelib.trading import mm_service
    mm_service.ws_disconnected(connection_id, user_id)

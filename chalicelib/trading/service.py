"""Orchestration of the trading engine: read the state a plan needs, make the pure plan (matching.py, pairs.py),
write it as ONE conditional transaction (store.py). A condition that fails because the state moved on (a stale
book read, a concurrent fill or cancel) is either retried from a fresh read or answered with the contract's error.

Round trips (after authentication):
  reprice         1 consistent GetItem (the pair item carries both orders) + 1 TransactWriteItems
  pair / cancel   (0 | 1 GetItem) + 1 TransactWriteItems
  new order       latest tick (1 Query) + opposite liquidity book (1 Query, best first, limited)
                  + account and positions (1 BatchGetItem) + 1 TransactWriteItems
  matching check  latest tick + 4 book range queries (crossing orders only) + 2 liquidation range queries
                  + 1 BatchGetItem of the owners' positions + 1 TransactWriteItems per fill / liquidation
"""
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal

from chalicelib.common.clock import new_id, now_ms
from chalicelib.common.errors import ApiError, bad_request, conflict, insufficient_margin, not_found, refusals_as_api_errors
from chalicelib.common.logging import logger
from chalicelib.ledger.store import ConditionFailed, InsufficientFunds, Tx, TxConflict
from chalicelib.trading import keys, mm_store, mmp, pairs, store
from chalicelib.trading.margin import SymbolSpec, check_available, validate_leverage, validate_price, \
    validate_quantity
from chalicelib.trading.matching import OrderPlan, order_needs, plan_check, plan_order
from chalicelib.trading.models import order_item, pair_orders, partner_of, to_order, to_position
from chalicelib.trading.orders import (BUY, CANCELLED, LIMIT, LIQUIDITY, MARKET, PENDING, REJECTED, SELL, TRADER,
                                       Order, cancel_order, opposite)
from chalicelib.trading.positions import FLAT
from chalicelib.trading.views import fill_view, order_view

MAX_LIQUIDITY_FILLS = 10  # liquidity orders one new order may take (keeps its transaction under 100 items)
BOOK_READ = 3 * MAX_LIQUIDITY_FILLS  # book items read for a new order (the caller's own liquidity is skipped)
ATTEMPTS = 3  # a cancel re-reads this often when a concurrent change got in first
ORDER_ATTEMPTS = 10  # a new order re-reads the book and re-plans this often when the book moved under it
LIQUIDITY_ATTEMPTS = 6  # of which with the quoted liquidity; then against the platform at the reference price
REPRICE_ATTEMPTS = 5  # only TransactionConflict (the pair still pending) is retried
MAX_CHECK_ORDERS = 250  # crossing orders per book read by one matching check (more: a follow-up check)
MAX_CHECK_POSITIONS = 250  # liquidation candidates per side read by one matching check
CHECK_PASSES = 2  # a check re-reads once when some settlement lost a race
INFINITE = Decimal("Infinity")  # the margin check of pairs/reprices is the account condition of the transaction


class Busy(ApiError):
    def __init__(self):
        super().__init__(503, "BUSY", "the order book changed too often while placing the order; retry",
                         "Concurrent updates; retry the request")


def backoff(attempt: int) -> None:
    """Exponential backoff with full jitter (20, 40, 80, 160, 320 ms caps): transactions of one account that clash
    on its item (a bot's concurrent reprices) spread out instead of clashing again in step."""
    time.sleep(random.uniform(0.005, min(0.5, 0.01 * 2 ** (attempt + 1))))


# ---- symbols ---------------------------------------------------------------------------------------------

def symbol_spec(symbol) -> SymbolSpec:
    from chalicelib.marketdata import store as md  # symbol config: built-ins from code, custom ones cached
    cfg = md.get_symbol(symbol) if isinstance(symbol, str) else None
    if cfg is None:
        raise bad_request(f"unknown symbol {symbol!r}", "UNKNOWN_SYMBOL")
    return SymbolSpec(cfg.symbol, cfg.price_precision, cfg.quantity_precision, cfg.min_quantity, cfg.max_leverage)


# ---- trader orders ---------------------------------------------------------------------------------------

@dataclass
class Placed:
    plan: OrderPlan
    ctx: store.WriteContext
    fills: list = field(default_factory=list)

    def view(self) -> dict:
        out = order_view(order_item(self.plan.order, self.ctx.now, reason=self.ctx.reasons.get(
            self.plan.order.order_id)))
        out["fills"] = [fill_view(f) for f in self.fills if f.order_id == self.plan.order.order_id]
        return out


def _execute(order: Order) -> Placed:
    """Place a trader order (or a position close): plan against the current book and reference price, then ONE
    transaction (order, fills, ended pairs, positions, balances, ledger); re-planned when the book moved.

    Progress under quote churn: market makers reprice every second, each reprice ending the orders a plan took. A
    plan whose liquidity ended is re-made at once without it (the book index may still list it). After
    LIQUIDITY_ATTEMPTS plans that all found their quotes gone, the order is planned without liquidity: it fills
    against the platform at the reference price (rule 2 of matching.plan_order, as any unfilled rest does), so a
    trader's order never fails because the quotes move faster than it can commit. BUSY (503) remains only for an
    order with no reference price, or one whose own account or position keeps changing under it."""
    symbol, now = order.symbol, order.created_at
    opp = opposite(order.side)
    bound = keys.crossing_bound(opp, order.price) if order.type == LIMIT else None
    ended: set[str] = set()  # liquidity orders / pairs found no longer pending (the index may still list them)
    why: list[str] = []  # what each failed attempt ran into (logged when the order gives up)
    for attempt in range(ORDER_ATTEMPTS):
        reference = store.reference_price(symbol)
        house_only = attempt >= LIQUIDITY_ATTEMPTS  # the quotes moved under every plan: the platform fills it
        if house_only and reference is None:
            break
        items = [] if house_only else [
            i for i in store.book(symbol, LIQUIDITY, opp, bound=bound, limit=BOOK_READ + len(ended))
            if i.order_id not in ended and i.pair_id not in ended]
        liquidity = [to_order(i) for i in items] + [p for p in map(partner_of, items) if p is not None]
        needs = order_needs(order, liquidity, MAX_LIQUIDITY_FILLS)
        account, pos_items = store.read_positions(symbol, needs.account_ids | {order.account_id},
                                                  with_account=order.account_id)
        if account is None:
            raise not_found("account")
        positions = {a: to_position(p) for a, p in pos_items.items()}
        plan = plan_order(order, liquidity, reference, positions, max_liquidity_fills=MAX_LIQUIDITY_FILLS)
        if plan.error is not None:
            store.reject_order(plan.order, plan.error.code, now)
            raise plan.error.as_api_error(orderId=order.order_id, status=REJECTED)
        check_available(account.available_balance, plan.required_margin)
        ctx = store.WriteContext(symbol, now, positions=pos_items, reference=f"order:{order.order_id}")
        if plan.order.status == CANCELLED:
            ctx.reasons[order.order_id] = "unfilled rest cancelled (no reference price)"
        tx = Tx(now=now)
        store.add_settlement(tx, plan.settlement, ctx, taker_id=order.order_id)
        try:
            tx.commit()
            if house_only:
                logger.info("order filled by the platform: the quotes moved under every plan",
                            extra={"orderId": order.order_id, "attempts": why})
            return Placed(plan, ctx, ctx.fills)
        except (InsufficientFunds, ConditionFailed) as e:
            if "claim:new" in e.failed:
                raise conflict(f"clientOrderId {order.client_order_id} is used by an open order",
                               "DUPLICATE_CLIENT_ORDER_ID") from None
            stale = _stale_liquidity(e.failed, order.account_id, liquidity)
            if not stale and f"account:{order.account_id}" in e.failed:
                raise insufficient_margin() from None  # nothing else failed: the taker's own balance is short
            ended |= stale
            why.append(",".join(sorted({t.split(":", 1)[0] for t in e.failed})))
        except TxConflict:
            why.append("conflict")
        # the book or a position moved: read it again at once (a short jitter, no growing wait: the quotes churn
        # every second, so waiting only lets more of them move; what decides is a short read-to-commit window)
        time.sleep(random.uniform(0, 0.01))
    logger.warning("order gave up: the book moved under every attempt", extra={"orderId": order.order_id,
                                                                               "attempts": why})
    raise Busy()


def _stale_liquidity(failed: tuple, taker_id: str, liquidity: list[Order]) -> set[str]:
    """Order and pair ids a failed order transaction must not plan with again: every liquidity order or pair whose
    condition failed (the book index still listed it after it ended) and every liquidity order of a maker whose
    account condition failed (its margin moved with a reprice or another fill)."""
    ids = {t.split(":", 1)[1] for t in failed
           if t.startswith(("order:", "pair:")) and not t.startswith(("order:new", "pair:new"))}
    makers = {t.split(":", 1)[1] for t in failed if t.startswith("account:")} - {taker_id}
    for o in liquidity:
        if o.account_id in makers:
            ids.add(o.order_id)
            if o.pair_id:
                ids.add(o.pair_id)
    return ids


@refusals_as_api_errors
def place_order(account_id: str, *, symbol, side, type, quantity, price=None, leverage=1,
                client_order_id=None) -> dict:
    spec = symbol_spec(symbol)
    if side not in (BUY, SELL):
        raise bad_request("side must be buy or sell", "INVALID_SIDE")
    if type not in (MARKET, LIMIT):
        raise bad_request("type must be market or limit", "INVALID_TYPE")
    qty = validate_quantity(quantity, spec)
    lev = validate_leverage(leverage, spec.max_leverage)
    if type == LIMIT:
        if price is None:
            raise bad_request("price is required for a limit order", "INVALID_PRICE")
        price = validate_price(price, spec)
    else:
        price = None
    order = Order(new_id(), account_id, spec.symbol, side, type, TRADER, qty, price, lev, now_ms(),
                  client_order_id=client_order_id)
    return _execute(order).view()


@refusals_as_api_errors
def close_position(account_id: str, position_id: str) -> dict:
    """Market-close the whole position (a reduce-only market order): 200 {positionId, realizedPnl}."""
    item = next((p for p in store.positions_of(account_id)
                 if p.side != FLAT and position_id in (p.position_id, p.symbol)), None)
    if item is None:
        raise not_found("position")
    pos = to_position(item)
    order = Order(new_id(), account_id, item.symbol, pos.closing_side, MARKET, TRADER, pos.quantity, None,
                  pos.leverage, now_ms(), reduce_only=True)
    placed = _execute(order)
    change = placed.plan.settlement.positions.get(account_id)
    return {"positionId": item.position_id, "symbol": item.symbol, "orderId": order.order_id,
            "closedQuantity": placed.plan.order.filled_quantity,
            "realizedPnl": change.realized_pnl if change is not None else Decimal(0),
            "remainingQuantity": change.after.quantity if change is not None else pos.quantity}


def get_own_order(account_id: str, order_id: str):
    item = store.get_order(order_id) if isinstance(order_id, str) and 0 < len(order_id) <= 128 else None
    if item is None or item.account_id != account_id:
        raise not_found("order")
    return item


@refusals_as_api_errors
def cancel_trader_or_pair_order(account_id: str, order_id: str) -> dict:
    """DELETE /api/orders/{id}: a pending trader order, or the whole pair of a liquidity order."""
    for attempt in range(ATTEMPTS):
        item = get_own_order(account_id, order_id)
        if item.status != PENDING:
            raise bad_request(f"order {order_id} is {item.status}, not pending", "ORDER_NOT_PENDING")
        now = now_ms()
        order = to_order(item)
        changes = [cancel_order(order)]
        partner = partner_of(item)
        if partner is not None:
            changes.append(cancel_order(partner))
        versions = {order.order_id: item.version} if order.kind == TRADER else {}
        try:
            store.commit_cancel(changes, order.symbol, now, "cancelled", versions)
        except (ConditionFailed, TxConflict, InsufficientFunds):  # something ended it first: read again
            backoff(attempt)
            continue
        item.status, item.frozen_margin, item.updated_at, item.reason = CANCELLED, Decimal(0), now, "cancelled"
        out = order_view(item)
        out["cancelledOrderIds"] = [c.after.order_id for c in changes]
        return out
    raise Busy()


# ---- liquidity pairs -------------------------------------------------------------------------------------

@refusals_as_api_errors
def place_pair(account_id: str, *, symbol, pair_id=None, bid_price, ask_price, quantity, leverage=1) -> dict:
    spec = symbol_spec(symbol)
    pair_id = pair_id if pair_id is not None else new_id()
    for attempt in range(ATTEMPTS):
        now = now_ms()
        plan = pairs.plan_pair(account_id=account_id, spec=spec, pair_id=pair_id, bid_price=bid_price,
                               ask_price=ask_price, quantity=quantity, leverage=leverage, available=INFINITE,
                               buy_order_id=new_id(), sell_order_id=new_id(), now=now)
        try:
            store.commit_new_pair(plan, now)
        except InsufficientFunds:
            _raise_if_mmp_frozen(account_id)
            raise pairs.api_error(pairs.INSUFFICIENT_MARGIN) from None
        except ConditionFailed as e:
            if e.tag == "pair:new":
                raise conflict(f"pairId {pair_id} is already used", "PAIR_ID_IN_USE") from None
            raise
        except TxConflict:
            backoff(attempt)
            continue
        out = plan.response()
        out.update(symbol=spec.symbol, bidPrice=plan.buy.price, askPrice=plan.sell.price,
                   quantity=plan.buy.quantity, leverage=plan.buy.leverage, status=PENDING, createdAt=now)
        return out
    raise Busy()


def _raise_if_mmp_frozen(account_id: str) -> None:
    """The account condition of a pair/reprice transaction failed: not enough margin, or the MMP freeze (a read
    only on this failure path tells which)."""
    until = mm_store.frozen_until(account_id)
    if mmp.is_frozen(until, now_ms()):
        raise mmp.MMP_FROZEN.exc(frozenUntil=until if until < mmp.FOREVER else None)


def _pair_still_pending(account_id: str, pair_id: str) -> bool:
    p = store.get_pair(account_id, pair_id)
    return p is not None and p.status == PENDING


@refusals_as_api_errors
def reprice(account_id: str, body) -> dict:
    """POST /api/liquidity/reprice: one consistent read of the pair item, then ONE transaction (old orders and
    pair ended, margin released, new margin frozen — checked against available + released — new pair and
    orders created) or nothing. Losing a race is PAIR_NOT_PENDING."""
    request = pairs.parse_reprice(body)
    not_pending = pairs.api_error(pairs.pair_not_pending(request.pair_id))
    for attempt in range(REPRICE_ATTEMPTS):
        pair = store.get_pair(account_id, request.pair_id)
        if pair is None or pair.status != PENDING:
            raise not_pending
        spec = symbol_spec(pair.symbol)
        now = now_ms()
        plan = pairs.plan_reprice(account_id=account_id, request=request, orders=pair_orders(pair),
                                  available=INFINITE, new_pair_id=new_id(), buy_order_id=new_id(),
                                  sell_order_id=new_id(), now=now, spec=spec)
        try:
            store.commit_reprice(plan, now)
            return plan.response()
        except InsufficientFunds:
            if not _pair_still_pending(account_id, request.pair_id):
                raise not_pending from None
            _raise_if_mmp_frozen(account_id)
            raise pairs.api_error(pairs.INSUFFICIENT_MARGIN) from None
        except ConditionFailed as e:
            if e.tag == "pair:new" and _pair_still_pending(account_id, request.pair_id):
                raise conflict(f"pairId {plan.pair_id} is already used", "PAIR_ID_IN_USE") from None
            raise not_pending from None
        except TxConflict:  # another transaction on the pair or the account: re-read (a winner shows as repriced)
            backoff(attempt)
    raise not_pending


@refusals_as_api_errors
def cancel_pair(account_id: str, pair_id: str) -> dict:
    not_pending = pairs.api_error(pairs.pair_not_pending(pair_id))
    for attempt in range(ATTEMPTS):
        pair = store.get_pair(account_id, pair_id)
        if pair is None or pair.status != PENDING:
            raise not_pending
        plan = pairs.plan_pair_cancel(account_id=account_id, pair_id=pair_id, orders=pair_orders(pair))
        try:
            store.commit_cancel(plan.cancelled, pair.symbol, now_ms(), "cancelled")
            out = plan.response()
            out["releasedMargin"] = -plan.account_delta.frozen_margin
            return out
        except (ConditionFailed, InsufficientFunds):  # a fill or reprice ended the pair first
            if not _pair_still_pending(account_id, pair_id):
                raise not_pending from None
            backoff(attempt)
        except TxConflict:
            backoff(attempt)
    raise not_pending


# ---- the matching check ----------------------------------------------------------------------------------

@dataclass
class CheckReport:
    symbol: str
    reference: Decimal | None = None
    orders_read: int = 0  # crossing orders read from the book index
    positions_read: int = 0  # liquidation candidates + owners' positions
    settlements: int = 0
    committed: int = 0
    lost: int = 0  # a settlement whose condition failed (concurrent cancel/reprice/fill): skipped
    skipped: int = 0  # not attempted (an earlier settlement of the same account was lost)
    fills: int = 0
    liquidations: int = 0
    more: bool = False  # the check was capped: a follow-up check is due


def run_matching_check(symbol: str) -> CheckReport:
    """A matching check of `symbol` at its latest reference price (docs/matching.md, rule 2 and 4).

    Reads ONLY the crossing orders (range queries `gsi1sk < crossing_bound` on the four books) and the positions
    whose liquidation price the reference reaches (range queries on the liquidation index), plus the owners'
    positions. Each fill / liquidation is ONE transaction conditioned on the orders still pending and the
    positions unchanged: a concurrent cancel or reprice wins cleanly and the check goes on with the rest.
    """
    report = CheckReport(symbol)
    reference = store.reference_price(symbol)
    report.reference = reference
    if reference is None:
        return report
    dead: set[str] = set()  # orders found ended (a condition failed on them): not planned again
    for pass_no in range(CHECK_PASSES):
        items = []
        for kind in (TRADER, LIQUIDITY):
            for side in (BUY, SELL):
                got = store.book(symbol, kind, side, bound=keys.crossing_bound(side, reference),
                                 limit=MAX_CHECK_ORDERS)
                report.more |= len(got) >= MAX_CHECK_ORDERS
                items += got
        items = [i for i in items if i.order_id not in dead and i.pair_id not in dead]
        candidates = store.liquidation_candidates(symbol, reference, limit=MAX_CHECK_POSITIONS)
        report.more |= len(candidates) >= MAX_CHECK_POSITIONS
        report.orders_read += len(items)
        report.positions_read += len(candidates)
        if not items and not candidates:
            break
        owners = {i.account_id for i in items}
        if pass_no == 0:  # index copies of the candidates (version-checked on write); re-read on a retry pass
            pos_items = {c.account_id: c for c in candidates}
            missing = owners - set(pos_items)
        else:
            pos_items, missing = {}, owners | {c.account_id for c in candidates}
        if missing:
            _, fresh = store.read_positions(symbol, missing)
            report.positions_read += sum(1 for v in fresh.values() if v is not None)
            pos_items.update(fresh)
        orders = [to_order(i) for i in items] + [p for p in map(partner_of, items) if p is not None]
        positions = {a: to_position(p) for a, p in pos_items.items()}
        plan = plan_check(reference, orders, positions, symbol)
        report.settlements += len(plan)
        versions = {i.order_id: i.version for i in items if i.kind == TRADER}
        lost_accounts: set[str] = set()
        lost = 0
        for s in plan:
            accounts = set(s.accounts) | set(s.positions)
            if accounts & lost_accounts:
                report.skipped += 1
                continue
            now = now_ms()
            ctx = store.WriteContext(symbol, now, positions=pos_items, order_versions=versions,
                                     reference=f"check:{symbol}:{reference}")
            tx = Tx(now=now)
            written = store.add_settlement(tx, s, ctx)
            try:
                tx.commit()
            except (ConditionFailed, InsufficientFunds, TxConflict) as e:
                lost += 1
                lost_accounts |= accounts
                tag = getattr(e, "tag", "") or ""
                if tag.startswith("order:"):
                    dead.add(tag.split(":", 1)[1])
                elif tag.startswith("pair:"):
                    dead.add(tag.split(":", 1)[1])
                logger.info("matching settlement lost a race", extra={"symbol": symbol, "tag": tag,
                                                                       "error": type(e).__name__})
                continue
            pos_items.update(written)
            report.committed += 1
            report.fills += len(s.fills)
            report.liquidations += s.kind == "liquidation"
        report.lost += lost
        if not lost:
            break
    if report.more:
        _follow_up(symbol)
    return report


def _follow_up(symbol: str) -> None:
    """More orders crossed than one check takes: another check right away (through the matching queue)."""
    try:
        from chalicelib.marketdata import queues
        queues.enqueue_matching(symbol, now_ms(), 0, reason="continue")
    except Exception:
        logger.exception("follow-up matching check not enqueued (the sweep will run it)", extra={"symbol": symbol})

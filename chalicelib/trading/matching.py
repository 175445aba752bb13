"""The matching model of docs/matching.md as pure planning functions.

Nothing here reads or writes storage. A plan is a list of Settlements; each Settlement is one atomic unit
(one DynamoDB transaction): the fills, every touched order's before -> after, every touched position's
before -> after and each account's balance delta. Positions chain across the Settlements of one plan (the
`before` of an account's next change is the `after` of its previous one), so they can be written in order.

Inputs are Order / Position values the storage layer read:
  * plan_order: the new order, the opposite side's pending liquidity orders (best first is not required: they
    are sorted here) plus the other side of each of their pairs, the reference price, and the position of
    every account involved (Position() for an account without one). order_needs() says which.
  * plan_check: the orders that cross the reference price (keys.crossing_bound gives the index range) plus the
    other side of each crossing liquidity pair, and the positions of their owners and of every position that
    may be liquidated (keys.liquidation_key). check_needs() says which.
A missing position or pair partner raises MissingState (nothing is guessed); require_partners=False accepts a
pair whose other side is gone from storage (it then only fills the side given).
"""
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Iterable, Mapping

from chalicelib.common.errors import Rejected
from chalicelib.trading.margin import ZERO, AccountDelta, order_margin
from chalicelib.trading.orders import (BUY, CANCELLED, LIMIT, LIQUIDITY, MARKET, PENDING, REJECTED, SELL, TRADER,
                                       Order, OrderChange, cancel_order, fill_order, opposite)
from chalicelib.trading.positions import Position, PositionChange, apply_fill, liquidate, should_liquidate

HOUSE = "house"  # the platform is the counterparty
POSITION = "position"  # Fill.order_kind of a liquidation (no order)


@dataclass(frozen=True)
class Fill:
    """One side of a trade. A taker/maker trade gives two Fills that name each other."""
    order_id: str | None  # None for a liquidation
    account_id: str
    side: str  # buy | sell, of this account
    quantity: Decimal
    price: Decimal
    order_kind: str  # trader | liquidity | position
    counterparty: str  # trader | liquidity | house
    counterparty_order_id: str | None = None
    counterparty_account_id: str | None = None
    pair_id: str | None = None
    liquidation: bool = False

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price


@dataclass
class Settlement:
    kind: str  # order (a placement) | fill (a resting order at a check) | liquidation
    fills: list[Fill] = field(default_factory=list)
    orders: list[OrderChange] = field(default_factory=list)
    positions: dict[str, PositionChange] = field(default_factory=dict)
    accounts: dict[str, AccountDelta] = field(default_factory=dict)

    def _add_account(self, account_id: str, delta: AccountDelta) -> None:
        self.accounts[account_id] = self.accounts.get(account_id, AccountDelta()) + delta

    def _add_order(self, change: OrderChange) -> None:
        self.orders.append(change)
        self._add_account(change.after.account_id, AccountDelta(frozen_margin=change.frozen_delta))

    def _add_position(self, account_id: str, change: PositionChange) -> None:
        prev = self.positions.get(account_id)
        self.positions[account_id] = prev.then(change) if prev else change
        self._add_account(account_id, change.account_delta)


@dataclass
class OrderPlan:
    order: Order  # the new order's final state (written by the settlement's first OrderChange)
    settlement: Settlement
    required_margin: Decimal  # must be <= availableBalance before the order (margin.check_available)
    error: Rejected | None = None  # set when the order is rejected (status rejected, nothing to settle)


@dataclass(frozen=True)
class Needs:
    account_ids: frozenset = frozenset()
    pair_ids: frozenset = frozenset()


class MissingState(LookupError):
    def __init__(self, needs: Needs):
        super().__init__(f"missing positions for {sorted(needs.account_ids)}, "
                         f"pair partners for {sorted(needs.pair_ids)}")
        self.needs = needs


def crosses(side: str, limit: Decimal, price: Decimal) -> bool:
    """A buy at `limit` accepts `price` <= limit; a sell accepts price >= limit."""
    return price <= limit if side == BUY else price >= limit


# ---- a new trader order -----------------------------------------------------------------------------------


def _book(order: Order, liquidity: Iterable[Order]) -> list[Order]:
    """The opposite side's pending liquidity orders this order may take, in priority order (own orders skipped)."""
    book = sorted((o for o in liquidity if o.kind == LIQUIDITY and o.is_open and o.remaining > 0
                   and o.symbol == order.symbol and o.side == opposite(order.side)
                   and o.account_id != order.account_id), key=Order.priority)
    if order.type == LIMIT:
        book = [o for o in book if crosses(order.side, order.price, o.price)]
    return book


def _takes(order: Order, book: list[Order], max_liquidity_fills: int | None) -> list[Order]:
    taken, left = [], order.quantity
    for maker in book[:max_liquidity_fills] if max_liquidity_fills is not None else book:
        if left <= 0:
            break
        taken.append(maker)
        left -= min(left, maker.remaining)
    return taken


def order_needs(order: Order, liquidity: Iterable[Order], max_liquidity_fills: int | None = None) -> Needs:
    """The positions (account ids) and pair partners (pair ids) plan_order will need."""
    taken = _takes(order, _book(order, liquidity), max_liquidity_fills)
    return Needs(frozenset({order.account_id, *(m.account_id for m in taken)}),
                 frozenset(m.pair_id for m in taken if m.pair_id))


def _partners(orders: Iterable[Order]) -> dict[str, list[Order]]:
    by_pair: dict[str, list[Order]] = {}
    for o in orders:
        if o.kind == LIQUIDITY and o.pair_id:
            by_pair.setdefault(o.pair_id, []).append(o)
    return by_pair


def _require(needs: Needs, positions: Mapping[str, Position], pairs: Mapping[str, list[Order]],
             require_partners: bool) -> None:
    missing = Needs(frozenset(a for a in needs.account_ids if a not in positions),
                    frozenset(p for p in needs.pair_ids
                              if require_partners and len({o.order_id for o in pairs.get(p, ())}) < 2))
    if missing.account_ids or missing.pair_ids:
        raise MissingState(missing)


def _reject(order: Order, code: str, text: str) -> OrderPlan:
    rejected = replace(order, status=REJECTED, margin=ZERO, frozen_margin=ZERO)
    return OrderPlan(rejected, Settlement("order"), ZERO, Rejected(code, text, text))


def _end_pair(s: Settlement, maker: Order, quantity: Decimal, pairs: Mapping[str, list[Order]],
              current: dict[str, Order]) -> Decimal:
    """Fill `quantity` of a liquidity order and end its pair: the rest of both sides is cancelled."""
    change, margin = fill_order(current.get(maker.order_id, maker), quantity, maker.price, close_rest=True)
    s._add_order(change)
    current[maker.order_id] = change.after
    for other in pairs.get(maker.pair_id, ()) if maker.pair_id else ():
        other = current.get(other.order_id, other)
        if other.order_id != maker.order_id and other.is_open:
            cancelled = cancel_order(other)
            s._add_order(cancelled)
            current[other.order_id] = cancelled.after
    return margin


def plan_order(order: Order, liquidity: Iterable[Order], reference: Decimal | None,
               positions: Mapping[str, Position], *, max_liquidity_fills: int | None = None,
               require_partners: bool = True) -> OrderPlan:
    """Place a new trader order (market or limit; reduce_only for a position close).

    1. It takes the opposite side's pending liquidity orders, best price first, then oldest (a buy limit only
       asks at or below its price, a sell limit only bids at or above); each maker fill ends that pair.
    2. What is left fills at the reference price against the platform when a reference price exists and, for a
       limit order, satisfies the limit (buy: P <= limit, sell: P >= limit).
    3. A limit order's rest stays pending with its margin frozen; a market order's rest is cancelled (no
       reference price), and a market order that cannot fill at all is rejected.
    Margin: quantity × (limit price | best opposite liquidity price | reference price) / leverage, rounded up;
    the margin required is the rest's frozen margin plus what the fills add to the position (a fill that only
    reduces the position needs none). reduce_only orders freeze nothing and never open or flip a position.
    """
    liquidity = list(liquidity)
    book = _book(order, liquidity)
    pairs = _partners(liquidity)
    if order.type == LIMIT:
        margin_price = order.price
    elif order.type == MARKET:
        margin_price = book[0].price if book else reference
    else:
        raise ValueError(f"unknown order type {order.type}")
    if margin_price is None:
        return _reject(order, "NO_PRICE", f"no price for {order.symbol}: no liquidity and no reference price")
    if order.account_id not in positions:
        raise MissingState(Needs(frozenset({order.account_id})))
    quantity = order.quantity
    if order.reduce_only:
        pos = positions[order.account_id]
        if pos.is_flat or pos.closing_side != order.side:
            return _reject(order, "NO_POSITION", "no open position to reduce")
        quantity = min(quantity, pos.quantity)
    margin = ZERO if order.reduce_only else order_margin(quantity, margin_price, order.leverage)
    taker = replace(order, quantity=quantity, margin=margin, frozen_margin=margin, filled_quantity=ZERO,
                    avg_fill_price=None, status=PENDING)
    taken = _takes(taker, book, max_liquidity_fills)
    _require(Needs(frozenset({order.account_id, *(m.account_id for m in taken)}),
                   frozenset(m.pair_id for m in taken if m.pair_id)), positions, pairs, require_partners)

    s = Settlement("order")
    current_pos = dict(positions)
    current_orders: dict[str, Order] = {}

    def fill_taker(qty, price, counterparty, maker=None):
        nonlocal taker
        change, fill_margin = fill_order(taker, qty, price)
        taker = change.after
        pc = _apply(taker, qty, price, fill_margin, current_pos)
        s._add_position(taker.account_id, pc)
        s.fills.append(Fill(taker.order_id, taker.account_id, taker.side, qty, price, TRADER, counterparty,
                            maker and maker.order_id, maker and maker.account_id, maker and maker.pair_id))

    for maker in taken:
        qty = min(taker.remaining, maker.remaining)
        fill_taker(qty, maker.price, LIQUIDITY, maker)
        maker_margin = _end_pair(s, maker, qty, pairs, current_orders)
        s._add_position(maker.account_id, _apply(maker, qty, maker.price, maker_margin, current_pos))
        s.fills.append(Fill(maker.order_id, maker.account_id, maker.side, qty, maker.price, LIQUIDITY, TRADER,
                            taker.order_id, taker.account_id, maker.pair_id))
    if taker.remaining > 0 and reference is not None and (
            taker.type == MARKET or crosses(taker.side, taker.price, reference)):
        fill_taker(taker.remaining, reference, HOUSE)
    if taker.remaining > 0 and taker.type == MARKET:
        if taker.filled_quantity == 0:
            return _reject(order, "NO_LIQUIDITY", f"no liquidity and no reference price for {order.symbol}")
        taker = replace(taker, status=CANCELLED, frozen_margin=ZERO)  # filled what it could; the rest ends
    new = OrderChange(None, taker)
    s.orders.insert(0, new)
    s._add_account(taker.account_id, AccountDelta(frozen_margin=new.frozen_delta))
    taker_pos = s.positions.get(taker.account_id)
    required = taker.frozen_margin + (taker_pos.margin_added if taker_pos else ZERO)
    return OrderPlan(taker, s, required)


def _apply(order: Order, qty: Decimal, price: Decimal, margin: Decimal, current: dict[str, Position]
           ) -> PositionChange:
    change = apply_fill(current[order.account_id], order.side, qty, price, margin, order.leverage)
    current[order.account_id] = change.after
    return change


# ---- the matching check -----------------------------------------------------------------------------------


def crossing_orders(reference: Decimal, orders: Iterable[Order], symbol: str | None = None) -> list[Order]:
    """Pending limit orders (trader or liquidity) that fill at P, oldest first: buys with P <= price, sells
    with P >= price."""
    return sorted((o for o in orders if o.is_open and o.type == LIMIT and o.price is not None and o.remaining > 0
                   and (symbol is None or o.symbol == symbol) and crosses(o.side, o.price, reference)),
                  key=lambda o: (o.created_at, o.order_id))


def check_needs(reference: Decimal, orders: Iterable[Order], symbol: str | None = None) -> Needs:
    crossing = crossing_orders(reference, orders, symbol)
    return Needs(frozenset(o.account_id for o in crossing),
                 frozenset(o.pair_id for o in crossing if o.kind == LIQUIDITY and o.pair_id))


def _self_trade_cancel(o: Order, pairs: Mapping[str, list[Order]], current: dict[str, Order]) -> Settlement:
    """Self-trade prevention at a check: the account's own crossing liquidity is cancelled (its whole pair), not
    filled, when a trader order of the same account on the other side fills at the same check."""
    s = Settlement("self-trade")
    for side in [o, *(p for p in pairs.get(o.pair_id, ()) if p.order_id != o.order_id)] if o.pair_id else [o]:
        side = current.get(side.order_id, side)
        if side.is_open:
            change = cancel_order(side)
            s._add_order(change)
            current[side.order_id] = change.after
    return s


def plan_check(reference: Decimal, orders: Iterable[Order], positions: Mapping[str, Position],
               symbol: str | None = None, *, require_partners: bool = True) -> list[Settlement]:
    """A matching check at reference price P for one symbol.

    Every crossing pending order fills in full at its own price against the platform, oldest first (trader limit:
    buy when P <= limit, sell when P >= limit; liquidity bid when P <= bid, ask when P >= ask); a liquidity fill
    ends its pair (the other side is cancelled). Then every position in `positions` (as changed by those fills)
    whose loss at P reaches its margin is liquidated at P. One Settlement per fill and per liquidation.
    Self-trade prevention: when an account's trader order and that account's liquidity order on the other side both
    cross (its buy limit is at or above its own ask, or its sell limit at or below its own bid), the trader order
    fills and the liquidity order's pair is cancelled instead of filled (a Settlement of kind "self-trade").
    """
    orders = list(orders)
    pairs = _partners(orders)
    crossing = crossing_orders(reference, orders, symbol)
    _require(check_needs(reference, crossing), positions, pairs, require_partners)
    current_pos, current_orders = dict(positions), {}
    plan: list[Settlement] = []
    trader_sides = {(o.account_id, o.side) for o in crossing if o.kind == TRADER}
    for o in crossing:
        o = current_orders.get(o.order_id, o)
        if not o.is_open:  # ended earlier in this check (the other side of a pair that filled)
            continue
        if o.kind == LIQUIDITY and (o.account_id, opposite(o.side)) in trader_sides:
            plan.append(_self_trade_cancel(o, pairs, current_orders))
            continue
        s = Settlement("fill")
        qty = o.remaining
        if o.kind == LIQUIDITY:
            margin = _end_pair(s, o, qty, pairs, current_orders)
        else:
            change, margin = fill_order(o, qty, o.price)
            s._add_order(change)
            current_orders[o.order_id] = change.after
        s._add_position(o.account_id, _apply(o, qty, o.price, margin, current_pos))
        s.fills.append(Fill(o.order_id, o.account_id, o.side, qty, o.price, o.kind, HOUSE, pair_id=o.pair_id))
        plan.append(s)
    for account_id in sorted(current_pos):
        pos = current_pos[account_id]
        if should_liquidate(pos, reference):
            s = Settlement("liquidation")
            s._add_position(account_id, liquidate(pos, reference))
            s.fills.append(Fill(None, account_id, pos.closing_side, pos.quantity, reference, POSITION, HOUSE,
                                liquidation=True))
            current_pos[account_id] = s.positions[account_id].after
            plan.append(s)
    return plan


# ---- market data from the book ----------------------------------------------------------------------------


def aggregate_depth(orders: Iterable[Order], limit: int | None = None) -> dict:
    """Pending liquidity orders -> {"bids": [[price, qty]], "asks": [[price, qty]]}: remaining quantity summed
    per price, bids highest first, asks lowest first, at most `limit` levels each."""
    levels: dict[str, dict[Decimal, Decimal]] = {BUY: {}, SELL: {}}
    for o in orders:
        if o.kind == LIQUIDITY and o.is_open and o.remaining > 0:
            side = levels[o.side]
            side[o.price] = side.get(o.price, ZERO) + o.remaining
    bids = sorted(levels[BUY].items(), key=lambda kv: kv[0], reverse=True)[:limit]
    asks = sorted(levels[SELL].items(), key=lambda kv: kv[0])[:limit]
    return {"bids": [[p, q] for p, q in bids], "asks": [[p, q] for p, q in asks]}


def best_bid_ask(orders: Iterable[Order]) -> tuple[Decimal | None, Decimal | None]:
    """The best pending liquidity prices (None when a side is empty): /api/symbols and /api/ticker bid/ask."""
    depth = aggregate_depth(orders, 1)
    return (depth["bids"][0][0] if depth["bids"] else None, depth["asks"][0][0] if depth["asks"] else None)


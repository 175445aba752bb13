"""Liquidity pairs (market makers): place, reprice, cancel as pure plans, and the guide's exact error strings.

A plan holds every order change and the account's frozen-margin delta; the storage layer writes all of it in
one transaction, on the condition that the old orders are still pending (that condition is what makes exactly
one of N concurrent reprices win).
"""
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Iterable, Mapping

from chalicelib.common import errors
from chalicelib.common.errors import Conflict, ErrorSpec, Rejected
from chalicelib.trading.margin import AccountDelta, SymbolSpec, order_margin, validate_leverage, validate_price, \
    validate_quantity
from chalicelib.trading.orders import BUY, LIMIT, LIQUIDITY, SELL, Order, OrderChange, cancel_order

# ErrorSpec(status, code, error: the guide's exact string, English message); api_error(spec) makes the domain exception (Rejected).
MISSING_FIELDS = ErrorSpec(400, "MISSING_FIELDS", "pairId, newBidPrice, newAskPrice 必填",
                  "pairId, newBidPrice and newAskPrice are required")
INVERTED_SPREAD = ErrorSpec(400, "INVERTED_SPREAD", "newBidPrice 必須小於 newAskPrice",
                   "newBidPrice must be lower than newAskPrice")
INSUFFICIENT_MARGIN = errors.INSUFFICIENT_MARGIN


def pair_not_pending(pair_id: str) -> ErrorSpec:
    return ErrorSpec(400, "PAIR_NOT_PENDING", f"找不到 pairId={pair_id} 的 pending 流動性訂單",
            "No pending liquidity orders for this pairId: filled, cancelled or unknown")


def pair_incomplete(pair_id: str) -> ErrorSpec:
    return ErrorSpec(400, "PAIR_INCOMPLETE", f"pairId={pair_id} 的訂單不完整", "Only one side of the pair was found")


def api_error(spec: ErrorSpec) -> Rejected:
    return Rejected.of(spec)


def _bad(code: str, text: str) -> Rejected:
    return Rejected(code, text, text)


def _pair_id(value, name: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        raise _bad("INVALID_PAIR_ID", f"{name} must be a string of 1 to 128 characters")
    return value


@dataclass(frozen=True)
class RepriceRequest:
    pair_id: str
    new_bid: Decimal
    new_ask: Decimal
    new_pair_id: str | None = None


def parse_reprice(body: Mapping) -> RepriceRequest:
    """The reprice body, checked in the guide's order: MISSING_FIELDS, then types, then INVERTED_SPREAD."""
    if not isinstance(body, Mapping):
        raise _bad("BAD_REQUEST", "body must be a JSON object")
    if any(body.get(k) is None or body.get(k) == "" for k in ("pairId", "newBidPrice", "newAskPrice")):
        raise api_error(MISSING_FIELDS)
    pair_id = _pair_id(body["pairId"], "pairId")
    bid = validate_price(body["newBidPrice"], field="newBidPrice")
    ask = validate_price(body["newAskPrice"], field="newAskPrice")
    if bid >= ask:
        raise api_error(INVERTED_SPREAD)
    new_pair_id = body.get("newPairId")
    return RepriceRequest(pair_id, bid, ask, None if new_pair_id is None else _pair_id(new_pair_id, "newPairId"))


@dataclass(frozen=True)
class RepriceMargin:
    released: Decimal  # the old pair's frozen margin
    bid_margin: Decimal
    ask_margin: Decimal

    @property
    def new(self) -> Decimal:
        return self.bid_margin + self.ask_margin

    @property
    def net(self) -> Decimal:
        """Change of frozenMargin (and minus the change of availableBalance)."""
        return self.new - self.released

    def fits(self, available: Decimal) -> bool:
        return available + self.released >= self.new


def reprice_margin(quantity: Decimal, leverage: int, old_frozen: Decimal, new_bid: Decimal, new_ask: Decimal
                   ) -> RepriceMargin:
    return RepriceMargin(old_frozen, order_margin(quantity, new_bid, leverage),
                         order_margin(quantity, new_ask, leverage))


@dataclass
class PairPlan:
    pair_id: str
    buy: Order  # the new orders
    sell: Order
    released_margin: Decimal
    old_pair_id: str | None = None
    cancelled: list[OrderChange] = field(default_factory=list)  # the old orders (reprice)

    @property
    def frozen_margin(self) -> Decimal:
        return self.buy.margin + self.sell.margin

    @property
    def orders(self) -> list[OrderChange]:
        return [*self.cancelled, OrderChange(None, self.buy), OrderChange(None, self.sell)]

    @property
    def account_delta(self) -> AccountDelta:
        return AccountDelta(frozen_margin=self.frozen_margin - self.released_margin)

    def response(self) -> dict:
        out = {"pairId": self.pair_id, "buyOrderId": self.buy.order_id, "sellOrderId": self.sell.order_id}
        if self.old_pair_id is not None:
            out.update(oldPairId=self.old_pair_id, releasedMargin=self.released_margin)
        out["frozenMargin"] = self.frozen_margin
        return out


def _liquidity_order(template: Order, order_id: str, side: str, price: Decimal) -> Order:
    """A new side of a pair: account, symbol, pair, quantity, leverage and time from the template."""
    return Order(order_id, template.account_id, template.symbol, side, LIMIT, LIQUIDITY, template.quantity, price,
                 template.leverage, template.created_at, order_margin(template.quantity, price, template.leverage),
                 pair_id=template.pair_id)


def plan_pair(*, account_id: str, spec: SymbolSpec, pair_id: str, bid_price, ask_price, quantity, leverage=1,
              available: Decimal, buy_order_id: str, sell_order_id: str, now: int) -> PairPlan:
    """POST /api/liquidity/pairs: each side freezes quantity × price / leverage (0.01 at 70000, leverage 1: 700)."""
    bid = validate_price(bid_price, spec, "bidPrice")
    ask = validate_price(ask_price, spec, "askPrice")
    if bid >= ask:
        raise _bad("INVERTED_SPREAD", "bidPrice must be lower than askPrice")
    qty = validate_quantity(quantity, spec)
    lev = validate_leverage(leverage, spec.max_leverage)
    t = Order("", account_id, spec.symbol, BUY, LIMIT, LIQUIDITY, qty, None, lev, now,
              pair_id=_pair_id(pair_id, "pairId"))
    plan = PairPlan(pair_id, _liquidity_order(t, buy_order_id, BUY, bid), _liquidity_order(t, sell_order_id, SELL, ask),
                    released_margin=Decimal(0))
    if plan.frozen_margin > available:
        raise api_error(INSUFFICIENT_MARGIN)
    return plan


def _pending_sides(account_id: str, pair_id: str, orders: Iterable[Order]) -> tuple[Order, Order]:
    """The pair's two pending orders, or PAIR_NOT_PENDING (none: filled, cancelled, unknown or another account's)
    / PAIR_INCOMPLETE (one side only)."""
    pending = [o for o in orders if o.pair_id == pair_id and o.account_id == account_id and o.kind == LIQUIDITY
               and o.is_open]
    if not pending:
        raise api_error(pair_not_pending(pair_id))
    buys = [o for o in pending if o.side == BUY]
    sells = [o for o in pending if o.side == SELL]
    if len(buys) != 1 or len(sells) != 1:
        raise api_error(pair_incomplete(pair_id))
    return buys[0], sells[0]


def plan_reprice(*, account_id: str, request: RepriceRequest, orders: Iterable[Order], available: Decimal,
                 new_pair_id: str, buy_order_id: str, sell_order_id: str, now: int,
                 spec: SymbolSpec | None = None) -> PairPlan:
    """POST /api/liquidity/reprice: cancel both old orders, release their margin, freeze the new margin, create the
    new pair (same quantity and leverage per side) under request.new_pair_id if the client gave one, else
    new_pair_id (generated by the caller). The margin check counts the released margin: available + released >= new."""
    buy, sell = _pending_sides(account_id, request.pair_id, orders)
    new_pair_id = request.new_pair_id or new_pair_id
    if new_pair_id == request.pair_id:
        raise Conflict("PAIR_ID_IN_USE", f"pairId {new_pair_id} is already used")
    if spec is not None:
        validate_price(request.new_bid, spec, "newBidPrice")
        validate_price(request.new_ask, spec, "newAskPrice")
    new_buy = _liquidity_order(replace(buy, pair_id=new_pair_id, created_at=now), buy_order_id, BUY, request.new_bid)
    new_sell = _liquidity_order(replace(sell, pair_id=new_pair_id, created_at=now), sell_order_id, SELL,
                                request.new_ask)
    released = buy.frozen_margin + sell.frozen_margin
    plan = PairPlan(new_pair_id, new_buy, new_sell, released, request.pair_id, [cancel_order(buy), cancel_order(sell)])
    if available + released < plan.frozen_margin:
        raise api_error(INSUFFICIENT_MARGIN)
    return plan


@dataclass
class PairCancel:
    pair_id: str
    cancelled: list[OrderChange]

    @property
    def account_delta(self) -> AccountDelta:
        return AccountDelta(frozen_margin=sum((c.frozen_delta for c in self.cancelled), Decimal(0)))

    def response(self) -> dict:
        return {"pairId": self.pair_id, "cancelledOrderIds": [c.after.order_id for c in self.cancelled]}


def plan_pair_cancel(*, account_id: str, pair_id: str, orders: Iterable[Order]) -> PairCancel:
    """POST /api/liquidity/cancel (and DELETE /api/orders/{id} of a liquidity order): cancel every pending order
    of the pair; 400 PAIR_NOT_PENDING when none is pending."""
    pending = sorted((o for o in orders if o.pair_id == pair_id and o.account_id == account_id
                      and o.kind == LIQUIDITY and o.is_open), key=lambda o: o.side)
    if not pending:
        raise api_error(pair_not_pending(pair_id))
    return PairCancel(pair_id, [cancel_order(o) for o in pending])

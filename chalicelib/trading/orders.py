"""Orders: the value type, the status state machine, fills and cancellations (pure; returns new states)."""
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from chalicelib.trading.margin import MONEY_QUANTUM, ZERO, exact, share

BUY, SELL = "buy", "sell"
MARKET, LIMIT = "market", "limit"
TRADER, LIQUIDITY = "trader", "liquidity"
PENDING, FILLED, CANCELLED, REJECTED = "pending", "filled", "cancelled", "rejected"
TERMINAL = frozenset({FILLED, CANCELLED, REJECTED})
PRICE_QUANTUM = MONEY_QUANTUM  # averaged prices (avgFillPrice, entryPrice) are shown to 8 decimals

# None is "not yet written": a new order may be stored in any state; pending -> pending is a partial fill.
TRANSITIONS = {
    None: frozenset({PENDING, FILLED, CANCELLED, REJECTED}),
    PENDING: frozenset({PENDING, FILLED, CANCELLED}),
    FILLED: frozenset(), CANCELLED: frozenset(), REJECTED: frozenset(),
}


class InvalidTransition(ValueError):
    pass


def check_transition(old: str | None, new: str) -> None:
    if new not in TRANSITIONS.get(old, ()):
        raise InvalidTransition(f"order status {old} -> {new} is not allowed")


def opposite(side: str) -> str:
    return SELL if side == BUY else BUY


@dataclass(frozen=True)
class Order:
    """An order as the contract shows it, plus frozen_margin: the part of `margin` still held (0 once closed)."""
    order_id: str
    account_id: str
    symbol: str
    side: str  # buy | sell
    type: str  # market | limit (liquidity orders are limit)
    kind: str  # trader | liquidity
    quantity: Decimal
    price: Decimal | None  # the limit price; None for market orders
    leverage: int = 1
    created_at: int = 0
    margin: Decimal = ZERO  # frozen at placement: quantity × price / leverage
    frozen_margin: Decimal | None = None  # still held; defaults to margin
    filled_quantity: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    status: str = PENDING
    pair_id: str | None = None
    client_order_id: str | None = None
    reduce_only: bool = False  # position close: never opens, freezes nothing

    def __post_init__(self):
        if self.frozen_margin is None:
            object.__setattr__(self, "frozen_margin", self.margin)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status == PENDING

    def priority(self) -> tuple:
        """Sort key within one side: best price first, then oldest, then order id."""
        price = self.price if self.price is not None else ZERO
        return (-price if self.side == BUY else price, self.created_at, self.order_id)


@dataclass(frozen=True)
class OrderChange:
    """before (None for a new order) -> after; the storage layer writes `after` on condition `before`."""
    before: Order | None
    after: Order

    @property
    def frozen_delta(self) -> Decimal:
        return self.after.frozen_margin - (self.before.frozen_margin if self.before else ZERO)


@exact
def fill_order(order: Order, quantity: Decimal, price: Decimal, *, close_rest: bool = False
               ) -> tuple[OrderChange, Decimal]:
    """Fill `quantity` of a pending order at `price`.

    Returns the change and the fill's margin: the share of the still-frozen margin that belongs to the filled
    quantity (rounded down; the last fill takes all that is left). close_rest=True cancels what stays unfilled
    (status cancelled with filledQuantity > 0, the rest of the frozen margin released).
    """
    if not order.is_open:
        raise InvalidTransition(f"order {order.order_id} is {order.status}, not pending")
    if not 0 < quantity <= order.remaining:
        raise ValueError(f"fill quantity {quantity} outside (0, {order.remaining}] of order {order.order_id}")
    fill_margin = share(order.frozen_margin, quantity, order.remaining)
    filled = order.filled_quantity + quantity
    before_notional = (order.avg_fill_price or ZERO) * order.filled_quantity
    avg = ((before_notional + quantity * price) / filled).quantize(PRICE_QUANTUM, ROUND_HALF_EVEN)
    if order.filled_quantity == 0:
        avg = price  # a single fill shows its exact price
    frozen = (order.frozen_margin - fill_margin) or ZERO
    status = FILLED if filled == order.quantity else PENDING
    if status == PENDING and close_rest:
        status, frozen = CANCELLED, ZERO
    check_transition(order.status, status)
    return OrderChange(order, replace(order, filled_quantity=filled, avg_fill_price=avg, frozen_margin=frozen,
                                      status=status)), fill_margin


def cancel_order(order: Order) -> OrderChange:
    """pending -> cancelled; the remaining frozen margin is released (frozen_delta < 0)."""
    check_transition(order.status, CANCELLED)
    return OrderChange(order, replace(order, status=CANCELLED, frozen_margin=ZERO))

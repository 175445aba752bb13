"""Net positions per account and symbol: fills, PnL, liquidation (pure).

A position keeps its exact cost basis `cost` = Σ quantity × price of the open quantity, so realized PnL plus
unrealized PnL always equals the mark-to-market change, to the last digit. `entry_price` = cost / quantity is a
display value (8 decimals). Margin is isolated: a position never loses more than its margin; a loss beyond it
(a price gap) is `absorbed_loss`, carried by the platform.
"""
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_UP, Decimal

from chalicelib.trading.margin import MONEY_QUANTUM, ZERO, AccountDelta, exact, share
from chalicelib.trading.orders import BUY, PRICE_QUANTUM, SELL

LONG, SHORT, FLAT = "long", "short", "flat"


@dataclass(frozen=True)
class Position:
    side: str = FLAT
    quantity: Decimal = ZERO
    cost: Decimal = ZERO  # exact cost basis of the open quantity
    margin: Decimal = ZERO  # positionMargin held by this position
    leverage: int = 1

    @classmethod
    @exact
    def opened(cls, side: str, quantity: Decimal, entry_price: Decimal, margin: Decimal, leverage: int = 1):
        return cls(side, quantity, quantity * entry_price, margin, leverage)

    @property
    def is_flat(self) -> bool:
        return self.side == FLAT

    @property
    @exact
    def entry_price(self) -> Decimal | None:
        if self.is_flat:
            return None
        return (self.cost / self.quantity).quantize(PRICE_QUANTUM, ROUND_HALF_EVEN)

    @property
    def closing_side(self) -> str:
        return SELL if self.side == LONG else BUY


FLAT_POSITION = Position()


@dataclass(frozen=True)
class PositionChange:
    before: Position
    after: Position
    realized_pnl: Decimal = ZERO  # booked to balance; a loss is capped at the margin released with it
    absorbed_loss: Decimal = ZERO  # loss beyond that margin, carried by the platform (>= 0)
    margin_added: Decimal = ZERO  # order margin moved from frozenMargin into positionMargin
    margin_released: Decimal = ZERO  # positionMargin returned to availableBalance

    @property
    def account_delta(self) -> AccountDelta:
        """balance and positionMargin; the order side (frozenMargin) is OrderChange.frozen_delta."""
        return AccountDelta(balance=self.realized_pnl, position_margin=self.margin_added - self.margin_released)

    def then(self, nxt: "PositionChange") -> "PositionChange":
        """Two consecutive changes as one (nxt.before must be self.after)."""
        if nxt.before != self.after:
            raise ValueError("position changes do not chain")
        return PositionChange(self.before, nxt.after, self.realized_pnl + nxt.realized_pnl,
                              self.absorbed_loss + nxt.absorbed_loss, self.margin_added + nxt.margin_added,
                              self.margin_released + nxt.margin_released)


@exact
def apply_fill(position: Position, side: str, quantity: Decimal, price: Decimal, margin: Decimal = ZERO,
               leverage: int | None = None) -> PositionChange:
    """Apply a fill (side buy/sell, quantity, price) that brought `margin` (the order's share) with it.

    open/add: cost += quantity × price, the whole margin joins the position.
    reduce/close: the closed part's share of cost and margin leave the position; realized PnL =
      (exit - entry) × qty for a long, (entry - exit) × qty for a short; a loss beyond the released margin is
      absorbed_loss. The fill's own margin is released (it opens nothing).
    flip: close everything, then open the rest on the other side with its share of the fill's margin
      (rounded up: the platform never under-holds).
    """
    if quantity <= 0 or price <= 0 or margin < 0:
        raise ValueError("fill needs quantity > 0, price > 0, margin >= 0")
    direction = LONG if side == BUY else SHORT
    leverage = leverage or position.leverage
    if position.is_flat or position.side == direction:
        after = Position(direction, position.quantity + quantity, position.cost + quantity * price,
                         position.margin + margin, leverage)
        return PositionChange(position, after, margin_added=margin)

    closed = min(quantity, position.quantity)
    if closed == position.quantity:
        cost_out, margin_out = position.cost, position.margin
    else:
        cost_out = (position.cost * closed / position.quantity).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)
        margin_out = share(position.margin, closed, position.quantity)
    proceeds = closed * price
    pnl = proceeds - cost_out if position.side == LONG else cost_out - proceeds
    absorbed = max(ZERO, -pnl - margin_out)
    rest = position.quantity - closed
    after = replace(position, quantity=rest, cost=position.cost - cost_out, margin=position.margin - margin_out) \
        if rest else FLAT_POSITION
    opened, added = quantity - closed, ZERO
    if opened:
        added = share(margin, opened, quantity, ROUND_UP)
        after = Position(direction, opened, opened * price, added, leverage)
    return PositionChange(position, after, pnl + absorbed, absorbed, added, margin_out)


@exact
def unrealized_pnl(position: Position, mark: Decimal) -> Decimal:
    """Exact: long quantity × mark - cost, short cost - quantity × mark."""
    if position.is_flat:
        return ZERO
    value = position.quantity * mark
    return value - position.cost if position.side == LONG else position.cost - value


def should_liquidate(position: Position, mark: Decimal) -> bool:
    """The loss at `mark` reaches the margin (exact comparison)."""
    return not position.is_flat and unrealized_pnl(position, mark) <= -position.margin


@exact
def liquidation_price(position: Position) -> Decimal | None:
    """Where the loss reaches the margin: long (cost - margin) / qty = entry - margin/qty, rounded up and never
    below 0; short (cost + margin) / qty = entry + margin/qty, rounded down. The rounding errs towards the mark,
    so an index range query on it returns a superset of what should_liquidate() confirms."""
    if position.is_flat:
        return None
    if position.side == LONG:
        return max(ZERO, ((position.cost - position.margin) / position.quantity).quantize(PRICE_QUANTUM, ROUND_CEILING))
    return ((position.cost + position.margin) / position.quantity).quantize(PRICE_QUANTUM, ROUND_FLOOR)


def liquidate(position: Position, mark: Decimal) -> PositionChange:
    """Close the whole position at `mark`; the account loses at most the position's margin."""
    return apply_fill(position, position.closing_side, position.quantity, mark)


@exact
def position_view(position: Position, mark: Decimal | None) -> dict:
    """The contract's position fields (without positionId/symbol); money shown to 8 decimals."""
    upnl = unrealized_pnl(position, mark) if mark is not None else ZERO
    return {
        "side": position.side, "quantity": position.quantity, "entryPrice": position.entry_price,
        "markPrice": mark, "leverage": position.leverage, "margin": position.margin,
        "unrealizedPnl": upnl.quantize(MONEY_QUANTUM, ROUND_HALF_EVEN),
        "liquidationPrice": liquidation_price(position),
    }

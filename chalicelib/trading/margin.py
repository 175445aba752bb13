"""Margin arithmetic, account deltas and order-parameter validation. Pure: Decimal in, Decimal out, no I/O.

Rounding rules (published in docs/matching.md):
  * margin = quantity × price / leverage, rounded UP to 8 decimals (the platform never under-holds);
  * a part of a held amount that is released is rounded DOWN to 8 decimals (what stays held rounds up),
    and the last part releases exactly what is left, so a held amount always returns to zero.
"""
import functools
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal, localcontext

from chalicelib.common.decimals import parse_decimal
from chalicelib.common.errors import INSUFFICIENT_MARGIN, Rejected

MONEY_SCALE = 8
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)  # 0.00000001
ZERO = Decimal(0)
MAX_NUMBER = Decimal("1e15")  # sanity bound on prices and quantities (DynamoDB numbers carry 38 digits)
_PRECISION = 100  # working precision: products of validated values are exact, quotients are rounded by quantize


def exact(fn):
    """Run fn with enough Decimal precision that no product of validated values is silently rounded."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return fn(*args, **kwargs)
    return wrapper


@exact
def order_margin(quantity: Decimal, price: Decimal, leverage: int) -> Decimal:
    """quantity × price / leverage, rounded up to 8 decimals: 0.01 × 70000 / 1 = 700."""
    return (quantity * price / leverage).quantize(MONEY_QUANTUM, ROUND_UP)


@exact
def share(amount: Decimal, part: Decimal, whole: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    """The part/whole share of amount at 8 decimals (rounded down by default); exactly amount when part == whole."""
    if part == whole:
        return amount
    if whole <= 0 or not 0 <= part <= whole:
        raise ValueError(f"share {part}/{whole} out of range")
    return (amount * part / whole).quantize(MONEY_QUANTUM, rounding)


@dataclass(frozen=True)
class AccountDelta:
    """Change to an account's balance fields; availableBalance = balance - frozenMargin - positionMargin."""
    balance: Decimal = ZERO
    frozen_margin: Decimal = ZERO
    position_margin: Decimal = ZERO

    @property
    def available(self) -> Decimal:
        return self.balance - self.frozen_margin - self.position_margin

    def __add__(self, other: "AccountDelta") -> "AccountDelta":
        return AccountDelta(self.balance + other.balance, self.frozen_margin + other.frozen_margin,
                            self.position_margin + other.position_margin)

    def is_zero(self) -> bool:
        return not (self.balance or self.frozen_margin or self.position_margin)


# ---- validation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    price_precision: int
    quantity_precision: int
    min_quantity: Decimal
    max_leverage: int


def _number(value, field: str, code: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{field}: float given; money and prices are Decimal")
    try:
        return parse_decimal(value)  # the one number parser: a JSON number or a plain decimal string
    except ValueError as e:
        raise Rejected(code, f"{field} must be a number", f"{field} {e}") from None


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent)


def _bad(code: str, text: str) -> Rejected:
    return Rejected(code, text, text)


def validate_price(value, spec: SymbolSpec | None = None, field: str = "price") -> Decimal:
    """A positive, finite price with at most pricePrecision decimals."""
    price = _number(value, field, "INVALID_PRICE")
    if price <= 0:
        raise _bad("INVALID_PRICE", f"{field} must be greater than 0")
    if price > MAX_NUMBER:
        raise _bad("INVALID_PRICE", f"{field} must be at most {MAX_NUMBER:f}")
    if spec is not None and _decimals(price) > spec.price_precision:
        raise _bad("INVALID_PRICE",
                   f"{field} has more than {spec.price_precision} decimals (pricePrecision of {spec.symbol})")
    return price


def validate_quantity(value, spec: SymbolSpec | None = None, field: str = "quantity") -> Decimal:
    """A positive, finite quantity with at most quantityPrecision decimals and at least minQuantity."""
    qty = _number(value, field, "INVALID_QUANTITY")
    if qty <= 0:
        raise _bad("INVALID_QUANTITY", f"{field} must be greater than 0")
    if qty > MAX_NUMBER:
        raise _bad("INVALID_QUANTITY", f"{field} must be at most {MAX_NUMBER:f}")
    if spec is not None:
        if _decimals(qty) > spec.quantity_precision:
            raise _bad("INVALID_QUANTITY",
                       f"{field} has more than {spec.quantity_precision} decimals (quantityPrecision of {spec.symbol})")
        if qty < spec.min_quantity:
            raise _bad("INVALID_QUANTITY", f"{field} is below minQuantity {spec.min_quantity:f} of {spec.symbol}")
    return qty


def validate_leverage(value, max_leverage: int, field: str = "leverage") -> int:
    """An integer 1..maxLeverage (1, Decimal('5') and Decimal('5.0') are integers; 2.5 is not)."""
    bad = _bad("INVALID_LEVERAGE", f"{field} must be an integer from 1 to {max_leverage}")
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise bad
    try:
        lev = _number(value, field, "INVALID_LEVERAGE")
    except Rejected:
        raise bad from None
    if lev != lev.to_integral_value() or not 1 <= lev <= max_leverage:
        raise bad
    return int(lev)


def check_available(available: Decimal, required: Decimal) -> None:
    """400 INSUFFICIENT_MARGIN (the guide's exact string) unless available covers required."""
    if required > available:
        raise Rejected.of(INSUFFICIENT_MARGIN)

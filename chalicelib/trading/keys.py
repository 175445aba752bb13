"""Lexicographically sortable encodings of non-negative Decimal prices, for DynamoDB sort keys (pure).

encode_price(p): ascending. "0" for zero; otherwise "1" + 3-digit biased adjusted exponent + the significant
digits without trailing zeros (1.5 -> "150015", 70000 -> "15047", 0.001 -> "14971"). Equal values (1.5, 1.50)
encode equally; string order is numeric order.

encode_price_desc(p): descending. Each digit d of the ascending code becomes 9 - d, then "~" ends the code.
Codes are prefix-free, so string order is reversed numeric order.

Order book and liquidation sort keys are `<code>#<15-digit createdAt>#<id>` with the descending code on the buy
side and the ascending code on the sell side: ascending sort key order is best price first, then oldest.
Orders that cross a reference price P are then a single key condition `sk < crossing_bound(side, P)`.
"""
from decimal import Decimal

from chalicelib.trading.orders import BUY, SELL
from chalicelib.trading.positions import LONG, liquidation_price

_BIAS, _MIN_EXP, _MAX_EXP = 500, -500, 499
_FLIP = str.maketrans("0123456789", "9876543210")


def encode_price(price: Decimal) -> str:
    price = Decimal(price)
    if not price.is_finite() or price < 0:
        raise ValueError(f"cannot encode {price}: prices are finite and >= 0")
    if price == 0:
        return "0"
    exp = price.adjusted()
    if not _MIN_EXP <= exp <= _MAX_EXP:
        raise ValueError(f"price {price} out of the encodable range")
    digits = "".join(map(str, price.as_tuple().digits)).rstrip("0")
    return f"1{exp + _BIAS:03d}{digits}"


def encode_price_desc(price: Decimal) -> str:
    return encode_price(price).translate(_FLIP) + "~"


def decode_price(code: str) -> Decimal:
    """Inverse of encode_price and encode_price_desc (the value, normalized)."""
    if code.endswith("~"):
        code = code[:-1].translate(_FLIP)
    if code == "0":
        return Decimal(0)
    if code[0] != "1" or len(code) < 5:
        raise ValueError(f"not a price code: {code!r}")
    exp, digits = int(code[1:4]) - _BIAS, code[4:]
    return Decimal(f"0.{digits}").scaleb(exp + 1).normalize()


def side_code(side: str, price: Decimal) -> str:
    """Descending on the buy side (best bid = highest first), ascending on the sell side."""
    return encode_price_desc(price) if side == BUY else encode_price(price)


def book_key(side: str, price: Decimal, created_at: int, order_id: str) -> str:
    """Sort key of a resting order: priority order (best price, then oldest) is ascending key order."""
    return f"{side_code(side, price)}#{created_at:015d}#{order_id}"


def crossing_bound(side: str, reference: Decimal) -> str:
    """Keys `sk < bound` are the orders of `side` that cross P: buy side price >= P, sell side price <= P.

    ("#" < "$" < "0"-"9" < "~": an equal price's "#..." suffix sorts below "$", and a longer code of another
    price differs from the bound before the "$".)
    """
    return side_code(side, reference) + "$"


def book_partition(symbol: str, kind: str, side: str) -> str:
    """Suggested GSI partition of pending orders: one per symbol, kind (trader|liquidity) and side."""
    return f"BOOK#{symbol}#{kind}#{side}"


def liquidation_key(position, account_id: str) -> tuple[str, str]:
    """(index side, sort key) of an open position on its liquidation price.

    A long liquidates when P <= its liquidation price (a "buy" crossing), a short when P >= it (a "sell"
    crossing): query partition liquidation_partition(symbol, side) with `sk < crossing_bound(side, P)`, then
    confirm with positions.should_liquidate (the stored price is rounded towards the mark: a superset).
    """
    if position.is_flat:
        raise ValueError("a flat position has no liquidation price")
    side = BUY if position.side == LONG else SELL
    return side, f"{side_code(side, liquidation_price(position))}#{account_id}"


def liquidation_partition(symbol: str, side: str) -> str:
    return f"LIQ#{symbol}#{side}"

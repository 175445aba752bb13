"""Exact decimal arithmetic, once: money sums and products computed under `exact()` never round
(precision 100 digits, far above DynamoDB's 38).

`parse_decimal` / `parse_int`: the one number parser of every request field (common/schemas builds the pydantic
field types on it; pure domain modules that read raw bodies call it directly)."""
import re
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation, localcontext

EXACT_PRECISION = 100


@contextmanager
def exact():
    with localcontext() as c:
        c.prec = EXACT_PRECISION
        yield c


MAX_DIGITS = 38
DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
MAX_NUMBER_STRING = 80


def _digits(d: Decimal) -> int:
    """Digits as pydantic's max_digits counts them (12.34 -> 4, 0.001 -> 3, 1E+40 -> 41); no arithmetic, so an
    exponent bomb (1E+999999999) costs nothing."""
    _, digits, exponent = d.as_tuple()
    if exponent >= 0:
        return len(digits) + exponent
    return max(len(digits), -exponent)


def parse_decimal(v) -> Decimal:
    """The one number parser: a JSON number or a plain decimal string -> an exact, finite Decimal."""
    if isinstance(v, bool):
        raise ValueError("must be a number or a decimal string, not a boolean")
    if isinstance(v, str):
        if len(v) > MAX_NUMBER_STRING or not DECIMAL_RE.fullmatch(v):
            raise ValueError("must be a number or a plain decimal string like \"0.01\" (no exponent, no spaces)")
        try:
            d = Decimal(v)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            raise ValueError("must be a decimal number") from None
    elif isinstance(v, Decimal):
        d = v
    elif isinstance(v, int):
        d = Decimal(v)
    elif isinstance(v, float):  # never from the wire (jsonutil parses Decimal); from Python callers: exact repr
        d = Decimal(repr(v))
    else:
        raise ValueError("must be a number or a decimal string")
    if not d.is_finite():
        raise ValueError("must be a finite number")
    if _digits(d) > MAX_DIGITS:
        raise ValueError(f"must have at most {MAX_DIGITS} significant digits")
    return d


def parse_int(v) -> int:
    """An integer through the same parser: 5, "5" and 5.0 are 5; 2.5 and "2.5" are refused."""
    d = parse_decimal(v)
    if d != d.to_integral_value():
        raise ValueError("must be an integer")
    return int(d)

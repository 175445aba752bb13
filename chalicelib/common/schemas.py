"""Shared pydantic field types for request bodies and queries.

Numbers: every numeric request field (body or query) goes through ONE parser, `parse_decimal`: a JSON number
(already an exact Decimal: common/jsonutil parses floats as Decimal) or a plain decimal string ("0.01", "-1.5")
becomes the same exact Decimal; booleans, non-finite values, exponent forms in strings ("1e5"), hex, padded or
empty strings and more than 38 significant digits are refused (400 VALIDATION_ERROR through common/http.validate).
The field types below (Number, PositiveDecimal, NonNegativeDecimal, Int, ...) carry their own JSON schema
(number or decimal-string) for the OpenAPI document.
"""
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

MAX_DIGITS = 38
DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_MAX_STRING = 80


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
        if len(v) > _MAX_STRING or not DECIMAL_RE.fullmatch(v):
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


def _schema(minimum: str | None = None, exclusive: bool = False, integer: bool = False) -> dict:
    number: dict = {"type": "integer" if integer else "number"}
    if minimum is not None:
        number["exclusiveMinimum" if exclusive else "minimum"] = int(minimum) if integer else float(minimum)
    string = {"type": "string", "pattern": _DECIMAL_PATTERN if not integer else r"^-?[0-9]+$",
              "maxLength": _MAX_STRING}
    return {"anyOf": [number, string]}


# Any finite decimal (the domain checks its sign and precision: orders, pairs).
Number = Annotated[Decimal, BeforeValidator(parse_decimal), WithJsonSchema(_schema())]
PositiveDecimal = Annotated[Decimal, BeforeValidator(parse_decimal), Field(gt=0),
                            WithJsonSchema(_schema("0", exclusive=True))]
NonNegativeDecimal = Annotated[Decimal, BeforeValidator(parse_decimal), Field(ge=0), WithJsonSchema(_schema("0"))]


def Int(ge: int | None = None, le: int | None = None):
    """An integer field (query limits, precisions, leverage caps, timestamps) read by parse_int."""
    schema = _schema(None if ge is None else str(ge), integer=True)
    if le is not None:
        schema["anyOf"][0]["maximum"] = le
    return Annotated[int, BeforeValidator(parse_int), Field(ge=ge, le=le), WithJsonSchema(schema)]


def _no_number(v):
    if not isinstance(v, str):
        raise ValueError("must be a string")
    return v


Str = Annotated[str, BeforeValidator(_no_number)]
ShortStr = Annotated[str, BeforeValidator(_no_number), Field(min_length=1, max_length=128)]
# A new account's username (its characters: accounts.logic.check_username, one rule for every endpoint).
Username = Annotated[str, BeforeValidator(_no_number), Field(min_length=3, max_length=64)]


class Body(BaseModel):
    """Base of every request body: unknown fields are ignored, types are checked."""
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, defer_build=True)  # built on first use: cold start


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    limit: Int(ge=1, le=500) = 50
    cursor: str | None = None

"""Shared pydantic field types for request bodies and queries.

Numbers: every numeric request field (body or query) goes through ONE parser, `parse_decimal`: a JSON number
(already an exact Decimal: common/jsonutil parses floats as Decimal) or a plain decimal string ("0.01", "-1.5")
becomes the same exact Decimal; booleans, non-finite values, exponent forms in strings ("1e5"), hex, padded or
empty strings and more than 38 significant digits are refused (400 VALIDATION_ERROR through common/http.validate).
The field types below (Number, PositiveDecimal, NonNegativeDecimal, Int, ...) carry their own JSON schema
(number or decimal-string) for the OpenAPI document.
"""
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from chalicelib.common.decimals import MAX_NUMBER_STRING as _MAX_STRING, parse_decimal, parse_int

_DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


def _schema(minimum: int | None = None, exclusive: bool = False, integer: bool = False) -> dict:
    """The OpenAPI/JSON schema of a number field: a JSON number or a decimal string (bounds are whole numbers)."""
    number: dict = {"type": "integer" if integer else "number"}
    if minimum is not None:
        number["exclusiveMinimum" if exclusive else "minimum"] = minimum
    string = {"type": "string", "pattern": _DECIMAL_PATTERN if not integer else r"^-?[0-9]+$",
              "maxLength": _MAX_STRING}
    return {"anyOf": [number, string]}


# Any finite decimal (the domain checks its sign and precision: orders, pairs).
Number = Annotated[Decimal, BeforeValidator(parse_decimal), WithJsonSchema(_schema())]
PositiveDecimal = Annotated[Decimal, BeforeValidator(parse_decimal), Field(gt=0),
                            WithJsonSchema(_schema(0, exclusive=True))]
NonNegativeDecimal = Annotated[Decimal, BeforeValidator(parse_decimal), Field(ge=0), WithJsonSchema(_schema(0))]


def Int(ge: int | None = None, le: int | None = None):
    """An integer field (query limits, precisions, leverage caps, timestamps) read by parse_int."""
    schema = _schema(ge, integer=True)
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

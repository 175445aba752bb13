"""Shared pydantic field types for request bodies. Money and quantities are Decimal, finite and positive."""
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _no_bool(v):
    if isinstance(v, bool):
        raise ValueError("must be a number")
    return v


def _no_number(v):
    if not isinstance(v, str):
        raise ValueError("must be a string")
    return v


PositiveDecimal = Annotated[Decimal, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False, max_digits=38)]
NonNegativeDecimal = Annotated[Decimal, BeforeValidator(_no_bool), Field(ge=0, allow_inf_nan=False, max_digits=38)]
Str = Annotated[str, BeforeValidator(_no_number)]
ShortStr = Annotated[str, BeforeValidator(_no_number), Field(min_length=1, max_length=128)]
# A new account's username (its characters: accounts.logic.check_username, one rule for every endpoint).
Username = Annotated[str, BeforeValidator(_no_number), Field(min_length=3, max_length=64)]


class Body(BaseModel):
    """Base of every request body: unknown fields are ignored, types are checked."""
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, defer_build=True)  # built on first use: cold start


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None

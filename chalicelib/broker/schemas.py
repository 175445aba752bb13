"""Request models of the broker capability (bodies and queries of broker/routes.py and withdrawals/routes.py)."""
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from chalicelib.broker import scopes as S
from chalicelib.accounts.logic import USER_ID_RE
from chalicelib.common.schemas import Body, PageQuery, PositiveDecimal, Str, Username


class Page(PageQuery):
    cursor: str | None = Field(default=None, max_length=2048)


class DeliveriesQuery(Page):
    status: Literal["pending", "retrying", "succeeded", "failed"] | None = None
    event: str | None = Field(default=None, max_length=64)


class HistoryQuery(Page):
    client_id: str | None = Field(default=None, max_length=128)
    type: Literal["deposit", "withdraw"] | None = None


class ApiKeyBody(Body):
    name: Str = Field(min_length=1, max_length=64)
    scopes: list[Str] = Field(min_length=1, max_length=len(S.ALL_SCOPES) * 2)
    webhookUrl: Str | None = Field(default=None, max_length=2048)

    @field_validator("webhookUrl")
    @classmethod
    def _url(cls, v):
        if v in (None, ""):
            return None
        from urllib.parse import urlsplit
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise ValueError("must be an http(s) URL without credentials")
        return v


class SubBrokerBody(Body):
    username: Username
    password: Str = Field(min_length=8, max_length=128)
    email: Str | None = Field(default=None, max_length=254)
    name: Str | None = Field(default=None, max_length=128)


class UpgradeBody(Body):
    password: Str | None = Field(default=None, min_length=8, max_length=128)


class ClientBody(Body):
    user_id: str
    email: Str | None = Field(default=None, max_length=254)
    password: Str | None = Field(default=None, min_length=8, max_length=128)
    wallet_address: Str | None = Field(default=None, max_length=64)
    broker_id: Str | None = Field(default=None, max_length=64)  # admin keys: the broker to create the client under

    @field_validator("user_id", mode="before")
    @classmethod
    def _uid(cls, v):
        if isinstance(v, bool) or isinstance(v, float):
            raise ValueError("must be a string or an integer")
        if isinstance(v, Decimal):  # JSON numbers arrive as Decimal
            if v != v.to_integral_value():
                raise ValueError("must be a string or an integer")
            v = str(int(v))
        if isinstance(v, int):
            v = str(v)
        if not isinstance(v, str) or not USER_ID_RE.match(v.strip()):
            raise ValueError("must be 1 to 128 characters: letters, digits, _ . @ -")
        return v.strip()


class DepositBody(Body):
    amount: PositiveDecimal
    reference: Str | None = Field(default=None, max_length=256)


class WithdrawBody(Body):
    amount: PositiveDecimal
    wallet_address: Str | None = Field(default=None, max_length=64)


class OrdersQuery(Page):
    symbol: str | None = Field(default=None, max_length=32)
    status: Literal["pending", "filled", "cancelled", "rejected"] | None = None

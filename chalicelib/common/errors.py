"""The contract's error envelope: {"error": <message>, "code": <STABLE_CODE>, ...extra}.

Error constants have one shape, ErrorSpec(status, code, error, message): `spec.exc()` makes the exception.

Two exceptions: `Rejected` is a domain rule's refusal, raised by the pure modules (margin, pairs, matching), which
know nothing of HTTP; `ApiError` is the adapters' and services' (it carries the HTTP status). common/http.py
answers a `Rejected` as 400 (a `Conflict`, its subclass, as 409) with the same envelope, and a service's public
functions turn it into that `ApiError` at their boundary (`refusals_as_api_errors`).
"""
from typing import NamedTuple


class ApiError(Exception):
    def __init__(self, status: int, code: str, error: str, message: str | None = None, **extra):
        super().__init__(error)
        self.status, self.code, self.error, self.message, self.extra = status, code, error, message, extra

    def body(self) -> dict:
        out = {"error": self.error, "code": self.code}
        if self.message:
            out["message"] = self.message
        out.update(self.extra)
        return out


class Rejected(Exception):
    """A domain rule said no: the contract's stable `code`, exact `error` string and optional English message."""

    def __init__(self, code: str, error: str, message: str | None = None, **extra):
        super().__init__(error)
        self.code, self.error, self.message, self.extra = code, error, message, extra

    @classmethod
    def of(cls, spec: "ErrorSpec", **extra) -> "Rejected":
        return cls(spec.code, spec.error, spec.message, **extra)

    def body(self) -> dict:
        return self.as_api_error().body()

    def as_api_error(self, **extra) -> ApiError:
        """The adapters' answer: a refusal is the client's to fix (400); a clash with existing state is 409."""
        e = ApiError(409 if isinstance(self, Conflict) else 400, self.code, self.error, self.message)
        e.extra.update(self.extra, **extra)  # extra may hold a body field named "status"
        return e


class Conflict(Rejected):
    """The request clashes with existing state (an id already used)."""


def refusals_as_api_errors(fn):
    """A service's boundary: the domain's `Rejected` leaves it as the `ApiError` its callers (routes, handlers,
    tests driving the service) expect, with the same code, string and extra fields."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Rejected as e:
            raise e.as_api_error() from e
    return wrapper


def bad_request(error: str, code: str = "BAD_REQUEST", **kw) -> ApiError:
    return ApiError(400, code, error, **kw)


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found")


def forbidden(error: str = "forbidden", code: str = "FORBIDDEN") -> ApiError:
    return ApiError(403, code, error)


def conflict(error: str, code: str = "CONFLICT", **kw) -> ApiError:
    return ApiError(409, code, error, **kw)


class ErrorSpec(NamedTuple):
    """One error constant: HTTP status, stable code, the contract's exact error string, optional English message.
    (A NamedTuple: a small immutable record whose fields can also be read by position.)"""
    status: int
    code: str
    error: str
    message: str | None = None

    def exc(self, **extra) -> ApiError:
        return ApiError(self.status, self.code, self.error, self.message, **extra)


# Exact strings of the guide (api-contract.md, "Error strings from the guide").
# The foundation issue pins this body exactly (no message): {"error":"Session无效或已过期","code":"SESSION_INVALID"}.
SESSION_INVALID = ErrorSpec(401, "SESSION_INVALID", "Session无效或已过期")
INSUFFICIENT_MARGIN = ErrorSpec(400, "INSUFFICIENT_MARGIN", "可用保证金不足", "Not enough available balance for the margin")
INSUFFICIENT_BALANCE = ErrorSpec(400, "INSUFFICIENT_BALANCE", "Insufficient balance",
                                 "Not enough balance for this transfer")
LIQUIDITY_UNAVAILABLE = ErrorSpec(500, "LIQUIDITY_UNAVAILABLE", "LiquidityOrderManager 未初始化",
                                  "Liquidity subsystem not ready (tables or configuration missing)")


def session_invalid() -> ApiError:
    return SESSION_INVALID.exc()


def insufficient_margin() -> ApiError:
    return INSUFFICIENT_MARGIN.exc()


def insufficient_balance() -> ApiError:
    return INSUFFICIENT_BALANCE.exc()

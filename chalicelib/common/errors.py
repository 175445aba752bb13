"""The contract's error envelope: {"error": <message>, "code": <STABLE_CODE>, ...extra}."""


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


def bad_request(error: str, code: str = "BAD_REQUEST", **kw) -> ApiError:
    return ApiError(400, code, error, **kw)


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found")


def forbidden(error: str = "forbidden", code: str = "FORBIDDEN") -> ApiError:
    return ApiError(403, code, error)


def conflict(error: str, code: str = "CONFLICT", **kw) -> ApiError:
    return ApiError(409, code, error, **kw)


# Exact strings of the guide (api-contract.md, "Error strings from the guide").
SESSION_INVALID = ("Session无效或已过期", "SESSION_INVALID", "Session token missing, unknown or revoked")
INSUFFICIENT_MARGIN = ("可用保证金不足", "INSUFFICIENT_MARGIN", "Not enough available balance for the margin")


def session_invalid() -> ApiError:
    # The foundation issue pins this body exactly: {"error":"Session无效或已过期","code":"SESSION_INVALID"}.
    e, c, _ = SESSION_INVALID
    return ApiError(401, c, e)


def insufficient_margin() -> ApiError:
    e, c, m = INSUFFICIENT_MARGIN
    return ApiError(400, c, e, m)


def insufficient_balance() -> ApiError:
    return ApiError(400, "INSUFFICIENT_BALANCE", "Insufficient balance", "Not enough balance for this transfer")

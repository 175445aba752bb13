"""Errors of the SDK: every non-2xx answer is an ApiError carrying the platform's stable `code`."""


class SimtradeError(Exception):
    """Base class of the SDK's errors."""


class ApiError(SimtradeError):
    """A non-2xx answer: `status`, `code` (STABLE_UPPER_SNAKE_CODE), `error` (the exact server string), `body`."""

    def __init__(self, status: int, code: str | None, error: str | None, body=None, headers=None):
        self.status, self.code, self.error, self.body = status, code, error, body
        self.headers = dict(headers or {})
        self.message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"{status} {code or '-'}: {error or body!r}")


class AuthError(ApiError):
    """401: session missing, unknown or revoked (SESSION_INVALID), bad credentials or API key."""


class NotFound(ApiError):
    """404 (also: an object of another account; the platform never answers 403 for those)."""


class RateLimited(ApiError):
    """429 after the retries ran out."""


class ServerError(ApiError):
    """5xx after the retries ran out."""


class TransportError(SimtradeError):
    """The request did not get an answer (connection refused or reset, timeout) after the retries."""


def error_for(status: int, body, headers=None) -> ApiError:
    code = body.get("code") if isinstance(body, dict) else None
    error = body.get("error") if isinstance(body, dict) else (body if isinstance(body, str) else None)
    cls = {401: AuthError, 404: NotFound, 429: RateLimited}.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else ApiError
    return cls(status, code, error, body, headers)

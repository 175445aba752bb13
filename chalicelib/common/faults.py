"""Storage faults as the contract's error envelope: what the HTTP layer answers when DynamoDB says "not now".

common/http.py calls `storage_fault(exc)` in its catch-all branch; a fault it recognises becomes a clean JSON
error instead of 500 INTERNAL_ERROR:

- throttling (ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded) and transaction
  conflicts (TransactionConflict, TransactionInProgressException, ledger.store.TxConflict): 503
  SERVICE_UNAVAILABLE with `Retry-After`;
- DynamoDB's own InternalServerError / ServiceUnavailable and connection failures: 503 SERVICE_UNAVAILABLE with
  `Retry-After`;
- timeouts (ConnectTimeoutError, ReadTimeoutError): 504 STORAGE_TIMEOUT (the write may or may not have landed:
  every money-moving step is one transaction, so the outcome is all or nothing; the client re-reads or retries
  with the same Idempotency-Key).

Anything else returns None and stays the generic 500 envelope. The exception chain (pynamodb wraps botocore's
errors as `cause`, the app re-raises with `from`) is walked a few levels deep. No I/O here.
"""
from chalicelib.common.errors import ApiError

RETRY_AFTER_S = 1

THROTTLING = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                        "Throttling", "ThrottledException", "TooManyRequestsException"})
CONFLICT = frozenset({"TransactionConflict", "TransactionConflictException", "TransactionInProgressException"})
INTERNAL = frozenset({"InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException"})
TIMEOUT_TYPES = ("ConnectTimeoutError", "ReadTimeoutError", "ConnectTimeout", "ReadTimeout", "TimeoutError")
CONNECTION_TYPES = ("EndpointConnectionError", "ConnectionClosedError", "ConnectionError", "HTTPClientError")


def _codes(e: BaseException) -> set[str]:
    """Error codes carried by one exception: botocore's Error.Code and a cancelled transaction's reasons."""
    out: set[str] = set()
    resp = getattr(e, "response", None)
    if isinstance(resp, dict):
        code = (resp.get("Error") or {}).get("Code")
        if code:
            out.add(str(code))
        for r in resp.get("CancellationReasons") or ():
            if isinstance(r, dict) and r.get("Code"):
                out.add(str(r["Code"]))
    for r in getattr(e, "cancellation_reasons", None) or ():
        code = getattr(r, "code", None)
        if code:
            out.add(str(code))
    return out


def _chain(e: BaseException, depth: int = 8):
    seen = set()
    while e is not None and depth > 0 and id(e) not in seen:
        seen.add(id(e))
        yield e
        cause = getattr(e, "cause", None)  # pynamodb's wrapped botocore error
        e = cause if isinstance(cause, BaseException) else (e.__cause__ or e.__context__)
        depth -= 1


def classify(e: BaseException) -> str | None:
    """'throttled' | 'conflict' | 'internal' | 'timeout' | 'unreachable' | None."""
    for x in _chain(e):
        names = {t.__name__ for t in type(x).__mro__}
        codes = _codes(x)
        if codes & THROTTLING:
            return "throttled"
        if codes & CONFLICT or "TxConflict" in names:
            return "conflict"
        if codes & INTERNAL:
            return "internal"
        if names.intersection(TIMEOUT_TYPES):
            return "timeout"
        if names.intersection(CONNECTION_TYPES):
            return "unreachable"
    return None


def storage_fault(e: BaseException) -> ApiError | None:
    """The envelope for a recognised storage fault (headers in `.headers`), or None."""
    kind = classify(e)
    if kind is None:
        return None
    if kind == "timeout":
        err = ApiError(504, "STORAGE_TIMEOUT", "storage did not answer in time; retry with the same Idempotency-Key",
                       "The outcome is all or nothing: re-read before retrying a request without an Idempotency-Key")
    else:
        what = {"throttled": "storage is throttling requests", "conflict": "a concurrent update got in first",
                "internal": "storage had an internal error", "unreachable": "storage is unreachable"}[kind]
        err = ApiError(503, "SERVICE_UNAVAILABLE", f"{what}; retry", "Temporary: retry after Retry-After seconds (with the same Idempotency-Key)")
    err.headers = {"Retry-After": str(RETRY_AFTER_S)}
    err.fault = kind
    return err

"""Idempotency-Key for POSTs that move money or create objects (Stripe's model).

The first request with a key claims it with a conditional put (state in_progress, a short lease); when the view
returns, the response is stored for 24 h. A retry with the same key and body gets the stored response with
`Idempotent-Replayed: true`; a different body gets 422 IDEMPOTENCY_KEY_REUSED; a retry while the first is still
running gets 409 IDEMPOTENCY_IN_PROGRESS. 5xx answers are not stored (the client may retry them).

The claim rides in the request's money transaction: the first `ledger.store.Tx` committed while the key is held
also moves the record from in_progress to committed (condition: still in_progress), so "the record says
committed" and "the money moved" are one fact. A fault after that commit (a read for the answer, the final update,
a lost answer) never lets a retry run the operation again: the record stays, and a retry that finds it committed
without a stored answer gets 409 IDEMPOTENCY_IN_PROGRESS while the first request may still be finishing (its lease),
then 409 IDEMPOTENT_REQUEST_APPLIED (read the resource to see the result).
"""
import contextvars
import time

from chalice import Response
from pynamodb.exceptions import PutError

from chalicelib.common import jsonutil
from chalicelib.common.errors import ApiError
from chalicelib.storage.db import is_condition_failure
from chalicelib.storage.models import IdempotencyRecord

TTL_S = 24 * 3600
LEASE_S = 30
_held: contextvars.ContextVar = contextvars.ContextVar("idempotency_claim", default=None)


def held_claim():
    """The record of the Idempotency-Key this request holds and has not yet committed a transaction under."""
    return _held.get()


def claim_committed() -> None:
    """Tx.commit succeeded with the claim in it: later transactions of the same request leave it alone."""
    _held.set(None)


def commit_actions():
    return [IdempotencyRecord.state.set("committed")], IdempotencyRecord.state == "in_progress"


def _release(rec) -> None:
    """Forget a claim whose transaction never committed (a committed one stays: the retry must not re-run it)."""
    from pynamodb.exceptions import DeleteError
    try:
        rec.delete(condition=IdempotencyRecord.state == "in_progress")
    except DeleteError as e:
        if not is_condition_failure(e):
            raise
        try:  # committed: this request is over, so a retry may learn that at once (best effort: else at lease end)
            rec.update(actions=[IdempotencyRecord.lease_until.set(0)])
        except Exception:
            pass


def run(req, body_digest: str, call) -> Response:
    """`body_digest`: sha256 of the raw request body (common/http.body_hash), so this module needs no HTTP layer."""
    key = req.header("idempotency-key")
    if len(key) > 255:
        raise ApiError(400, "VALIDATION_ERROR", "Idempotency-Key is longer than 255 characters")
    principal = req.principal.user_id if req.principal else "anon"
    scope = f"{req.raw.method} {(req.raw.context or {}).get('resourcePath', '')} {sorted((req.raw.uri_params or {}).items())}"
    h = f"{body_digest}:{hash_text(scope)}"
    pk, sk = IdempotencyRecord.key(principal, key)
    now = int(time.time())
    rec = IdempotencyRecord(pk, sk, request_hash=h, state="in_progress", lease_until=now + LEASE_S, ttl=now + TTL_S)
    try:
        rec.save(condition=IdempotencyRecord.pk.does_not_exist()
                 | ((IdempotencyRecord.state == "in_progress") & (IdempotencyRecord.lease_until < now))
                 | (IdempotencyRecord.ttl < now))
    except PutError as e:
        if not is_condition_failure(e):
            raise
        existing = IdempotencyRecord.get(pk, sk, consistent_read=True)
        if existing.request_hash != h:
            raise ApiError(422, "IDEMPOTENCY_KEY_REUSED",
                           "Idempotency-Key was already used with a different request")
        if existing.state == "committed" and existing.lease_until < now:  # the first request died after its commit
            raise ApiError(409, "IDEMPOTENT_REQUEST_APPLIED", "a request with this Idempotency-Key was applied but "
                           "its answer was lost; read the resource to see the result")
        if existing.state != "done":
            raise ApiError(409, "IDEMPOTENCY_IN_PROGRESS", "a request with this Idempotency-Key is in progress")
        return Response(body=existing.body, status_code=existing.status_code,
                        headers={"Content-Type": "application/json; charset=utf-8", "Idempotent-Replayed": "true"})
    token = _held.set(rec)
    try:
        resp = call()
    except BaseException:
        _release(rec)
        raise
    finally:
        _held.reset(token)
    if resp.status_code >= 500:
        _release(rec)
        return resp
    body = resp.body if isinstance(resp.body, str) else jsonutil.dumps(resp.body)
    rec.update(actions=[IdempotencyRecord.state.set("done"), IdempotencyRecord.status_code.set(resp.status_code),
                        IdempotencyRecord.body.set(body)])
    return resp


def hash_text(s: str) -> str:
    import hashlib
    return hashlib.sha256(s.encode()).hexdigest()[:16]

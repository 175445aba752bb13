"""Rate limits and login throttling (docs/rate-limits.md).

Per principal (session token or API key), per fixed window (RATE_LIMIT_WINDOW_SECONDS), a counter item in the
`market` table holds across Lambda instances. The route layer (common/http.route) opens a `Meter` per
authenticated request:

- a request that commits a transaction is counted by it: the Meter is the ledger Tx's rider (ledger/store.RIDER),
  one more item of the first TransactWriteItems the request commits, whose condition `count < limit` cancels the
  whole transaction when the limit is reached (429, nothing written);
- a successful request that committed no transaction (a read, a plain PutItem) is counted after the view by one
  conditional UpdateItem; a read over the limit is answered 429 instead (it had no effect);
- a refused request (4xx) writes nothing, not even its counter: it counts in this instance's memory only.

`X-RateLimit-Limit` / `X-RateLimit-Remaining` go on every counted response. The count is exact when an UpdateItem
returned it; after a transaction (which returns no values) Remaining is this instance's count, never lower than
the truth. An instance that saw the limit reached refuses that principal's requests until the window ends without a
round trip, which bounds what a write without a transaction can overshoot (one per instance per window).
"""
import hashlib
import threading
from dataclasses import dataclass

from chalicelib import settings
from chalicelib.common import clock
from chalicelib.common.errors import ApiError
from chalicelib.ledger import store as ledger_store
from chalicelib.limits import logic, store

READS = ("GET", "HEAD", "OPTIONS")


class RateLimited(ApiError):
    """429 RATE_LIMITED in the contract's envelope, with Retry-After (and the X-RateLimit-* headers)."""

    def __init__(self, retry_after: int, limit: int | None = None, error: str = "Too many requests",
                 code: str = "RATE_LIMITED"):
        super().__init__(429, code, error, f"retry after {retry_after} s", retryAfter=retry_after)
        self.headers = {"Retry-After": str(retry_after)}
        if limit is not None:
            self.headers.update({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0"})


_seen_lock = threading.Lock()
_seen: dict[tuple[str, int], int] = {}  # (principal, window) -> highest count this instance knows of


def _note(key: tuple[str, int], count: int) -> int:
    with _seen_lock:
        if len(_seen) > 50000:
            _seen.clear()
        _seen[key] = max(count, _seen.get(key, 0))
        return _seen[key]


def source_ip(raw) -> str:
    """The caller's address as API Gateway saw it (requestContext.identity.sourceIp)."""
    ident = ((raw.context or {}).get("identity") or {}) if raw is not None else {}
    return str(ident.get("sourceIp") or "unknown")[:64]


def _principal_key(raw, principal) -> tuple[str, int] | None:
    s = settings.get()
    if principal.kind == "api_key":
        return f"k:{principal.key_id}", s.rate_limit_api_key
    auth = (raw.headers or {}).get("authorization") or ""
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    return (f"s:{hashlib.sha256(token.encode()).hexdigest()[:32]}", s.rate_limit_session) if token else None


@dataclass
class Meter:
    """One request's counter: a rider of the request's first transaction, or its own UpdateItem."""
    principal: str
    limit: int
    window: int
    window_s: int
    read: bool = False
    counted: bool = False
    ride: bool = True  # may still ride in a transaction
    count: int | None = None
    _token: object = None

    @property
    def pk(self) -> str:
        return f"RATE#{self.principal}"

    @property
    def due(self) -> bool:
        """The ledger Tx's question: add this counter to the transaction being committed?"""
        return self.ride and not self.counted

    def _refused(self) -> RateLimited:
        _note((self.principal, self.window), self.limit)
        self.counted, self.count = True, self.limit
        return RateLimited(logic.seconds_left(clock.now_ms(), self.window, self.window_s), self.limit)

    # --- the ledger Tx's rider protocol ---
    def add(self, tw) -> None:
        tw.update(store.Counter(self.pk, str(self.window)),
                  **store.increment_args(self.limit, logic.expiry_s(self.window, self.window_s)))

    def committed(self) -> None:
        self.counted = True
        with _seen_lock:  # this instance's count: one more (the transaction returned no value)
            key = (self.principal, self.window)
            self.count = _seen[key] = _seen.get(key, 0) + 1

    def skip(self) -> None:
        self.ride = False  # counted after the view instead

    def refused(self) -> RateLimited:
        return self._refused()

    # --- own round trip ---
    def hit(self) -> None:
        self.counted = True
        try:
            self.count = _note((self.principal, self.window),
                               store.hit(self.pk, str(self.window), self.limit,
                                         logic.expiry_s(self.window, self.window_s)))
        except store.LimitReached:
            raise self._refused() from None

    def headers(self) -> dict:
        used = self.count if self.count is not None else _seen.get((self.principal, self.window), 0)
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(logic.remaining(self.limit, used))}


def start(raw, principal, path: str) -> Meter | None:
    """Called by the route layer after authentication: refuses at once (no round trip) when this instance saw the
    limit reached in this window; else the Meter rides in the request's first transaction, if it commits one.
    Returns None when the request is not limited."""
    s = settings.get()
    key = _principal_key(raw, principal)
    if key is None or key[1] <= 0 or path in {p.strip() for p in s.rate_limit_exempt_paths.split(",")}:
        return None
    window = logic.window_of(clock.now_ms(), s.rate_limit_window_seconds)
    meter = Meter(key[0], key[1], window, s.rate_limit_window_seconds, read=raw.method in READS)
    if _seen.get((meter.principal, window), 0) >= meter.limit:
        raise meter._refused()
    meter._token = ledger_store.RIDER.set(meter)
    return meter


def finish(meter: Meter | None, response):
    """After the view: count a request that committed no transaction; put the headers on the response."""
    if meter is None:
        return response
    try:
        return _finish(meter, response)
    except Exception:  # the counter's own failure never costs the answer (fail open, logged)
        from chalicelib.common.logging import logger
        logger.exception("rate-limit counter failed")
        return response


def _finish(meter: Meter, response):
    if response.headers is None:
        response.headers = {}
    if meter._token is not None:
        ledger_store.RIDER.reset(meter._token)
        meter._token = None
    if not meter.counted and response.status_code >= 400:
        meter.counted = True  # a refusal changes nothing, not even the table: counted in this instance only
        with _seen_lock:
            key = (meter.principal, meter.window)
            meter.count = _seen[key] = _seen.get(key, 0) + 1
    elif not meter.counted:
        try:
            meter.hit()
        except RateLimited as e:
            if meter.read:  # a read has no effect: its answer becomes the 429
                response.status_code, response.body = 429, _body(e)
                response.headers = {"Content-Type": "application/json; charset=utf-8",
                                    **{k: v for k, v in response.headers.items() if k.lower().startswith("access-")},
                                    **e.headers}
    response.headers.update(meter.headers())
    if response.status_code == 429 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(logic.seconds_left(clock.now_ms(), meter.window, meter.window_s))
    return response


def _body(e: ApiError) -> str:
    from chalicelib.common import jsonutil
    return jsonutil.dumps(e.body())


# --- per source address (registration, SSO) -----------------------------------------------------------------

def per_address(bucket: str, raw) -> None:
    """Count a public request per source address (bucket: 'register' | 'sso'); over the limit: RateLimited."""
    s = settings.get()
    limit = {"register": s.rate_limit_register_ip, "sso": s.rate_limit_sso_ip}[bucket]
    if limit <= 0:
        return
    window = logic.window_of(clock.now_ms(), s.rate_limit_ip_window_seconds)
    try:
        store.hit(f"RATE#ip:{bucket}:{source_ip(raw)}", str(window), limit,
                  logic.expiry_s(window, s.rate_limit_ip_window_seconds))
    except store.LimitReached:
        raise RateLimited(logic.seconds_left(clock.now_ms(), window, s.rate_limit_ip_window_seconds),
                          limit) from None


# --- login throttling --------------------------------------------------------------------------------------

def _login_keys(username: str, ip: str, window: int) -> list[tuple[str, str]]:
    return [(f"LOGIN#u:{username.lower()}", str(window)), (f"LOGIN#ip:{ip}", str(window))]


def login_gate(username: str, ip: str) -> dict:
    """Before a password is checked: one BatchGetItem of the username's and the address's failure counters;
    while either is in its delay, 429 with Retry-After (the attempt is not checked and does not count)."""
    s = settings.get()
    now = clock.now_ms()
    window = logic.window_of(now, s.login_window_seconds)
    found = store.read(_login_keys(username, ip, window))
    until = max([c.until_ms or 0 for c in found.values()] + [0])
    if until > now:
        wait = max(1, -(-(until - now) // 1000))
        raise RateLimited(wait, error="Too many failed logins", code="LOGIN_THROTTLED")
    return {"window": window, "found": found}


def login_failed(username: str, ip: str, gate: dict) -> None:
    """A wrong password: one more failure on both counters; past the free ones, a doubling delay (capped)."""
    s = settings.get()
    now = clock.now_ms()
    window = gate["window"]
    for (pk, sk), free in zip(_login_keys(username, ip, window), (s.login_free_failures, s.login_free_failures_ip)):
        failures = int((gate["found"].get(pk) and gate["found"][pk].count) or 0) + 1
        delay = logic.login_delay_s(failures, free, s.login_delay_base_seconds, s.login_delay_max_seconds)
        store.add_failure(pk, sk, now + delay * 1000 if delay else None,
                          logic.expiry_s(window, s.login_window_seconds))


def login_succeeded(username: str, gate: dict) -> None:
    """The right password resets the username's failures (not the address's)."""
    pk, sk = _login_keys(username, "", gate["window"])[0]
    if pk in gate["found"]:
        store.clear(pk, sk)

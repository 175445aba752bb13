"""Backoff with full jitter, honouring Retry-After (seconds or an HTTP date)."""
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass
class RetryPolicy:
    """`attempts` in all (1 = no retry). Delay before retry n (1-based): uniform(0, min(cap, base * 2**(n-1)))
    (full jitter), or the server's Retry-After when it gives one (capped by `max_retry_after`)."""
    attempts: int = 4
    base: float = 0.25
    cap: float = 8.0
    max_retry_after: float = 60.0
    statuses: frozenset = field(default=RETRY_STATUSES)
    rand: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        server = retry_after_seconds(retry_after)
        if server is not None:
            return min(server, self.max_retry_after)
        return self.rand.uniform(0, min(self.cap, self.base * 2 ** (retry - 1)))

    def should_retry(self, status: int) -> bool:
        return status in self.statuses


NO_RETRY = RetryPolicy(attempts=1)

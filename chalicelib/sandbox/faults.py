"""The X-Sim-Fault header (sandbox only): pure parsing, no I/O.

    X-Sim-Fault: latency=<ms>          answer after <ms> more milliseconds (0..10000)
    X-Sim-Fault: status=<code>         answer <code> (400..599) in the error envelope without running the route;
                                       429 and 503 carry `Retry-After` (seconds, `retry-after=<s>`, default 1)
    X-Sim-Fault: drop-ws               drop the caller's WebSocket connections, then run the request
Several faults combine with commas: `latency=200,status=503`. Anything else is a 400 `INVALID_SIM_FAULT`.
"""
from dataclasses import dataclass

from chalicelib.common.errors import Rejected

MAX_LATENCY_MS = 10_000
MAX_RETRY_AFTER_S = 3600
RETRY_AFTER_STATUSES = (429, 503)


@dataclass(frozen=True)
class Faults:
    latency_ms: int = 0
    status: int | None = None
    retry_after_s: int = 1
    drop_ws: bool = False


def _invalid(why: str) -> Rejected:
    return Rejected("INVALID_SIM_FAULT", f"X-Sim-Fault: {why}",
                    "X-Sim-Fault is latency=<0..10000 ms>, status=<400..599>, retry-after=<s>, drop-ws (comma-separated)")


def _int(name: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise _invalid(f"{name} must be an integer from {low} to {high}")
    return int(value)


def parse(header: str) -> Faults:
    latency, status, retry_after, drop = 0, None, 1, False
    parts = [p.strip() for p in header.split(",")]
    if not header.strip() or any(not p for p in parts):
        raise _invalid("empty fault")
    for part in parts:
        name, _, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if name == "latency":
            latency = _int("latency", value, 0, MAX_LATENCY_MS)
        elif name == "status":
            status = _int("status", value, 400, 599)
        elif name == "retry-after":
            retry_after = _int("retry-after", value, 0, MAX_RETRY_AFTER_S)
        elif name == "drop-ws" and not value:
            drop = True
        else:
            raise _invalid(f"unknown fault {part[:40]!r}")
    return Faults(latency, status, retry_after, drop)

"""Time and ids, in one place so tests can see what the code uses.

Tests move time with `advance(ms)` / `reset()` (every caller of now_ms() sees the same shifted clock: timers such as
the withdrawal cooling period and the 24 h lock are driven this way without sleeping)."""
import time
import uuid

_offset_ms = 0


def now_ms() -> int:
    return int(time.time() * 1000) + _offset_ms


def advance(ms: int) -> int:
    """Move the clock forward by `ms` (tests only); returns the new now_ms()."""
    global _offset_ms
    _offset_ms += int(ms)
    return now_ms()


def reset() -> None:
    global _offset_ms
    _offset_ms = 0


def new_id() -> str:
    return str(uuid.uuid4())

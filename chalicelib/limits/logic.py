"""Rate-limit arithmetic (pure: no I/O, no clock reads; times are passed in).

Fixed windows: a window is `now // window_seconds`; a counter item per principal per window counts its requests.
Login throttling: after `free` failures within a window, each further failure adds a delay that doubles from
`base` seconds up to `cap` seconds.
"""
import math


def window_of(now_ms: int, window_s: int) -> int:
    return now_ms // (window_s * 1000)


def seconds_left(now_ms: int, window: int, window_s: int) -> int:
    """Whole seconds until `window` ends (at least 1): the Retry-After of a refused request."""
    end_ms = (window + 1) * window_s * 1000
    return max(1, math.ceil((end_ms - now_ms) / 1000))


def expiry_s(window: int, window_s: int) -> int:
    """TTL (epoch seconds) of a window's counter: a window after the one it counts."""
    return (window + 2) * window_s


def login_delay_s(failures: int, free: int, base: int, cap: int) -> int:
    """Seconds the next attempt must wait after `failures` failed attempts (0 while under `free`)."""
    if failures < free or free <= 0:
        return 0
    return min(cap, base * 2 ** min(failures - free, 30))


def remaining(limit: int, count: int) -> int:
    return max(0, limit - count)

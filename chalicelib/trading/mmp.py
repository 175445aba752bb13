"""Market-maker protection (MMP) and the market-maker tools' request rules, as pure functions (no I/O, no clock).

MMP: with a config {windowMs, quantityLimit, frozenMs}, the quantity of the account's liquidity fills whose time is
INSIDE the window ending at the latest fill (`latest.ts - fill.ts < windowMs`) is summed; when that sum reaches the
limit (`>= quantityLimit`, so exactly the limit trips) the account is frozen: its pending pairs are cancelled and new
pairs and reprices are refused (400 MMP_FROZEN) until `trippedAt + frozenMs`, or until a reset (frozenMs 0: only a
reset ends it). The window starts empty again after a trip.
"""
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping

from chalicelib.common.decimals import parse_decimal, parse_int
from chalicelib.common.errors import ErrorSpec, Rejected

MAX_WINDOW_MS = 24 * 3600 * 1000
MAX_FROZEN_MS = 24 * 3600 * 1000
FOREVER = 2 ** 62  # frozen until a reset
MAX_TIMEOUT_MS = 600_000  # cancel-all-after (the contract: 1000..600000)
MAX_GRACE_MS = 3600 * 1000  # cancel-on-disconnect
DEFAULT_GRACE_MS = 5000
MAX_BATCH = 25  # reprice-batch entries
MAX_ATOMIC_BATCH = 16  # atomic: 6 items per pair + the one account update = 97, + rate counter + idempotency record = 99 <= DynamoDB's 100

MMP_FROZEN = ErrorSpec(400, "MMP_FROZEN", "做市保護已凍結: 暫停新增及改價流動性訂單",
                       "Market-maker protection froze this account: no new pairs or reprices until it ends or a reset")


def _bad(code: str, text: str) -> Rejected:
    return Rejected(code, text, text)


def _int_field(body: Mapping, name: str, lo: int, hi: int, default: int | None = None) -> int:
    try:
        v = parse_int(body.get(name, default))  # the one number parser: 5 and "5" alike
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        raise _bad("VALIDATION_ERROR", f"{name} must be an integer from {lo} to {hi}")
    return v


@dataclass(frozen=True)
class MmpConfig:
    window_ms: int
    quantity_limit: Decimal
    frozen_ms: int

    def view(self) -> dict:
        return {"windowMs": self.window_ms, "quantityLimit": self.quantity_limit, "frozenMs": self.frozen_ms}


def parse_config(body) -> MmpConfig | None:
    """PUT /api/liquidity/mmp: {windowMs 1..86400000, quantityLimit > 0, frozenMs 0..86400000}; {"enabled": false}
    turns MMP off (None)."""
    if not isinstance(body, Mapping):
        raise _bad("VALIDATION_ERROR", "body must be a JSON object")
    if body.get("enabled") is False:
        return None
    window = _int_field(body, "windowMs", 1, MAX_WINDOW_MS)
    frozen = _int_field(body, "frozenMs", 0, MAX_FROZEN_MS)
    try:
        limit = parse_decimal(body.get("quantityLimit"))
    except ValueError:
        limit = None
    if limit is None or limit <= 0:
        raise _bad("VALIDATION_ERROR", "quantityLimit must be a positive number")
    return MmpConfig(window, limit, frozen)


@dataclass(frozen=True)
class WindowFill:
    ts: int
    quantity: Decimal
    fill_id: str

    def encode(self) -> str:
        return f"{self.ts}|{self.quantity}|{self.fill_id}"

    @staticmethod
    def decode(s: str) -> "WindowFill":
        ts, qty, fid = s.split("|", 2)
        return WindowFill(int(ts), Decimal(qty), fid)


def inside(cfg: MmpConfig, fills: Iterable[WindowFill], now: int) -> list[WindowFill]:
    """The fills inside the window that ends at `now` (now - ts < windowMs)."""
    return [f for f in fills if now - f.ts < cfg.window_ms]


@dataclass(frozen=True)
class MmpStep:
    fills: tuple[WindowFill, ...]  # the window after this fill (empty after a trip)
    tripped: bool
    window_quantity: Decimal  # the quantity that was compared with the limit
    duplicate: bool = False


def record_fill(cfg: MmpConfig, fills: Iterable[WindowFill], new: WindowFill) -> MmpStep:
    """Add one liquidity fill to the window; trips when the window's quantity reaches the limit. A fill already
    counted (a redelivered stream record) changes nothing."""
    fills = list(fills)
    if any(f.fill_id == new.fill_id for f in fills):
        return MmpStep(tuple(fills), False, sum((f.quantity for f in fills), Decimal(0)), duplicate=True)
    window = inside(cfg, [*fills, new], max([new.ts, *(f.ts for f in fills)]))
    total = sum((f.quantity for f in window), Decimal(0))
    if total >= cfg.quantity_limit:
        return MmpStep((), True, total)
    return MmpStep(tuple(sorted(window, key=lambda f: f.ts)), False, total)


def frozen_until(cfg: MmpConfig, tripped_at: int) -> int:
    return tripped_at + cfg.frozen_ms if cfg.frozen_ms > 0 else FOREVER


def is_frozen(until: int | None, now: int) -> bool:
    return until is not None and now < until


# ---- the other tools' request rules -------------------------------------------------------------------------

def parse_timeout(body) -> int:
    """POST /api/liquidity/cancel-all-after {timeoutMs}: 0 disables, else 1000..600000 (the timer's resolution is a
    second)."""
    if not isinstance(body, Mapping) or "timeoutMs" not in body:
        raise _bad("VALIDATION_ERROR", "timeoutMs is required (0 disables)")
    v = _int_field(body, "timeoutMs", 0, MAX_TIMEOUT_MS)
    if 0 < v < 1000:
        raise _bad("VALIDATION_ERROR", "timeoutMs must be 0 (off) or at least 1000")
    return v


def parse_cod(msg: Mapping) -> tuple[bool, int]:
    """{"type": "cancelOnDisconnect", "enabled": true|false, "graceMs": 0..3600000 (default 5000)}."""
    enabled = msg.get("enabled")
    if not isinstance(enabled, bool):
        raise _bad("VALIDATION_ERROR", "enabled must be true or false")
    grace = _int_field(msg, "graceMs", 0, MAX_GRACE_MS, DEFAULT_GRACE_MS)
    return enabled, grace


def batch_entries(body) -> tuple[list, bool]:
    """POST /api/liquidity/reprice-batch {reprices: [...], atomic?}: 1..25 entries (atomic: 1..16); no pairId or
    newPairId twice."""
    if not isinstance(body, Mapping):
        raise _bad("VALIDATION_ERROR", "body must be a JSON object")
    entries, atomic = body.get("reprices"), body.get("atomic", False)
    if not isinstance(atomic, bool):
        raise _bad("VALIDATION_ERROR", "atomic must be true or false")
    if not isinstance(entries, list) or not entries:
        raise _bad("VALIDATION_ERROR", "reprices must be a non-empty list")
    limit = MAX_ATOMIC_BATCH if atomic else MAX_BATCH
    if len(entries) > limit:
        raise _bad("BATCH_TOO_LARGE", f"at most {limit} reprices per {'atomic ' if atomic else ''}batch")
    seen = set()  # pairIds and newPairIds: one transaction may not touch an item twice
    for e in entries:
        for name in ("pairId", "newPairId"):
            pid = e.get(name) if isinstance(e, Mapping) else None
            if isinstance(pid, str) and pid:
                if pid in seen:
                    raise _bad("DUPLICATE_PAIR_ID", f"pairId {pid} appears more than once in the batch")
                seen.add(pid)
    return entries, atomic

"""The withdrawal state machine (pure): which transition may happen from which state, and when.

    pending --lock (broker, before coolingEndsAt)--------> broker_locked --settle (chain match)--> broker_completed
    pending <-unlock (the locker) / release (24 h, no match)- broker_locked
    pending --cool (coolingEndsAt passed, by the timer)--> processing --complete (admin, txHash)--> completed
    pending --cancel (the user)--> cancelled

Storage turns each transition into ONE conditional write whose condition is exactly `guard` below (status, and the
time or owner rule), so two racing transitions cannot both happen: the state check here gives the caller the
right error before writing, the condition makes it true under concurrency.
"""
from dataclasses import dataclass
from decimal import Decimal

PENDING, BROKER_LOCKED, BROKER_COMPLETED = "pending", "broker_locked", "broker_completed"
PROCESSING, COMPLETED, CANCELLED = "processing", "completed", "cancelled"
TERMINAL = (BROKER_COMPLETED, COMPLETED, CANCELLED)

LOCK, UNLOCK, RELEASE, SETTLE, COOL, COMPLETE, CANCEL = (
    "lock", "unlock", "release", "settle", "cool", "complete", "cancel")

# transition -> (from state, to state, webhook event)
TRANSITIONS = {
    LOCK: (PENDING, BROKER_LOCKED, "withdrawal.locked"),
    UNLOCK: (BROKER_LOCKED, PENDING, "withdrawal.unlocked"),
    RELEASE: (BROKER_LOCKED, PENDING, "withdrawal.released"),
    SETTLE: (BROKER_LOCKED, BROKER_COMPLETED, "withdrawal.broker_completed"),
    COOL: (PENDING, PROCESSING, "withdrawal.processing"),
    COMPLETE: (PROCESSING, COMPLETED, "withdrawal.completed"),
    CANCEL: (PENDING, CANCELLED, None),
}
LOCK_TIMEOUT_HOURS = 24


@dataclass(frozen=True)
class Refusal:
    """Why a transition may not happen: a stable reason the adapters map to the contract's errors."""
    reason: str  # wrong_state | cancelled | already_locked | cooling_ended | cooling_not_ended | not_locker | lock_not_expired


def source(transition: str) -> str:
    return TRANSITIONS[transition][0]


def target(transition: str) -> str:
    return TRANSITIONS[transition][1]


def event(transition: str) -> str | None:
    return TRANSITIONS[transition][2]


def check(transition: str, w, now: int, actor: str | None = None) -> Refusal | None:
    """None when `transition` may happen to withdrawal `w` (attributes status, cooling_ends_at, locked_by,
    lock_expires_at) at `now` (ms) by `actor`; else the Refusal."""
    status = w.status
    if transition == LOCK:
        if status == BROKER_LOCKED or status == BROKER_COMPLETED:
            return Refusal("already_locked")
        if status == CANCELLED:
            return Refusal("cancelled")
        if status != PENDING or w.cooling_ends_at <= now:
            return Refusal("cooling_ended")  # processing/completed, or pending past its cooling: the platform's
        return None
    if status != source(transition):
        return Refusal("wrong_state")
    if transition == UNLOCK and w.locked_by != actor:
        return Refusal("not_locker")
    if transition == SETTLE and w.locked_by != actor:
        return Refusal("not_locker")
    if transition == RELEASE and (w.lock_expires_at or 0) > now:
        return Refusal("lock_not_expired")
    if transition == COOL and w.cooling_ends_at > now:
        return Refusal("cooling_not_ended")
    return None


def lock_expiry(locked_at: int, hours: Decimal | int = LOCK_TIMEOUT_HOURS) -> int:
    return locked_at + int(hours * 3600 * 1000)


def user_can_cancel(status: str) -> bool:
    return status == PENDING

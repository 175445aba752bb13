"""Withdrawal rules (pure): fee, net amount, cooling period, the contract's views.

States (api-contract.md, "Withdrawals and P2P OTC"): pending -> broker_locked -> broker_completed, or
pending (cooling period over) -> processing -> completed; pending -> cancelled. This module creates requests in
`pending`; the withdrawals capability owns the life cycle.
"""
from decimal import ROUND_HALF_UP, Decimal

from chalicelib.withdrawals import settings

PENDING, BROKER_LOCKED, BROKER_COMPLETED = "pending", "broker_locked", "broker_completed"
PROCESSING, COMPLETED, CANCELLED = "processing", "completed", "cancelled"
STATUSES = (PENDING, BROKER_LOCKED, BROKER_COMPLETED, PROCESSING, COMPLETED, CANCELLED)
QUANTUM = Decimal("0.000001")  # USDC has 6 decimals


def fee_rate() -> Decimal:
    return settings.fee_rate()


def cooling_ms() -> int:
    return settings.cooling_ms()


def fee_for(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(QUANTUM, rounding=ROUND_HALF_UP)


def in_cooling(w, now: int) -> bool:
    return w.status == PENDING and w.cooling_ends_at > now


def _lock_fields(w) -> dict:
    out = {}
    if getattr(w, "locked_by", None):
        out.update({"lockedBy": w.locked_by, "lockedAt": w.locked_at, "lockExpiresAt": w.lock_expires_at})
    if getattr(w, "settled_by", None):
        out["settledBy"] = w.settled_by
    if getattr(w, "tx_hash", None):
        out["txHash"] = w.tx_hash
    return out


def view(w) -> dict:
    """The withdrawal object of the contract (same for a user's own and a broker's v1 read)."""
    return {"id": w.withdrawal_id, "status": w.status, "amount": w.amount, "fee": w.fee, "netAmount": w.net_amount,
            "currency": "DCT", "walletAddress": w.wallet_address, "coolingEndsAt": w.cooling_ends_at,
            "createdAt": w.created_at, "updatedAt": w.updated_at, "userId": w.user_id, **_lock_fields(w)}


def locker_view(w) -> dict:
    """What the broker holding the lock (or that settled it) sees: the pool's view plus the wallet to pay and the
    lock; still no user identity."""
    return {**pool_view(w), "walletAddress": w.wallet_address, "userWalletAddress": w.wallet_address,
            "updatedAt": w.updated_at, **_lock_fields(w)}


def pool_view(w) -> dict:
    """The OTC pool's view: no user identity, no wallet."""
    return {"id": w.withdrawal_id, "status": w.status, "amount": w.amount, "fee": w.fee, "netAmount": w.net_amount,
            "currency": "DCT", "coolingEndsAt": w.cooling_ends_at, "createdAt": w.created_at}

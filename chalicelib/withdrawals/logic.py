"""Withdrawal rules (pure): fee, net amount, cooling period, the contract's views.

States (api-contract.md, "Withdrawals and P2P OTC"): pending -> broker_locked -> broker_completed, or
pending (cooling period over) -> processing -> completed; pending -> cancelled. This module creates requests in
`pending`; the withdrawals capability owns the life cycle.
"""
from decimal import ROUND_HALF_UP, Decimal

from chalicelib import config

PENDING, BROKER_LOCKED, BROKER_COMPLETED = "pending", "broker_locked", "broker_completed"
PROCESSING, COMPLETED, CANCELLED = "processing", "completed", "cancelled"
STATUSES = (PENDING, BROKER_LOCKED, BROKER_COMPLETED, PROCESSING, COMPLETED, CANCELLED)
QUANTUM = Decimal("0.000001")  # USDC has 6 decimals


def fee_rate() -> Decimal:
    return config.withdrawal_fee_rate()


def cooling_ms() -> int:
    return config.withdrawal_cooling_ms()


def fee_for(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(QUANTUM, rounding=ROUND_HALF_UP)


def in_cooling(w, now: int) -> bool:
    return w.status == PENDING and w.cooling_ends_at > now


def view(w) -> dict:
    """The withdrawal object of the contract (same for a user's own and a broker's v1 read)."""
    return {"id": w.withdrawal_id, "status": w.status, "amount": w.amount, "fee": w.fee, "netAmount": w.net_amount,
            "currency": "DCT", "walletAddress": w.wallet_address, "coolingEndsAt": w.cooling_ends_at,
            "createdAt": w.created_at, "updatedAt": w.updated_at, "userId": w.user_id}


def pool_view(w) -> dict:
    """The OTC pool's view: no user identity, no wallet."""
    return {"id": w.withdrawal_id, "status": w.status, "amount": w.amount, "fee": w.fee, "netAmount": w.net_amount,
            "currency": "DCT", "coolingEndsAt": w.cooling_ends_at, "createdAt": w.created_at}

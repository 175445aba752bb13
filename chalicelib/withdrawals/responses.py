"""Response models of the withdrawal endpoints: a user's own, the Broker API v1's (OTC pool, lock, unlock), the
broker's wallet and the payout queue (OpenAPI only: see chalicelib/common/responses.py)."""
from chalicelib.common.responses import Iso, Money, Ms, View


class PoolWithdrawalView(View):
    """logic.pool_view, the OTC pool's view: no user identity, no wallet."""
    id: str
    status: str
    amount: Money
    fee: Money
    netAmount: Money
    currency: str
    coolingEndsAt: Ms
    createdAt: Ms


class _LockFields(View):
    lockedBy: str | None = None
    lockedAt: Ms | None = None
    lockExpiresAt: Ms | None = None
    settledBy: str | None = None
    txHash: str | None = None


class WithdrawalView(PoolWithdrawalView, _LockFields):
    """logic.view: status pending | broker_locked | broker_completed | processing | completed | cancelled."""
    beyond_contract = ('createdAt', 'currency', 'updatedAt', 'userId')
    walletAddress: str
    updatedAt: Ms | None
    userId: str


class WithdrawalActionView(WithdrawalView):
    """cancel, admin complete: ok and the object after the step."""
    ok: bool


class WithdrawalsView(View):
    withdrawals: list[WithdrawalView]
    nextCursor: str | None


class V1WithdrawalView(WithdrawalView):
    """service.withdrawal_view: the object plus the broker's id for the user and the ISO creation time."""
    user_id: str | None
    account_id: str
    created_at: Iso | None


class V1RequestedWithdrawalView(V1WithdrawalView):
    transfer_id: str


class V1ClientWithdrawalsView(View):
    user_id: str
    account_id: str
    withdrawals: list[V1WithdrawalView]
    next_cursor: str | None


class V1VisibleWithdrawalView(PoolWithdrawalView, _LockFields):
    """GET /api/v1/broker/withdrawal/{id}: the full object for the user's brokers and admins, the lock holder's
    view (the wallet to pay) or the OTC pool's (no identity, no wallet)."""
    walletAddress: str | None = None
    userWalletAddress: str | None = None
    updatedAt: Ms | None = None
    userId: str | None = None
    user_id: str | None = None
    account_id: str | None = None
    created_at: Iso | None = None


class PoolView(View):
    withdrawals: list[PoolWithdrawalView]
    next_cursor: str | None


class LockView(View):
    """flows.lock: amount is the netAmount to pay (USDC) to userWalletAddress."""
    beyond_contract = ('id', 'withdrawalId', 'currency', 'lockedAt', 'lockExpiresAt', 'brokerWalletAddress')
    ok: bool
    status: str
    id: str
    withdrawalId: str
    userWalletAddress: str
    amount: Money
    currency: str
    timeoutHours: Money
    lockedAt: Ms
    lockExpiresAt: Ms
    brokerWalletAddress: str | None


class UnlockView(View):
    ok: bool
    status: str
    id: str
    withdrawalId: str
    coolingEndsAt: Ms


class BoundWalletView(View):
    ok: bool
    userId: str
    walletAddress: str | None


class WalletView(View):
    userId: str
    walletAddress: str | None

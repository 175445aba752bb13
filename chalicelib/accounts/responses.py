"""Response models of the accounts endpoints (OpenAPI only: see chalicelib/common/responses.py)."""
from chalicelib.common.responses import Money, Ms, View


class AccountView(View):
    """accounts.logic.account_view."""
    beyond_contract = ('parentBrokerId', 'brandRootId', 'createdAt')
    userId: str
    username: str
    role: str
    currency: str
    balance: Money
    availableBalance: Money
    frozenMargin: Money
    positionMargin: Money
    unrealizedPnl: Money
    equity: Money
    walletAddress: str | None
    parentBrokerId: str | None
    brandRootId: str | None
    createdAt: Ms | None


class UserView(View):
    """accounts.logic.user_view."""
    id: str
    username: str
    role: str

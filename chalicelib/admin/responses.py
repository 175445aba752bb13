"""Response models of the platform admin endpoints (OpenAPI only: see chalicelib/common/responses.py)."""
from chalicelib.common.responses import Money, Ms, View


class AdminBrokerView(View):
    """admin.routes.broker_view."""
    userId: str
    brokerUid: str
    username: str
    role: str
    tenantCode: str | None
    name: str | None
    brandRootId: str | None
    parentBrokerId: str | None
    ssoAlgorithm: str | None
    createdAt: Ms | None


class CreditView(View):
    """The ledger entry of an admin credit."""
    txnId: str
    userId: str
    amount: Money
    currency: str
    reference: str
    kind: str
    createdAt: Ms
    balance: Money


class RevokeView(View):
    ok: bool
    userId: str
    revoked: int

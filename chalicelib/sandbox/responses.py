"""Response models of the sandbox endpoints (OpenAPI only: see chalicelib/common/responses.py)."""
from chalicelib.common.responses import Money, View


class Archived(View):
    orders: int
    fills: int
    pairs: int


class ResetView(View):
    """sandbox.service.reset: ok false when a position could not be closed (positionsLeft)."""
    beyond_contract = ('ok', 'balance', 'availableBalance', 'balanceAdjustment', 'cancelledPairs', 'cancelledOrders', 'closedPositions', 'positionsLeft', 'archived')
    ok: bool
    epoch: int
    balance: Money
    availableBalance: Money
    balanceAdjustment: Money
    cancelledPairs: int
    cancelledOrders: int
    closedPositions: int
    positionsLeft: list[str]
    archived: Archived

"""Response models of the trading endpoints: orders, positions, fills, liquidity pairs and the market-maker tools
(OpenAPI only: see chalicelib/common/responses.py). The shapes are trading/views.py's, service.py's and
mm_service.py's."""
from typing import Any

from chalicelib.common.responses import Money, Ms, View


class PairMeta(View):
    pairId: str | None


class FillView(View):
    """views.fill_view."""
    tradeId: str
    fillId: str
    orderId: str | None
    symbol: str
    side: str
    price: Money
    quantity: Money
    role: str
    counterparty: str
    liquidation: bool
    meta: PairMeta
    ts: Ms


class OrderView(View):
    """views.order_view: status pending | filled | cancelled | rejected, kind trader | liquidity."""
    beyond_contract = ('frozenMargin', 'reduceOnly')
    orderId: str
    clientOrderId: str | None
    symbol: str
    side: str
    type: str
    price: Money | None
    quantity: Money
    filledQuantity: Money
    avgFillPrice: Money | None
    leverage: int
    margin: Money
    frozenMargin: Money
    status: str
    kind: str
    meta: PairMeta
    reduceOnly: bool
    createdAt: Ms | None
    updatedAt: Ms | None
    reason: str | None = None


class PlacedOrderView(OrderView):
    """POST /api/orders: the order and its fills of this request."""
    beyond_contract = ('fills',)
    fills: list[FillView]


class CancelledOrderView(OrderView):
    """DELETE /api/orders/{id}: the order, and every order cancelled with it (a liquidity order's pair)."""
    cancelledOrderIds: list[str]


class PositionView(View):
    """views.position_view_of: side long | short."""
    beyond_contract = ('realizedPnl', 'updatedAt')
    positionId: str
    symbol: str
    side: str
    quantity: Money
    entryPrice: Money
    markPrice: Money | None
    leverage: int
    margin: Money
    unrealizedPnl: Money
    liquidationPrice: Money | None
    realizedPnl: Money
    updatedAt: Ms | None


class ClosedPositionView(View):
    beyond_contract = ('symbol', 'orderId', 'closedQuantity', 'remainingQuantity')
    positionId: str
    symbol: str
    orderId: str
    closedQuantity: Money
    realizedPnl: Money
    remainingQuantity: Money


class PlacedPairView(View):
    """POST /api/liquidity/pairs."""
    beyond_contract = ('symbol', 'bidPrice', 'askPrice', 'quantity', 'leverage', 'status', 'createdAt')
    pairId: str
    buyOrderId: str
    sellOrderId: str
    frozenMargin: Money
    symbol: str
    bidPrice: Money
    askPrice: Money
    quantity: Money
    leverage: int
    status: str
    createdAt: Ms


class RepricedPairView(View):
    """POST /api/liquidity/reprice (pairs.PairPlan.response of a reprice)."""
    pairId: str
    oldPairId: str
    buyOrderId: str
    sellOrderId: str
    releasedMargin: Money
    frozenMargin: Money


class CancelledPairView(View):
    beyond_contract = ('releasedMargin',)
    pairId: str
    cancelledOrderIds: list[str]
    releasedMargin: Money


class PairView(View):
    """views.pair_view: status pending | filled | cancelled | repriced."""
    beyond_contract = ('frozenMargin', 'replaces', 'replacedBy', 'updatedAt')
    pairId: str
    symbol: str
    bidPrice: Money
    askPrice: Money
    quantity: Money
    leverage: int
    buyOrderId: str
    sellOrderId: str
    status: str
    frozenMargin: Money
    replaces: str | None
    replacedBy: str | None
    createdAt: Ms | None
    updatedAt: Ms | None


class RepriceResult(View):
    """One entry of a batch: the reprice's answer with ok true, or ok false with the error a single reprice
    answers (`pairId` is the entry's, whatever it was)."""
    ok: bool
    index: int
    status: int
    pairId: Any
    oldPairId: str | None = None
    buyOrderId: str | None = None
    sellOrderId: str | None = None
    releasedMargin: Money | None = None
    frozenMargin: Money | None = None
    error: str | None = None
    code: str | None = None
    message: str | None = None


class RepriceBatchView(View):
    atomic: bool
    succeeded: int
    failed: int
    results: list[RepriceResult]


class CancelAllView(View):
    beyond_contract = ('count',)
    cancelledPairIds: list[str]
    count: int
    releasedMargin: Money
    symbol: str | None = None


class CancelAllAfterView(View):
    """The dead-man's switch: deadline null when disarmed (timeoutMs 0)."""
    beyond_contract = ('enabled', 'currentTime')
    enabled: bool
    timeoutMs: int
    deadline: Ms | None
    currentTime: Ms


class MmpView(View):
    """Market-maker protection: the settings (when enabled), the freeze."""
    beyond_contract = ('enabled', 'frozen')
    enabled: bool
    frozen: bool
    frozenUntil: Ms | None
    windowMs: int | None = None
    quantityLimit: Money | None = None
    frozenMs: int | None = None
    windowQuantity: Money | None = None


Orders = list[OrderView]
Positions = list[PositionView]
Fills = list[FillView]
Pairs = list[PairView]

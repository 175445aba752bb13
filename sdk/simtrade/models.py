"""Typed results (pydantic v2). Field names are the wire names of the API contract; money, prices and
quantities are Decimal. Unknown extra fields are kept (`model_extra`), so a newer server never breaks a client.
tests/sdk/test_openapi_models.py checks MODELS against the served OpenAPI document (/api/openapi.json)."""
from decimal import Decimal
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict

D = Optional[Decimal]


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class User(Model):
    id: str
    username: str
    role: str


class Session(Model):
    token: str
    user: User


class Account(Model):
    userId: str
    username: str
    role: str
    currency: str = "DCT"
    balance: Decimal
    availableBalance: Decimal
    frozenMargin: Decimal
    positionMargin: Decimal
    unrealizedPnl: D = None
    equity: D = None
    walletAddress: Optional[str] = None


class Symbol(Model):
    symbol: str
    name: Optional[str] = None
    custom: Optional[bool] = None
    pricePrecision: int
    quantityPrecision: int
    minQuantity: D = None
    maxLeverage: D = None
    lastPrice: D = None
    bid: D = None
    ask: D = None
    ts: Optional[int] = None


class PriceAck(Model):
    ok: bool
    symbol: str
    price: Decimal
    ts: int


class Ticker(Model):
    symbol: str
    price: D = None
    bid: D = None
    ask: D = None
    ts: Optional[int] = None
    nextMatchAt: Optional[int] = None


class Kline(Model):
    openTime: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: D = None
    ticks: Optional[int] = None


class Depth(Model):
    symbol: str
    bids: list[list[Decimal]]
    asks: list[list[Decimal]]
    ts: Optional[int] = None
    seq: Optional[int] = None
    checksum: Optional[int] = None


class Order(Model):
    orderId: str
    clientOrderId: Optional[str] = None
    symbol: str
    side: str
    type: str
    price: D = None
    quantity: Decimal
    filledQuantity: D = None
    avgFillPrice: D = None
    leverage: D = None
    margin: D = None
    status: str
    kind: Optional[str] = None
    meta: Optional[dict[str, Any]] = None
    createdAt: Optional[int] = None
    updatedAt: Optional[int] = None


class Position(Model):
    positionId: str
    symbol: str
    side: str
    quantity: Decimal
    entryPrice: Decimal
    markPrice: D = None
    leverage: D = None
    margin: D = None
    unrealizedPnl: D = None
    liquidationPrice: D = None


class ClosedPosition(Model):
    positionId: str
    realizedPnl: Decimal


class Trade(Model):
    symbol: Optional[str] = None
    side: Optional[str] = None
    price: D = None
    quantity: D = None


class Pair(Model):
    pairId: str
    symbol: str
    bidPrice: Decimal
    askPrice: Decimal
    quantity: Decimal
    leverage: D = None
    buyOrderId: Optional[str] = None
    sellOrderId: Optional[str] = None
    status: str
    createdAt: Optional[int] = None


class PairPlaced(Model):
    pairId: str
    buyOrderId: str
    sellOrderId: str
    frozenMargin: Decimal


class Repriced(Model):
    pairId: str
    oldPairId: str
    buyOrderId: str
    sellOrderId: str
    releasedMargin: D = None
    frozenMargin: D = None


class PairCancelled(Model):
    pairId: str
    cancelledOrderIds: list[str]


class CancelledAll(Model):
    cancelledPairIds: list[str]
    releasedMargin: D = None


class DeadMansSwitch(Model):
    timeoutMs: int
    deadline: Optional[int] = None


class Withdrawal(Model):
    id: str
    status: str
    amount: Decimal
    fee: D = None
    netAmount: D = None
    walletAddress: Optional[str] = None
    coolingEndsAt: Any = None


class LedgerEntry(Model):
    pass


class ApiKey(Model):
    id: str
    scopes: list[str]
    key: Optional[str] = None
    name: Optional[str] = None
    webhookUrl: Optional[str] = None
    webhookSecret: Optional[str] = None


class BrokerBalance(Model):
    broker_id: str
    currency: str = "DCT"
    balance: Decimal
    available_balance: Decimal


class BrokerClient(Model):
    user_id: str
    username: Optional[str] = None
    email: Optional[str] = None
    balance: D = None
    available_balance: D = None
    created_at: Optional[str] = None


class Transfer(Model):
    amount: Decimal


class WebhookDelivery(Model):
    id: str
    status: str
    event: Optional[str] = None


class Page(Model):
    """A list answer with its cursor: `items` and `next_cursor` (None when nothing remains)."""
    items: list[Any]
    next_cursor: Optional[str] = None


# response models checked against the OpenAPI document: (method, path, status) -> model
MODELS: dict[tuple[str, str, int], type[Model]] = {
    ("post", "/api/auth/login", 200): Session,
    ("get", "/api/accounts/me", 200): Account,
    ("get", "/api/ticker", 200): Ticker,
    ("get", "/api/depth", 200): Depth,
    ("post", "/api/broker/price-feed", 200): PriceAck,
    ("post", "/api/orders", 201): Order,
    ("get", "/api/orders/{order_id}", 200): Order,
    ("post", "/api/liquidity/pairs", 201): PairPlaced,
    ("post", "/api/liquidity/reprice", 200): Repriced,
    ("post", "/api/liquidity/cancel", 200): PairCancelled,
    ("post", "/api/liquidity/cancel-all", 200): CancelledAll,
    ("post", "/api/liquidity/cancel-all-after", 200): DeadMansSwitch,
    ("post", "/api/withdrawals", 201): Withdrawal,
    ("get", "/api/v1/broker/balance", 200): BrokerBalance,
}

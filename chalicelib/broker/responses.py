"""Response models of the broker panel (API keys, webhook deliveries) and the Broker API v1 (OpenAPI only: see
chalicelib/common/responses.py). The v1 API's fields are snake_case, its `*_at` ISO-8601 strings; the panel's
camelCase with millisecond timestamps (the contract)."""
from chalicelib.common.responses import Iso, Money, Ms, View
from chalicelib.trading.responses import FillView, OrderView, PositionView


# --- the panel -------------------------------------------------------------------------------------------------

class ApiKeyView(View):
    """keys.view: never the key or the webhook secret."""
    id: str
    name: str
    scopes: list[str]
    webhookUrl: str | None
    hasWebhookSecret: bool
    keyHint: str
    status: str
    createdAt: Ms
    revokedAt: Ms | None


class CreatedApiKeyView(ApiKeyView):
    """POST /api/broker/api-keys: the key and the webhook secret, shown this once."""
    beyond_contract = ('name', 'hasWebhookSecret', 'keyHint', 'status', 'createdAt', 'revokedAt')
    key: str
    webhookSecret: str | None


class RevokedApiKeyView(ApiKeyView):
    ok: bool


class DeliveryView(View):
    """webhooks.view (payload: the single delivery's read only)."""
    id: str
    eventId: str
    event: str
    keyId: str
    url: str
    status: str
    attempts: int
    lastStatusCode: int | None
    lastError: str | None
    lastDurationMs: int | None
    createdAt: Ms
    lastAttemptAt: Ms | None
    nextAttemptAt: Ms | None
    deliveredAt: Ms | None
    redeliveryOf: str | None
    payload: dict | None = None


class DeliveriesView(View):
    deliveries: list[DeliveryView]
    nextCursor: str | None


# --- v1: sub-brokers -------------------------------------------------------------------------------------------

class SubBrokerView(View):
    """service.broker_view."""
    user_id: str
    username: str
    email: str | None
    name: str | None
    role: str
    parent_broker_id: str | None
    brand_root_id: str | None
    balance: Money
    available_balance: Money
    created_at: Iso | None


class SubBrokersView(View):
    sub_brokers: list[SubBrokerView]
    next_cursor: str | None


class CreatedSubBrokerView(View):
    beyond_contract = ('email', 'name', 'created_at')
    ok: bool
    user_id: str
    username: str
    role: str
    parent_broker_id: str | None
    brand_root_id: str | None
    email: str | None
    name: str | None
    created_at: Iso | None


class UpgradedView(View):
    beyond_contract = ('account_id',)
    ok: bool
    user_id: str
    account_id: str
    username: str
    role: str
    parent_broker_id: str | None
    brand_root_id: str | None
    message: str
    broker_portal_url: str


# --- v1: balance and clients -----------------------------------------------------------------------------------

class BrokerBalanceView(View):
    beyond_contract = ('frozen_margin', 'position_margin')
    broker_id: str
    currency: str
    balance: Money
    available_balance: Money
    frozen_margin: Money
    position_margin: Money


class ClientView(View):
    """service.client_view: user_id is the broker's own id for the client, account_id the platform's."""
    beyond_contract = ('account_id', 'role', 'wallet_address', 'broker_id')
    user_id: str
    account_id: str
    username: str
    email: str | None
    role: str
    balance: Money
    available_balance: Money
    wallet_address: str | None
    broker_id: str | None
    created_at: Iso | None


class ClientsView(View):
    clients: list[ClientView]
    next_cursor: str | None


class CreatedClientView(ClientView):
    ok: bool
    parent_broker_id: str | None
    brand_root_id: str | None


class ClientBalanceView(View):
    user_id: str
    account_id: str
    currency: str
    balance: Money
    available_balance: Money
    frozen_margin: Money
    position_margin: Money
    unrealized_pnl: Money
    equity: Money


class ClientOrdersView(View):
    """The client's orders (newest first, paginated) and its latest fills."""
    user_id: str
    account_id: str
    orders: list[OrderView]
    next_cursor: str | None
    trades: list[FillView]


class ClientPositionsView(View):
    user_id: str
    account_id: str
    positions: list[PositionView]


# --- v1: transfers ---------------------------------------------------------------------------------------------

class TransferView(View):
    """service.transfer_view: type deposit | withdraw; withdrawal_id for a withdraw."""
    id: str
    type: str
    status: str
    broker_id: str | None
    user_id: str | None
    account_id: str
    amount: Money
    currency: str
    reference: str | None
    created_at: Iso | None
    withdrawal_id: str | None = None


class TransfersView(View):
    transfers: list[TransferView]
    next_cursor: str | None


ApiKeys = list[ApiKeyView]

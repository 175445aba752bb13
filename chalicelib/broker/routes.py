"""HTTP endpoints of the broker capability (Blueprint registered by app.py). Thin: validate, call
chalicelib.broker.service, shape the answer. Request models: broker/schemas.py.

Broker panel (session, role broker or admin): API keys and the webhook delivery log.
Broker API v1 (`X-API-Key`): every endpoint of the contract's table, each behind its scope. A broker acts on its
own downstream only; anything outside it is 404 (never 403). Admin keys see everything. The withdrawal endpoints
of the v1 API live in chalicelib/withdrawals/routes.py.
"""
from chalice import Blueprint

from chalicelib.auth import guards
from chalicelib.broker import keys, service, store, webhooks
from chalicelib.broker import scopes as S
from chalicelib.broker.schemas import (ApiKeyBody, ClientBody, DeliveriesQuery, DepositBody, HistoryQuery,
                                       OrdersQuery, Page, SubBrokerBody, UpgradeBody)
from chalicelib.common.errors import not_found
from chalicelib.common.http import route

bp = Blueprint(__name__)
V1 = "/api/v1/broker"


# === Broker panel: API keys (session) ======================================================================

@route(bp, "/api/broker/api-keys", ["POST"], auth=guards.broker_or_admin, body=ApiKeyBody, status=201,
       response="chalicelib.broker.responses:CreatedApiKeyView", errors=(409,))
def create_api_key(req):
    """Not idempotent on purpose: a stored replay would keep the key and the secret in plain text."""
    return 201, service.create_api_key(req.principal, req.body)


@route(bp, "/api/broker/api-keys", ["GET"], auth=guards.broker_or_admin, response="chalicelib.broker.responses:ApiKeys")
def list_api_keys(req):
    return [keys.view(k) for k in keys.list_for(req.principal.user_id)]


@route(bp, "/api/broker/api-keys/{key_id}", ["DELETE"], auth=guards.broker_or_admin,
       response="chalicelib.broker.responses:RevokedApiKeyView")
def revoke_api_key(req, key_id):
    k = keys.by_id(key_id)
    if k is None or (k.broker_id != req.principal.user_id and not req.principal.is_admin):
        raise not_found("API key")
    return {"ok": True, **keys.view(keys.revoke(k))}


# === Broker panel: webhook deliveries (session) ============================================================

def _own_delivery(req, delivery_id):
    d = webhooks.get(delivery_id, consistent=True)
    if d is None or (d.broker_id != req.principal.user_id and not req.principal.is_admin):
        raise not_found("delivery")
    return d


@route(bp, "/api/broker/webhooks/deliveries", ["GET"], auth=guards.broker_or_admin, query=DeliveriesQuery,
       response="chalicelib.broker.responses:DeliveriesView")
def list_deliveries(req):
    q = req.query
    items, nxt = webhooks.list_for(req.principal.user_id, q.limit, q.cursor, q.status, q.event)
    return {"deliveries": [webhooks.view(d) for d in items], "nextCursor": nxt}


@route(bp, "/api/broker/webhooks/deliveries/{delivery_id}", ["GET"], auth=guards.broker_or_admin,
       response="chalicelib.broker.responses:DeliveryView")
def get_delivery(req, delivery_id):
    return webhooks.view(_own_delivery(req, delivery_id), with_payload=True)


@route(bp, "/api/broker/webhooks/deliveries/{delivery_id}/redeliver", ["POST"], auth=guards.broker_or_admin,
       status=202, response="chalicelib.broker.responses:DeliveryView", errors=(409,))
def redeliver(req, delivery_id):
    return 202, webhooks.view(webhooks.redeliver(_own_delivery(req, delivery_id)))


# === Broker API v1: sub-brokers ============================================================================

@route(bp, f"{V1}/sub-brokers", ["POST"], auth=keys.api_key(S.SUB_BROKERS_CREATE), body=SubBrokerBody,
       idempotent=True, status=201, response="chalicelib.broker.responses:CreatedSubBrokerView", errors=(409,))
def create_sub_broker(req):
    return 201, service.create_sub_broker(req.principal, req.body)


@route(bp, f"{V1}/sub-brokers", ["GET"], auth=keys.api_key(S.SUB_BROKERS_LIST), query=Page,
       response="chalicelib.broker.responses:SubBrokersView")
def list_sub_brokers(req):
    items, nxt = store.list_visible(req.principal, "broker", req.query.limit, req.query.cursor)
    return {"sub_brokers": [service.broker_view(a) for a in items], "next_cursor": nxt}


@route(bp, V1 + "/clients/{client_id}/upgrade-to-broker", ["POST"], auth=keys.api_key(S.SUB_BROKERS_UPGRADE),
       body=UpgradeBody, idempotent=True, response="chalicelib.broker.responses:UpgradedView", errors=(409,))
def upgrade_to_broker(req, client_id):
    return service.upgrade_to_broker(req.principal, client_id, req.body.password)


# === Broker API v1: balance and clients ====================================================================

@route(bp, f"{V1}/balance", ["GET"], auth=keys.api_key(S.BALANCE_READ),
       response="chalicelib.broker.responses:BrokerBalanceView")
def broker_balance(req):
    return service.balance_view(service.caller(req.principal))


@route(bp, f"{V1}/clients", ["GET"], auth=keys.api_key(S.CLIENTS_LIST), query=Page,
       response="chalicelib.broker.responses:ClientsView")
def list_clients(req):
    items, nxt = store.list_visible(req.principal, "trader", req.query.limit, req.query.cursor)
    return {"clients": [service.client_view(a) for a in items], "next_cursor": nxt}


@route(bp, f"{V1}/clients", ["POST"], auth=keys.api_key(S.CLIENTS_CREATE), body=ClientBody, idempotent=True,
       status=201, response="chalicelib.broker.responses:CreatedClientView", errors=(409,))
def create_client(req):
    return 201, service.create_client(req.principal, req.body)


@route(bp, V1 + "/clients/{client_id}/balance", ["GET"], auth=keys.api_key(S.CLIENTS_BALANCE),
       response="chalicelib.broker.responses:ClientBalanceView")
def client_balance(req, client_id):
    return service.client_balance(store.resolve_account(req.principal, client_id))


@route(bp, V1 + "/clients/{client_id}/orders", ["GET"], auth=keys.api_key(S.CLIENTS_ORDERS), query=OrdersQuery,
       response="chalicelib.broker.responses:ClientOrdersView")
def client_orders(req, client_id):
    """The client's trade history: its orders (newest first, paginated) and its latest fills."""
    return service.client_orders(store.resolve_account(req.principal, client_id), req.query)


@route(bp, V1 + "/clients/{client_id}/positions", ["GET"], auth=keys.api_key(S.CLIENTS_POSITIONS),
       response="chalicelib.broker.responses:ClientPositionsView")
def client_positions(req, client_id):
    return service.client_positions(store.resolve_account(req.principal, client_id))


# === Broker API v1: transfers ==============================================================================

@route(bp, V1 + "/clients/{client_id}/deposit", ["POST"], auth=keys.api_key(S.TRANSFER_DEPOSIT), body=DepositBody,
       idempotent=True, status=201, response="chalicelib.broker.responses:TransferView")
def deposit(req, client_id):
    return 201, service.deposit(req.principal, client_id, req.body.amount, req.body.reference)


@route(bp, f"{V1}/transfer/history", ["GET"], auth=keys.api_key(S.TRANSFER_HISTORY), query=HistoryQuery,
       response="chalicelib.broker.responses:TransfersView")
def transfer_history(req):
    return service.transfer_history(req.principal, req.query)

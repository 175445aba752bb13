"""HTTP endpoints of the broker capability (Blueprint registered by app.py).

Broker panel (session, role broker or admin): API keys and the webhook delivery log.
Broker API v1 (`X-API-Key`): every endpoint of the contract's table, each behind its scope. A broker acts on its
own downstream only; anything outside it is 404 (never 403). Admin keys see everything.
"""
from decimal import Decimal
from typing import Literal

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.accounts import store as accounts
from chalicelib.accounts.logic import USERNAME_RE, validate_wallet
from chalicelib.auth import guards
from chalicelib.auth import store as sessions
from chalicelib.auth.logic import hash_password
from chalicelib.broker import events, keys, logic
from chalicelib.broker import scopes as S
from chalicelib.broker import store, webhooks
from chalicelib.common.clock import now_ms
from chalicelib.common.errors import ApiError, bad_request, conflict, insufficient_balance, not_found
from chalicelib.common.http import route
from chalicelib.common.schemas import Body, PositiveDecimal, Str
from chalicelib.ledger import logic as ledger
from chalicelib.ledger.store import ConditionFailed, InsufficientFunds, Tx
from chalicelib.storage.models import Account
from chalicelib.withdrawals import flows as wd_flows
from chalicelib.withdrawals import logic as wd_logic
from chalicelib.withdrawals import store as wd_store

bp = Blueprint(__name__)
V1 = "/api/v1/broker"


# --- request models ----------------------------------------------------------------------------------------

class Page(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=2048)


class DeliveriesQuery(Page):
    status: Literal["pending", "retrying", "succeeded", "failed"] | None = None
    event: str | None = Field(default=None, max_length=64)


class HistoryQuery(Page):
    client_id: str | None = Field(default=None, max_length=128)
    type: Literal["deposit", "withdraw"] | None = None


class ApiKeyBody(Body):
    name: Str = Field(min_length=1, max_length=64)
    scopes: list[Str] = Field(min_length=1, max_length=len(S.ALL_SCOPES) * 2)
    webhookUrl: Str | None = Field(default=None, max_length=2048)

    @field_validator("webhookUrl")
    @classmethod
    def _url(cls, v):
        if v in (None, ""):
            return None
        from urllib.parse import urlsplit
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise ValueError("must be an http(s) URL without credentials")
        return v


class SubBrokerBody(Body):
    username: Str = Field(min_length=3, max_length=64)
    password: Str = Field(min_length=8, max_length=128)
    email: Str | None = Field(default=None, max_length=254)
    name: Str | None = Field(default=None, max_length=128)


class UpgradeBody(Body):
    password: Str | None = Field(default=None, min_length=8, max_length=128)


class ClientBody(Body):
    user_id: str
    email: Str | None = Field(default=None, max_length=254)
    password: Str | None = Field(default=None, min_length=8, max_length=128)
    wallet_address: Str | None = Field(default=None, max_length=64)
    broker_id: Str | None = Field(default=None, max_length=64)  # admin keys: the broker to create the client under

    @field_validator("user_id", mode="before")
    @classmethod
    def _uid(cls, v):
        if isinstance(v, bool) or isinstance(v, float):
            raise ValueError("must be a string or an integer")
        if isinstance(v, Decimal):  # JSON numbers arrive as Decimal
            if v != v.to_integral_value():
                raise ValueError("must be a string or an integer")
            v = str(int(v))
        if isinstance(v, int):
            v = str(v)
        if not isinstance(v, str) or not store.USER_ID_RE.match(v.strip()):
            raise ValueError("must be 1 to 128 characters: letters, digits, _ . @ -")
        return v.strip()


class DepositBody(Body):
    amount: PositiveDecimal
    reference: Str | None = Field(default=None, max_length=256)


class WithdrawBody(Body):
    amount: PositiveDecimal
    wallet_address: Str | None = Field(default=None, max_length=64)


# --- helpers -----------------------------------------------------------------------------------------------

def _caller(principal) -> Account:
    acct = accounts.get(principal.user_id, consistent=True)
    if acct is None:  # the key's owner is gone: the key is worthless
        raise keys.invalid_key()
    return acct


def _amount(amount: Decimal) -> Decimal:
    err = logic.check_amount(amount)
    if err:
        raise bad_request(err, "INVALID_AMOUNT")
    return amount


def _client_view(a: Account) -> dict:
    return {"user_id": store.external_id(a), "account_id": a.user_id, "username": a.username, "email": a.email,
            "role": a.role, "balance": a.balance, "available_balance": a.available_balance,
            "wallet_address": a.wallet_address, "broker_id": a.parent_broker_id, "created_at": logic.iso(a.created_at)}


def _broker_view(a: Account) -> dict:
    return {"user_id": a.user_id, "username": a.username, "email": a.email, "name": a.name, "role": a.role,
            "parent_broker_id": a.parent_broker_id, "brand_root_id": a.brand_root_id, "balance": a.balance,
            "available_balance": a.available_balance, "created_at": logic.iso(a.created_at)}


def _transfer_view(t, status: str | None = None) -> dict:
    out = {"id": t.transfer_id, "type": t.type, "status": status or t.status, "broker_id": t.broker_id,
           "user_id": t.client_user_id, "account_id": t.client_account_id, "amount": t.amount, "currency": "DCT",
           "reference": t.reference, "created_at": logic.iso(t.created_at)}
    if t.withdrawal_id:
        out["withdrawal_id"] = t.withdrawal_id
    return out


def _withdrawal_view(w, client: Account | None = None) -> dict:
    out = wd_logic.view(w)
    out["user_id"] = store.external_id(client) if client is not None else None
    out["account_id"] = w.user_id
    out["created_at"] = logic.iso(w.created_at)
    return out


def _trading(fn_name: str, user_id: str) -> list:
    """Positions / fills of an account from the trading engine (contract views; empty until it is there)."""
    try:
        from chalicelib.trading import store as trading_store  # noqa: WPS433
        fn = getattr(trading_store, fn_name)
    except (ImportError, AttributeError):
        return []
    return list(fn(user_id))


def _trading_page(user_id: str, q) -> tuple[list, str | None]:
    """A page of the account's orders when the trading engine offers pagination, else its latest orders."""
    try:
        from chalicelib.trading import store as trading_store  # noqa: WPS433
        from chalicelib.trading.views import order_view  # noqa: WPS433
        list_orders = trading_store.list_orders
    except (ImportError, AttributeError):
        return _trading("orders_for", user_id), None
    items, nxt = list_orders(user_id, symbol=q.symbol, status=q.status, limit=q.limit, cursor=q.cursor)
    return [order_view(o) for o in items], nxt


def _unrealized(user_id: str) -> Decimal:
    try:
        from chalicelib.trading.store import unrealized_pnl_for  # noqa: WPS433
    except ImportError:
        return Decimal(0)
    return unrealized_pnl_for(user_id)


# === Broker panel: API keys (session) ======================================================================

@route(bp, "/api/broker/api-keys", ["POST"], auth=guards.broker_or_admin, body=ApiKeyBody, status=201)
def create_api_key(req):
    """Not idempotent on purpose: a stored replay would keep the key and the secret in plain text."""
    b = req.body
    try:
        wanted = S.normalize(b.scopes)
    except ValueError as e:
        raise bad_request(str(e), "UNKNOWN_SCOPE") from None
    owner = accounts.get(req.principal.user_id, consistent=True)
    if owner is None:
        raise not_found("account")
    ceiling = store.scope_ceiling(owner)
    excess = [s for s in wanted if s not in ceiling]
    if excess:
        raise ApiError(403, "SCOPE_NOT_ALLOWED", f"Scope not allowed for this broker: {', '.join(excess)}",
                       "A sub-broker's keys are limited to the scopes granted to it (docs/broker-api.md)",
                       allowed=sorted(ceiling, key=S.ALL_SCOPES.index))
    created = keys.create(owner.user_id, owner.role, b.name, wanted, b.webhookUrl)
    return 201, created


@route(bp, "/api/broker/api-keys", ["GET"], auth=guards.broker_or_admin)
def list_api_keys(req):
    return [keys.view(k) for k in keys.list_for(req.principal.user_id)]


@route(bp, "/api/broker/api-keys/{key_id}", ["DELETE"], auth=guards.broker_or_admin)
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


@route(bp, "/api/broker/webhooks/deliveries", ["GET"], auth=guards.broker_or_admin, query=DeliveriesQuery)
def list_deliveries(req):
    q = req.query
    items, nxt = webhooks.list_for(req.principal.user_id, q.limit, q.cursor, q.status, q.event)
    return {"deliveries": [webhooks.view(d) for d in items], "nextCursor": nxt}


@route(bp, "/api/broker/webhooks/deliveries/{delivery_id}", ["GET"], auth=guards.broker_or_admin)
def get_delivery(req, delivery_id):
    return webhooks.view(_own_delivery(req, delivery_id), with_payload=True)


@route(bp, "/api/broker/webhooks/deliveries/{delivery_id}/redeliver", ["POST"], auth=guards.broker_or_admin,
       status=202)
def redeliver(req, delivery_id):
    return 202, webhooks.view(webhooks.redeliver(_own_delivery(req, delivery_id)))


# === Broker API v1: sub-brokers ============================================================================

@route(bp, f"{V1}/sub-brokers", ["POST"], auth=keys.api_key(S.SUB_BROKERS_CREATE), body=SubBrokerBody,
       idempotent=True, status=201)
def create_sub_broker(req):
    b = req.body
    if not USERNAME_RE.match(b.username):
        raise bad_request("username may contain letters, digits and _ . @ - (3 to 64 characters)", "VALIDATION_ERROR")
    caller = _caller(req.principal)
    parent = None if req.principal.is_admin else caller
    acct = accounts.new_account(username=b.username, role="broker", password_hash=hash_password(b.password),
                                parent=parent, email=b.email, name=b.name or b.username)
    if parent is None:  # made by the platform admin: a top-level broker, root of its own brand
        acct.brand_root_id = acct.user_id
    granted = S.ALL_SCOPES if req.principal.is_admin else req.principal.scopes
    tx = Tx()
    accounts.create(acct, tx=tx)
    tx.put(store.grant_item(acct.user_id, granted, req.principal.user_id), tag="grant")
    try:
        store.commit_with_retry(tx)
    except ConditionFailed as e:
        if e.tag.startswith("unique:username:"):
            raise conflict("username already taken", "USERNAME_TAKEN") from None
        raise
    return 201, {"ok": True, "user_id": acct.user_id, "username": acct.username, "role": "broker",
                 "parent_broker_id": acct.parent_broker_id, "brand_root_id": acct.brand_root_id,
                 "email": acct.email, "name": acct.name, "created_at": logic.iso(acct.created_at)}


@route(bp, f"{V1}/sub-brokers", ["GET"], auth=keys.api_key(S.SUB_BROKERS_LIST), query=Page)
def list_sub_brokers(req):
    items, nxt = store.list_visible(req.principal, "broker", req.query.limit, req.query.cursor)
    return {"sub_brokers": [_broker_view(a) for a in items], "next_cursor": nxt}


@route(bp, V1 + "/clients/{client_id}/upgrade-to-broker", ["POST"], auth=keys.api_key(S.SUB_BROKERS_UPGRADE),
       body=UpgradeBody, idempotent=True)
def upgrade_to_broker(req, client_id):
    acct = store.resolve_account(req.principal, client_id)
    if acct.role != "trader":
        raise conflict("account is already a broker", "ALREADY_BROKER")
    # The service relationship stays: parent_broker_id, brand and ancestors are left exactly as they are, even
    # when an admin (or a broker higher up) calls this. Only the role (and the optional password) change.
    actions = [Account.role.set("broker"), Account.gsi2pk.set("ROLE#broker")]
    if acct.gsi1pk:
        actions.append(Account.gsi1sk.set(f"broker#{acct.created_at:013d}#{acct.user_id}"))
    if not acct.brand_root_id:  # an unaffiliated trader upgraded by the admin: its own brand
        actions.append(Account.brand_root_id.set(acct.user_id))
        acct.brand_root_id = acct.user_id
    if req.body.password:
        actions.append(Account.password_hash.set(hash_password(req.body.password)))
    granted = S.ALL_SCOPES if req.principal.is_admin else req.principal.scopes
    tx = Tx()
    tx.update(Account(*Account.key(acct.user_id)), actions=actions,
              condition=Account.pk.exists() & (Account.role == "trader"), tag="account-role")
    tx.put(store.grant_item(acct.user_id, granted, req.principal.user_id), tag="grant")
    try:
        store.commit_with_retry(tx)
    except ConditionFailed:
        raise conflict("account is already a broker", "ALREADY_BROKER") from None
    sessions.set_role(acct.user_id, "broker")  # live sessions see the new role at once
    return {"ok": True, "user_id": store.external_id(acct), "account_id": acct.user_id, "username": acct.username,
            "role": "broker", "parent_broker_id": acct.parent_broker_id, "brand_root_id": acct.brand_root_id,
            "message": "User upgraded to broker. They can now log in to Broker Portal.",
            "broker_portal_url": "/pages/broker-portal.html"}


# === Broker API v1: balance and clients ====================================================================

@route(bp, f"{V1}/balance", ["GET"], auth=keys.api_key(S.BALANCE_READ))
def broker_balance(req):
    a = _caller(req.principal)
    return {"broker_id": a.user_id, "currency": "DCT", "balance": a.balance, "available_balance": a.available_balance,
            "frozen_margin": a.frozen_margin, "position_margin": a.position_margin}


@route(bp, f"{V1}/clients", ["GET"], auth=keys.api_key(S.CLIENTS_LIST), query=Page)
def list_clients(req):
    items, nxt = store.list_visible(req.principal, "trader", req.query.limit, req.query.cursor)
    return {"clients": [_client_view(a) for a in items], "next_cursor": nxt}


@route(bp, f"{V1}/clients", ["POST"], auth=keys.api_key(S.CLIENTS_CREATE), body=ClientBody, idempotent=True,
       status=201)
def create_client(req):
    b = req.body
    if req.principal.is_admin:
        if not b.broker_id:
            raise bad_request("admin keys name the broker: broker_id is required", "BROKER_REQUIRED")
        broker = accounts.get(b.broker_id)
        if broker is None or broker.role != "broker":
            raise not_found("broker")
    else:
        broker = _caller(req.principal)
    wallet = None
    if b.wallet_address:
        try:
            wallet = validate_wallet(b.wallet_address)
        except ValueError as e:
            raise bad_request(str(e), "INVALID_WALLET") from None
    if b.email is not None and "@" not in b.email:
        raise bad_request("email: not an email address", "VALIDATION_ERROR")
    staged = {}

    def with_event(tx, acct):
        ev = events.prepare("client.created", acct, {
            "user_id": b.user_id, "account_id": acct.user_id, "username": acct.username, "email": acct.email,
            "broker_id": broker.user_id, "created_at": logic.iso(acct.created_at)}, now=acct.created_at)
        ev.stage(tx)
        staged["ev"] = ev

    acct = store.create_client(broker, b.user_id, email=b.email,
                               password_hash=hash_password(b.password) if b.password else None,
                               wallet_address=wallet, tx_extra=with_event)
    staged["ev"].dispatch()
    return 201, {"ok": True, **_client_view(acct), "parent_broker_id": acct.parent_broker_id,
                 "brand_root_id": acct.brand_root_id}


@route(bp, V1 + "/clients/{client_id}/balance", ["GET"], auth=keys.api_key(S.CLIENTS_BALANCE))
def client_balance(req, client_id):
    a = store.resolve_account(req.principal, client_id)
    upnl = _unrealized(a.user_id)
    return {"user_id": store.external_id(a), "account_id": a.user_id, "currency": "DCT", "balance": a.balance,
            "available_balance": a.available_balance, "frozen_margin": a.frozen_margin,
            "position_margin": a.position_margin, "unrealized_pnl": upnl, "equity": a.balance + upnl}


class OrdersQuery(Page):
    symbol: str | None = Field(default=None, max_length=32)
    status: Literal["pending", "filled", "cancelled", "rejected"] | None = None


@route(bp, V1 + "/clients/{client_id}/orders", ["GET"], auth=keys.api_key(S.CLIENTS_ORDERS), query=OrdersQuery)
def client_orders(req, client_id):
    """The client's trade history: its orders (newest first, paginated) and its latest fills."""
    a = store.resolve_account(req.principal, client_id)
    q = req.query
    orders, nxt = _trading_page(a.user_id, q)
    return {"user_id": store.external_id(a), "account_id": a.user_id, "orders": orders, "next_cursor": nxt,
            "trades": _trading("fills_for", a.user_id)}


@route(bp, V1 + "/clients/{client_id}/positions", ["GET"], auth=keys.api_key(S.CLIENTS_POSITIONS))
def client_positions(req, client_id):
    a = store.resolve_account(req.principal, client_id)
    return {"user_id": store.external_id(a), "account_id": a.user_id,
            "positions": _trading("positions_for", a.user_id)}


@route(bp, V1 + "/clients/{client_id}/withdrawals", ["GET"], auth=keys.api_key(S.CLIENTS_WITHDRAWALS), query=Page)
def client_withdrawals(req, client_id):
    a = store.resolve_account(req.principal, client_id)
    items, nxt = wd_store.for_user(a.user_id, req.query.limit, req.query.cursor)
    return {"user_id": store.external_id(a), "account_id": a.user_id,
            "withdrawals": [_withdrawal_view(w, a) for w in items], "next_cursor": nxt}


# === Broker API v1: transfers ==============================================================================

@route(bp, V1 + "/clients/{client_id}/deposit", ["POST"], auth=keys.api_key(S.TRANSFER_DEPOSIT), body=DepositBody,
       idempotent=True, status=201)
def deposit(req, client_id):
    amount = _amount(req.body.amount)
    client = store.resolve_account(req.principal, client_id)
    broker = _caller(req.principal)
    tx = Tx()
    t = store.new_transfer("deposit", broker, broker.user_id, client, amount, reference=req.body.reference,
                           status="completed", txn_id=tx.txn_id, now=tx.now)
    tx.post(ledger.transfer(broker.user_id, client.user_id, amount), kind="deposit", reference=t.transfer_id)
    tx.put(t, condition=store.Transfer.pk.does_not_exist(), tag="transfer")
    ev = events.prepare("transfer.deposit", client, {
        "transfer_id": t.transfer_id, "type": "deposit", "user_id": t.client_user_id, "account_id": client.user_id,
        "broker_id": broker.user_id, "amount": amount, "currency": "DCT", "reference": t.reference,
        "created_at": logic.iso(t.created_at)}, now=tx.now)
    ev.stage(tx)
    try:
        store.commit_with_retry(tx)
    except InsufficientFunds as e:
        if e.account_id == broker.user_id:
            raise insufficient_balance() from None
        raise
    ev.dispatch()
    return 201, _transfer_view(t)


@route(bp, V1 + "/clients/{client_id}/withdraw", ["POST"], auth=keys.api_key(S.TRANSFER_WITHDRAW),
       body=WithdrawBody, idempotent=True, status=201)
def withdraw(req, client_id):
    amount = _amount(req.body.amount)
    client = store.resolve_account(req.principal, client_id)
    wallet = req.body.wallet_address or client.wallet_address
    if not wallet:
        raise bad_request("wallet_address is required: the client has no bound wallet", "WALLET_REQUIRED")
    try:
        wallet = validate_wallet(wallet)
    except ValueError as e:
        raise bad_request(str(e), "INVALID_WALLET") from None
    acting = None if req.principal.is_admin else _caller(req.principal)
    staged = {}

    def transfer_record(tx, w):  # the v1 transfer record, in the withdrawal's own transaction
        t = store.new_transfer("withdraw", acting, req.principal.user_id, client, amount, status=w.status,
                               txn_id=tx.txn_id, withdrawal_id=w.withdrawal_id, now=tx.now)
        tx.put(t, condition=store.Transfer.pk.does_not_exist(), tag="transfer")
        staged["t"] = t

    w = wd_flows.request(client, amount, wallet, requested_by=req.principal.user_id, extra=transfer_record)
    return 201, {**_withdrawal_view(w, client), "transfer_id": staged["t"].transfer_id}


@route(bp, f"{V1}/transfer/history", ["GET"], auth=keys.api_key(S.TRANSFER_HISTORY), query=HistoryQuery)
def transfer_history(req):
    q = req.query
    client = store.resolve_account(req.principal, q.client_id) if q.client_id else None
    items, nxt = store.transfer_history(req.principal, client, q.type, q.limit, q.cursor)
    wids = [t.withdrawal_id for t in items if t.withdrawal_id]
    current = {}
    if wids:  # a withdraw's status is the withdrawal's current one
        for w in wd_store.Withdrawal.batch_get([wd_store.Withdrawal.key(i) for i in wids]):
            current[w.withdrawal_id] = w.status
    return {"transfers": [_transfer_view(t, current.get(t.withdrawal_id)) for t in items], "next_cursor": nxt}


# === Broker API v1: withdrawals / OTC ======================================================================

@route(bp, V1 + "/withdrawal/{withdrawal_id}", ["GET"], auth=keys.api_key(S.WITHDRAWAL_READ))
def get_withdrawal(req, withdrawal_id):
    w = wd_store.get(withdrawal_id, consistent=True)
    if w is None:
        raise not_found("withdrawal")
    p = req.principal
    if p.is_admin or p.user_id in (w.ancestors or []):
        return _withdrawal_view(w, accounts.get(w.user_id))
    if p.user_id in (w.locked_by, w.settled_by):  # the lock holder, or the broker that settled it
        return wd_logic.locker_view(w)
    if wd_logic.in_cooling(w, now_ms()):  # in the OTC pool: every broker may see it, without identity or wallet
        return wd_logic.pool_view(w)
    raise not_found("withdrawal")


@route(bp, f"{V1}/withdrawals/pending", ["GET"], auth=keys.api_key(S.WITHDRAWAL_LIST), query=Page)
def pending_withdrawals(req):
    items, nxt = wd_store.pool(now_ms(), req.query.limit, req.query.cursor)
    return {"withdrawals": [wd_logic.pool_view(w) for w in items], "next_cursor": nxt}


@route(bp, V1 + "/withdrawal/{withdrawal_id}/lock", ["POST"], auth=keys.api_key(S.WITHDRAWAL_LOCK))
def lock_withdrawal(req, withdrawal_id):
    """P2P OTC: first come, first served (one conditional write). Answer: where to send how much USDC."""
    return wd_flows.lock(_caller(req.principal), withdrawal_id)


@route(bp, V1 + "/withdrawal/{withdrawal_id}/unlock", ["POST"], auth=keys.api_key(S.WITHDRAWAL_UNLOCK))
def unlock_withdrawal(req, withdrawal_id):
    return wd_flows.unlock(_caller(req.principal).user_id, withdrawal_id)

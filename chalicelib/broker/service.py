"""Orchestration of the broker capability: the transactions behind broker/routes.py (sub-brokers, upgrades,
clients, deposits, API keys) and the contract's views. Routes validate and call one function here.
"""
from decimal import Decimal

from chalicelib.accounts import store as accounts
from chalicelib.accounts.logic import check_username, validate_wallet
from chalicelib.auth import store as sessions
from chalicelib.auth.logic import hash_password
from chalicelib.broker import events, keys, logic
from chalicelib.broker import scopes as S
from chalicelib.broker import store
from chalicelib.common.errors import ApiError, bad_request, conflict, insufficient_balance, not_found
from chalicelib.ledger import logic as ledger
from chalicelib.ledger.store import ConditionFailed, InsufficientFunds, Tx
from chalicelib.storage.models import Account

# --- callers, amounts and views ----------------------------------------------------------------------------


def caller(principal) -> Account:
    acct = accounts.get(principal.user_id, consistent=True)
    if acct is None:  # the key's owner is gone: the key is worthless
        raise keys.invalid_key()
    return acct


def checked_amount(amount: Decimal) -> Decimal:
    err = logic.check_amount(amount)
    if err:
        raise bad_request(err, "INVALID_AMOUNT")
    return amount


def checked_wallet(wallet: str) -> str:
    try:
        return validate_wallet(wallet)
    except ValueError as e:
        raise bad_request(str(e), "INVALID_WALLET") from None


def client_view(a: Account) -> dict:
    return {"user_id": store.external_id(a), "account_id": a.user_id, "username": a.username, "email": a.email,
            "role": a.role, "balance": a.balance, "available_balance": a.available_balance,
            "wallet_address": a.wallet_address, "broker_id": a.parent_broker_id, "created_at": logic.iso(a.created_at)}


def broker_view(a: Account) -> dict:
    return {"user_id": a.user_id, "username": a.username, "email": a.email, "name": a.name, "role": a.role,
            "parent_broker_id": a.parent_broker_id, "brand_root_id": a.brand_root_id, "balance": a.balance,
            "available_balance": a.available_balance, "created_at": logic.iso(a.created_at)}


def transfer_view(t, status: str | None = None) -> dict:
    out = {"id": t.transfer_id, "type": t.type, "status": status or t.status, "broker_id": t.broker_id,
           "user_id": t.client_user_id, "account_id": t.client_account_id, "amount": t.amount, "currency": "DCT",
           "reference": t.reference, "created_at": logic.iso(t.created_at)}
    if t.withdrawal_id:
        out["withdrawal_id"] = t.withdrawal_id
    return out


def balance_view(a: Account) -> dict:
    return {"broker_id": a.user_id, "currency": "DCT", "balance": a.balance, "available_balance": a.available_balance,
            "frozen_margin": a.frozen_margin, "position_margin": a.position_margin}


# --- the trading engine's views of a client ----------------------------------------------------------------

def trading_list(fn_name: str, user_id: str) -> list:
    """Positions / fills of an account from the trading engine (contract views)."""
    from chalicelib.trading import store as trading_store  # lazy: keeps the API Lambda's cold start small
    return list(getattr(trading_store, fn_name)(user_id))


def trading_page(user_id: str, q) -> tuple[list, str | None]:
    """A page of the account's orders."""
    from chalicelib.trading import store as trading_store
    from chalicelib.trading.views import order_view
    items, nxt = trading_store.list_orders(user_id, symbol=q.symbol, status=q.status, limit=q.limit,
                                           cursor=q.cursor)
    return [order_view(o) for o in items], nxt


def client_balance(a: Account) -> dict:
    from chalicelib.trading.store import unrealized_pnl_for
    upnl = unrealized_pnl_for(a.user_id)
    return {"user_id": store.external_id(a), "account_id": a.user_id, "currency": "DCT", "balance": a.balance,
            "available_balance": a.available_balance, "frozen_margin": a.frozen_margin,
            "position_margin": a.position_margin, "unrealized_pnl": upnl, "equity": a.balance + upnl}


def client_orders(a: Account, q) -> dict:
    orders, nxt = trading_page(a.user_id, q)
    return {"user_id": store.external_id(a), "account_id": a.user_id, "orders": orders, "next_cursor": nxt,
            "trades": trading_list("fills_for", a.user_id)}


def client_positions(a: Account) -> dict:
    return {"user_id": store.external_id(a), "account_id": a.user_id,
            "positions": trading_list("positions_for", a.user_id)}


# --- API keys ----------------------------------------------------------------------------------------------

def create_api_key(principal, b) -> dict:
    try:
        wanted = S.normalize(b.scopes)
    except ValueError as e:
        raise bad_request(str(e), "UNKNOWN_SCOPE") from None
    owner = accounts.get(principal.user_id, consistent=True)
    if owner is None:
        raise not_found("account")
    ceiling = store.scope_ceiling(owner)
    excess = [s for s in wanted if s not in ceiling]
    if excess:
        raise ApiError(403, "SCOPE_NOT_ALLOWED", f"Scope not allowed for this broker: {', '.join(excess)}",
                       "A sub-broker's keys are limited to the scopes granted to it (docs/broker-api.md)",
                       allowed=sorted(ceiling, key=S.ALL_SCOPES.index))
    return keys.create(owner.user_id, owner.role, b.name, wanted, b.webhookUrl)


# --- sub-brokers and upgrades ------------------------------------------------------------------------------

def _granted(principal) -> tuple:
    return S.ALL_SCOPES if principal.is_admin else principal.scopes


def create_sub_broker(principal, b) -> dict:
    check_username(b.username)
    acting = caller(principal)  # even for an admin key: a key whose owner is gone is worthless
    parent = None if principal.is_admin else acting
    acct = accounts.new_account(username=b.username, role="broker", password_hash=hash_password(b.password),
                                parent=parent, email=b.email, name=b.name or b.username)
    if parent is None:  # made by the platform admin: a top-level broker, root of its own brand
        acct.brand_root_id = acct.user_id
    tx = Tx()
    accounts.create(acct, tx=tx)
    tx.put(store.grant_item(acct.user_id, _granted(principal), principal.user_id), tag="grant")
    try:
        store.commit_with_retry(tx)
    except ConditionFailed as e:
        if e.tag.startswith("unique:username:"):
            raise conflict("username already taken", "USERNAME_TAKEN") from None
        raise
    return {"ok": True, "user_id": acct.user_id, "username": acct.username, "role": "broker",
            "parent_broker_id": acct.parent_broker_id, "brand_root_id": acct.brand_root_id,
            "email": acct.email, "name": acct.name, "created_at": logic.iso(acct.created_at)}


def upgrade_to_broker(principal, client_id: str, password: str | None) -> dict:
    acct = store.resolve_account(principal, client_id)
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
    if password:
        actions.append(Account.password_hash.set(hash_password(password)))
    tx = Tx()
    tx.update(Account(*Account.key(acct.user_id)), actions=actions,
              condition=Account.pk.exists() & (Account.role == "trader"), tag="account-role")
    tx.put(store.grant_item(acct.user_id, _granted(principal), principal.user_id), tag="grant")
    try:
        store.commit_with_retry(tx)
    except ConditionFailed:
        raise conflict("account is already a broker", "ALREADY_BROKER") from None
    sessions.set_role(acct.user_id, "broker")  # live sessions see the new role at once
    return {"ok": True, "user_id": store.external_id(acct), "account_id": acct.user_id, "username": acct.username,
            "role": "broker", "parent_broker_id": acct.parent_broker_id, "brand_root_id": acct.brand_root_id,
            "message": "User upgraded to broker. They can now log in to Broker Portal.",
            "broker_portal_url": "/pages/broker-portal.html"}


# --- clients -----------------------------------------------------------------------------------------------

def _client_broker(principal, broker_id: str | None) -> Account:
    if not principal.is_admin:
        return caller(principal)
    if not broker_id:
        raise bad_request("admin keys name the broker: broker_id is required", "BROKER_REQUIRED")
    broker = accounts.get(broker_id)
    if broker is None or broker.role != "broker":
        raise not_found("broker")
    return broker


def create_client(principal, b) -> dict:
    broker = _client_broker(principal, b.broker_id)
    wallet = checked_wallet(b.wallet_address) if b.wallet_address else None
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
    return {"ok": True, **client_view(acct), "parent_broker_id": acct.parent_broker_id,
            "brand_root_id": acct.brand_root_id}


# --- transfers ---------------------------------------------------------------------------------------------

def deposit(principal, client_id: str, amount: Decimal, reference: str | None) -> dict:
    amount = checked_amount(amount)
    client = store.resolve_account(principal, client_id)
    broker = caller(principal)
    tx = Tx()
    t = store.new_transfer("deposit", broker, broker.user_id, client, amount, reference=reference,
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
    return transfer_view(t)


def transfer_history(principal, q) -> dict:
    from chalicelib.withdrawals import store as wd_store
    client = store.resolve_account(principal, q.client_id) if q.client_id else None
    items, nxt = store.transfer_history(principal, client, q.type, q.limit, q.cursor)
    wids = [t.withdrawal_id for t in items if t.withdrawal_id]
    current = {}
    if wids:  # a withdraw's status is the withdrawal's current one
        for w in wd_store.Withdrawal.batch_get([wd_store.Withdrawal.key(i) for i in wids]):
            current[w.withdrawal_id] = w.status
    return {"transfers": [transfer_view(t, current.get(t.withdrawal_id)) for t in items], "next_cursor": nxt}

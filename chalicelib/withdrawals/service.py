"""Orchestration of withdrawal requests made through the Broker API (withdrawals/routes.py): the request
transaction (withdrawal + transfer record + webhook event, atomically) and the contract's views.
"""
from decimal import Decimal

from chalicelib.accounts import store as accounts
from chalicelib.broker import events, logic
from chalicelib.broker import service as broker
from chalicelib.broker import store
from chalicelib.common.clock import now_ms
from chalicelib.common.errors import ApiError, bad_request, insufficient_balance, not_found
from chalicelib.ledger.store import InsufficientFunds, Tx
from chalicelib.storage.models import Account
from chalicelib.withdrawals import flows
from chalicelib.withdrawals import logic as wd_logic
from chalicelib.withdrawals import store as wd_store


def withdrawal_view(w, client: Account | None = None) -> dict:
    out = wd_logic.view(w)
    out["user_id"] = store.external_id(client) if client is not None else None
    out["account_id"] = w.user_id
    out["created_at"] = logic.iso(w.created_at)
    return out


def request(principal, client_id: str, amount: Decimal, wallet_address: str | None) -> dict:
    """A broker (or admin) asks for a withdrawal of its client: `pending`, in the OTC pool for the cooling period."""
    amount = broker.checked_amount(amount)
    client = store.resolve_account(principal, client_id)
    wallet = wallet_address or client.wallet_address
    if not wallet:
        raise bad_request("wallet_address is required: the client has no bound wallet", "WALLET_REQUIRED")
    wallet = broker.checked_wallet(wallet)
    acting = None if principal.is_admin else broker.caller(principal)
    staged = {}

    def transfer_record(tx, w):  # the v1 transfer record, in the withdrawal's own transaction
        t = store.new_transfer("withdraw", acting, principal.user_id, client, amount, status=w.status,
                               txn_id=tx.txn_id, withdrawal_id=w.withdrawal_id, now=tx.now)
        tx.put(t, condition=store.Transfer.pk.does_not_exist(), tag="transfer")
        staged["t"] = t

    w = flows.request(client, amount, wallet, requested_by=principal.user_id, extra=transfer_record)
    return {**withdrawal_view(w, client), "transfer_id": staged["t"].transfer_id}


def for_client(principal, client_id: str, limit: int, cursor: str | None) -> dict:
    a = store.resolve_account(principal, client_id)
    items, nxt = wd_store.for_user(a.user_id, limit, cursor)
    return {"user_id": store.external_id(a), "account_id": a.user_id,
            "withdrawals": [withdrawal_view(w, a) for w in items], "next_cursor": nxt}


def visible(principal, withdrawal_id: str) -> dict:
    w = wd_store.get(withdrawal_id, consistent=True)
    if w is None:
        raise not_found("withdrawal")
    if principal.is_admin or principal.user_id in (w.ancestors or []):
        return withdrawal_view(w, accounts.get(w.user_id))
    if principal.user_id in (w.locked_by, w.settled_by):  # the lock holder, or the broker that settled it
        return wd_logic.locker_view(w)
    if wd_logic.in_cooling(w, now_ms()):  # in the OTC pool: every broker may see it, without identity or wallet
        return wd_logic.pool_view(w)
    raise not_found("withdrawal")


def pending(limit: int, cursor: str | None) -> dict:
    items, nxt = wd_store.pool(now_ms(), limit, cursor)
    return {"withdrawals": [wd_logic.pool_view(w) for w in items], "next_cursor": nxt}


def lock(principal, withdrawal_id: str) -> dict:
    """P2P OTC: first come, first served (one conditional write). Answer: where to send how much USDC."""
    return flows.lock(broker.caller(principal), withdrawal_id)


def unlock(principal, withdrawal_id: str) -> dict:
    return flows.unlock(broker.caller(principal).user_id, withdrawal_id)

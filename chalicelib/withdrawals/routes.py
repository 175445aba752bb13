"""HTTP endpoints of withdrawals (Blueprint registered by app.py): the Broker API v1 withdrawal endpoints
(withdraw for a client, the OTC pool, lock, unlock; orchestration in service.py), a user's own withdrawals, the
broker's bound wallet and the platform's payout queue (the life cycle in flows.py). Thin: validate, call, shape.
"""
from typing import Literal

from chalice import Blueprint
from pydantic import Field

from chalicelib.accounts import store as accounts
from chalicelib.accounts.logic import validate_wallet
from chalicelib.auth import guards
from chalicelib.common.errors import bad_request, not_found
from chalicelib.common.schemas import Body, PageQuery, PositiveDecimal, Str
from chalicelib.withdrawals import flows, logic, states
from chalicelib.withdrawals import store as wd_store

from chalicelib.broker import keys
from chalicelib.broker import scopes as S
from chalicelib.broker.schemas import Page, WithdrawBody
from chalicelib.common.http import route
from chalicelib.withdrawals import service

bp = Blueprint(__name__)
V1 = "/api/v1/broker"


@route(bp, V1 + "/clients/{client_id}/withdraw", ["POST"], auth=keys.api_key(S.TRANSFER_WITHDRAW),
       body=WithdrawBody, idempotent=True, status=201,
       response="chalicelib.withdrawals.responses:V1RequestedWithdrawalView")
def withdraw(req, client_id):
    return 201, service.request(req.principal, client_id, req.body.amount, req.body.wallet_address)


@route(bp, V1 + "/clients/{client_id}/withdrawals", ["GET"], auth=keys.api_key(S.CLIENTS_WITHDRAWALS), query=Page,
       response="chalicelib.withdrawals.responses:V1ClientWithdrawalsView")
def client_withdrawals(req, client_id):
    return service.for_client(req.principal, client_id, req.query.limit, req.query.cursor)


@route(bp, V1 + "/withdrawal/{withdrawal_id}", ["GET"], auth=keys.api_key(S.WITHDRAWAL_READ),
       response="chalicelib.withdrawals.responses:V1VisibleWithdrawalView")
def get_withdrawal(req, withdrawal_id):
    return service.visible(req.principal, withdrawal_id)


@route(bp, f"{V1}/withdrawals/pending", ["GET"], auth=keys.api_key(S.WITHDRAWAL_LIST), query=Page,
       response="chalicelib.withdrawals.responses:PoolView")
def pending_withdrawals(req):
    return service.pending(req.query.limit, req.query.cursor)


@route(bp, V1 + "/withdrawal/{withdrawal_id}/lock", ["POST"], auth=keys.api_key(S.WITHDRAWAL_LOCK),
       response="chalicelib.withdrawals.responses:LockView", errors=(409,))
def lock_withdrawal(req, withdrawal_id):
    return service.lock(req.principal, withdrawal_id)


@route(bp, V1 + "/withdrawal/{withdrawal_id}/unlock", ["POST"], auth=keys.api_key(S.WITHDRAWAL_UNLOCK),
       response="chalicelib.withdrawals.responses:UnlockView", errors=(409,))
def unlock_withdrawal(req, withdrawal_id):
    return service.unlock(req.principal, withdrawal_id)


class AdminQuery(PageQuery):
    status: Literal["pending", "broker_locked", "broker_completed", "processing", "completed", "cancelled"] = \
        states.PROCESSING


class WithdrawalBody(Body):
    amount: PositiveDecimal
    walletAddress: Str | None = Field(default=None, max_length=64)


class BrokerWalletBody(Body):
    walletAddress: Str = Field(max_length=64)


class CompleteBody(Body):
    txHash: Str = Field(min_length=1, max_length=128)


def _wallet(value: str) -> str:
    try:
        return validate_wallet(value)
    except ValueError as e:
        raise bad_request(str(e), "INVALID_WALLET") from None


def _amount(amount):
    if amount.as_tuple().exponent < -6:
        raise bad_request("amount has more than 6 decimals (USDC)", "INVALID_AMOUNT")
    return amount


# --- the user's own withdrawals ------------------------------------------------------------------------------

@route(bp, "/api/withdrawals", ["POST"], auth=guards.any_user, body=WithdrawalBody, idempotent=True, status=201,
       response="chalicelib.withdrawals.responses:WithdrawalView")
def create_withdrawal(req):
    acct = accounts.get(req.principal.user_id, consistent=True)
    if acct is None:
        raise not_found("account")
    wallet = req.body.walletAddress or acct.wallet_address
    if not wallet:
        raise bad_request("walletAddress is required: no wallet is bound to the account", "WALLET_REQUIRED")
    w = flows.request(acct, _amount(req.body.amount), _wallet(wallet), requested_by=acct.user_id)
    return 201, logic.view(w)


@route(bp, "/api/withdrawals", ["GET"], auth=guards.any_user, query=PageQuery,
       response="chalicelib.withdrawals.responses:WithdrawalsView")
def list_withdrawals(req):
    items, nxt = wd_store.for_user(req.principal.user_id, req.query.limit, req.query.cursor)
    return {"withdrawals": [logic.view(w) for w in items], "nextCursor": nxt}


@route(bp, "/api/withdrawals/{withdrawal_id}", ["GET"], auth=guards.any_user,
       response="chalicelib.withdrawals.responses:WithdrawalView")
def get_own_withdrawal(req, withdrawal_id):
    return logic.view(flows.own(req.principal.user_id, withdrawal_id))


@route(bp, "/api/withdrawals/{withdrawal_id}/cancel", ["POST"], auth=guards.any_user,
       response="chalicelib.withdrawals.responses:WithdrawalActionView", errors=(409,))
def cancel_withdrawal(req, withdrawal_id):
    return {"ok": True, **logic.view(flows.cancel(req.principal.user_id, withdrawal_id))}


# --- the broker's bound wallet (the `from` of chain verification) -------------------------------------------

@route(bp, "/api/broker/wallet", ["PUT"], auth=guards.broker_or_admin, body=BrokerWalletBody,
       response="chalicelib.withdrawals.responses:BoundWalletView")
def bind_wallet(req):
    acct = accounts.set_wallet(req.principal.user_id, _wallet(req.body.walletAddress))
    return {"ok": True, "userId": acct.user_id, "walletAddress": acct.wallet_address}


@route(bp, "/api/broker/wallet", ["GET"], auth=guards.broker_or_admin,
       response="chalicelib.withdrawals.responses:WalletView")
def get_wallet(req):
    acct = accounts.get(req.principal.user_id, consistent=True)
    return {"userId": req.principal.user_id, "walletAddress": acct.wallet_address if acct else None}


# --- the platform's payout queue ----------------------------------------------------------------------------

@route(bp, "/api/admin/withdrawals", ["GET"], auth=guards.admin_only, query=AdminQuery,
       response="chalicelib.withdrawals.responses:WithdrawalsView")
def admin_withdrawals(req):
    q = req.query
    items, nxt = wd_store.by_status(q.status, q.limit, q.cursor)
    return {"withdrawals": [logic.view(w) for w in items], "nextCursor": nxt}


@route(bp, "/api/admin/withdrawals/{withdrawal_id}/complete", ["POST"], auth=guards.admin_only, body=CompleteBody,
       idempotent=True, response="chalicelib.withdrawals.responses:WithdrawalActionView", errors=(409,))
def admin_complete(req, withdrawal_id):
    return {"ok": True, **logic.view(flows.complete(withdrawal_id, req.body.txHash))}

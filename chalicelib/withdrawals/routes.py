"""HTTP endpoints of withdrawals (Blueprint registered by app.py): the Broker API v1 withdrawal endpoints.
Thin: validate, call chalicelib.withdrawals.service, shape the answer.
"""
from chalice import Blueprint

from chalicelib.broker import keys
from chalicelib.broker import scopes as S
from chalicelib.broker.schemas import Page, WithdrawBody
from chalicelib.common.http import route
from chalicelib.withdrawals import service

bp = Blueprint(__name__)
V1 = "/api/v1/broker"


@route(bp, V1 + "/clients/{client_id}/withdraw", ["POST"], auth=keys.api_key(S.TRANSFER_WITHDRAW),
       body=WithdrawBody, idempotent=True, status=201)
def withdraw(req, client_id):
    return 201, service.request(req.principal, client_id, req.body.amount, req.body.wallet_address)


@route(bp, V1 + "/clients/{client_id}/withdrawals", ["GET"], auth=keys.api_key(S.CLIENTS_WITHDRAWALS), query=Page)
def client_withdrawals(req, client_id):
    return service.for_client(req.principal, client_id, req.query.limit, req.query.cursor)


@route(bp, V1 + "/withdrawal/{withdrawal_id}", ["GET"], auth=keys.api_key(S.WITHDRAWAL_READ))
def get_withdrawal(req, withdrawal_id):
    return service.visible(req.principal, withdrawal_id)


@route(bp, f"{V1}/withdrawals/pending", ["GET"], auth=keys.api_key(S.WITHDRAWAL_LIST), query=Page)
def pending_withdrawals(req):
    return service.pending(req.query.limit, req.query.cursor)


# Lock / unlock belong to the withdrawals (P2P OTC) issue. They are registered here only so that the key and scope
# checks and a clear 501 exist; that issue replaces these two views (and service.visible's lock-holder rule).
@route(bp, V1 + "/withdrawal/{withdrawal_id}/lock", ["POST"], auth=keys.api_key(S.WITHDRAWAL_LOCK))
def lock_withdrawal(req, withdrawal_id):
    raise service.not_yet()


@route(bp, V1 + "/withdrawal/{withdrawal_id}/unlock", ["POST"], auth=keys.api_key(S.WITHDRAWAL_UNLOCK))
def unlock_withdrawal(req, withdrawal_id):
    raise service.not_yet()

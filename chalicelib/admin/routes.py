"""Platform operator endpoints: brokers, credits (the only way DCT enters besides chain settlement), revocation."""
from chalice import Blueprint
from pydantic import Field

from chalicelib.accounts import store as accounts
from chalicelib.auth import guards
from chalicelib.auth import store as sessions
from chalicelib.admin import service
from chalicelib.common.errors import not_found
from chalicelib.common.http import route
from chalicelib.common.schemas import Body, PositiveDecimal, Str, Username
from chalicelib.ledger import logic as ledger
from chalicelib.ledger.store import Tx

bp = Blueprint(__name__)


class BrokerBody(Body):
    username: Username
    password: Str = Field(min_length=8, max_length=128)
    tenantCode: Str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    name: Str = Field(min_length=1, max_length=128)
    ssoSecret: Str | None = Field(default=None, min_length=16, max_length=256)
    ssoPublicKey: Str | None = Field(default=None, max_length=8192)
    ssoAlgorithm: Str | None = Field(default=None, pattern=r"^(HS256|RS256|ES256)$")
    email: Str | None = Field(default=None, max_length=254)


class CreditBody(Body):
    amount: PositiveDecimal
    reference: Str = Field(default="admin credit", max_length=256)


class RevokeBody(Body):
    userId: Str = Field(min_length=1, max_length=64)


def broker_view(acct) -> dict:
    return {"userId": acct.user_id, "brokerUid": acct.user_id, "username": acct.username, "role": acct.role,
            "tenantCode": acct.tenant_code, "name": acct.name, "brandRootId": acct.brand_root_id,
            "parentBrokerId": acct.parent_broker_id, "ssoAlgorithm": acct.sso_algorithm,
            "createdAt": acct.created_at}


@route(bp, "/api/admin/brokers", ["POST"], auth=guards.admin_only, body=BrokerBody, idempotent=True, status=201,
       response="chalicelib.admin.responses:AdminBrokerView", errors=(409,))
def create_broker(req):
    return 201, broker_view(service.create_broker(req.body))


@route(bp, "/api/admin/accounts/{user_id}/credit", ["POST"], auth=guards.admin_only, body=CreditBody,
       idempotent=True, status=201, response="chalicelib.admin.responses:CreditView")
def credit(req, user_id):
    acct = accounts.get(user_id)
    if acct is None or acct.role == "system":
        raise not_found("account")
    tx = Tx()
    tx.post(ledger.transfer(ledger.SYSTEM_EXTERNAL, user_id, req.body.amount), kind="credit",
            reference=req.body.reference)
    tx.commit()
    return 201, {"txnId": tx.txn_id, "userId": user_id, "amount": req.body.amount, "currency": "DCT",
                 "reference": req.body.reference, "kind": "credit", "createdAt": tx.now,
                 "balance": accounts.get(user_id, consistent=True).balance}


@route(bp, "/api/admin/sessions/revoke", ["POST"], auth=guards.admin_only, body=RevokeBody,
       response="chalicelib.admin.responses:RevokeView")
def revoke(req):
    if accounts.get(req.body.userId) is None:
        raise not_found("account")
    return {"ok": True, "userId": req.body.userId, "revoked": sessions.revoke_all(req.body.userId)}

"""Session auth endpoints: register, login, logout."""
from chalice import Blueprint

from chalicelib.accounts import store as accounts
from pydantic import Field

from chalicelib.accounts.logic import user_view
from chalicelib.auth import guards, service, store
from chalicelib.auth.logic import verify_password
from chalicelib.common.errors import ApiError
from chalicelib.common.http import route
from chalicelib.common.schemas import Body, Str, Username

bp = Blueprint(__name__)


class RegisterBody(Body):
    username: Username
    password: Str = Field(min_length=8, max_length=128)
    brokerUid: Str | None = Field(default=None, max_length=64)
    email: Str | None = Field(default=None, max_length=254)


class LoginBody(Body):
    username: Str = Field(min_length=1, max_length=64)
    password: Str = Field(min_length=1, max_length=128)


@route(bp, "/api/auth/register", ["POST"], body=RegisterBody, status=201)
def register(req):
    return 201, service.register(req.body)


@route(bp, "/api/auth/login", ["POST"], body=LoginBody)
def login(req):
    acct = accounts.by_username(req.body.username)
    if not verify_password(req.body.password, acct.password_hash if acct else None) or acct.role == "system":
        raise ApiError(401, "INVALID_CREDENTIALS", "invalid username or password")
    return {"token": store.create_session(acct.user_id, acct.role), "user": user_view(acct)}


@route(bp, "/api/auth/logout", ["POST"], auth=guards.any_user)
def logout(req):
    store.revoke(guards.bearer_token(req.raw))
    return {"ok": True}

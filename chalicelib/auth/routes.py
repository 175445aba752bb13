"""Session auth endpoints: register, login, logout."""
from chalice import Blueprint

from pydantic import Field

from chalicelib.accounts.logic import user_view
from chalicelib.auth import guards, service, store
from chalicelib.common.errors import ApiError
from chalicelib.common.http import route
from chalicelib.limits.service import source_ip
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


@route(bp, "/api/auth/register", ["POST"], body=RegisterBody, status=201, rate="register",
       response="chalicelib.auth.responses:SessionView")
def register(req):
    return 201, service.register(req.body)


@route(bp, "/api/auth/login", ["POST"], body=LoginBody, response="chalicelib.auth.responses:SessionView",
       errors=(401, 429))
def login(req):
    return service.login(req.body.username, req.body.password, source_ip(req.raw))


@route(bp, "/api/auth/logout", ["POST"], auth=guards.any_user, response="chalicelib.common.responses:Ok")
def logout(req):
    store.revoke(guards.bearer_token(req.raw))
    return {"ok": True}


# --- SSO (chalicelib/auth/sso.py verifies, sso_service.py logs in) ------------------------------------------

class SsoTokenBody(Body):
    token: Str = Field(min_length=1, max_length=8192)


def _pages_prefix(raw) -> str:
    """The path prefix of the deployment (API Gateway stage, e.g. '/dev'; '' locally), so a redirect to
    /pages/... lands on the same deployment."""
    ctx = raw.context or {}
    path, resource = ctx.get("path") or "", ctx.get("resourcePath") or ""
    return path[:-len(resource)] if resource and path.endswith(resource) else ""


def _failure_page(e: ApiError):
    """A rejected browser sign-in as a small HTML page (the JSON error for API callers)."""
    from html import escape

    from chalice import Response
    page = ("<!doctype html><meta charset=utf-8><title>Sign-in failed</title>"
            f"<h1>Sign-in failed</h1><p>{escape(e.error)}</p>")
    return Response(page, status_code=e.status, headers={"Content-Type": "text/html; charset=utf-8",
                                                          "Cache-Control": "no-store"})


def _redirect_to_chart(raw, done):
    """302 to the chart page with the session token (and the broker's logout URL) in the fragment, which never
    reaches a server log or a Referer."""
    from urllib.parse import quote

    from chalice import Response
    fragment = f"auth_token={quote(done.token, safe='')}"
    if done.logout_redirect_url:
        fragment += f"&logout_redirect_url={quote(done.logout_redirect_url, safe='')}"
    return Response("", status_code=302, headers={
        "Location": f"{_pages_prefix(raw)}/pages/chart.html#{fragment}", "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer"})


@route(bp, "/api/auth/sso", ["GET"], rate="sso", errors=(400, 401))
def sso_redirect(req):
    """Browser redirect: 302 to /pages/chart.html#auth_token=<session token> (the page moves it into
    localStorage.auth_token and clears the fragment). Rejected: 401, an HTML page for browsers, else JSON."""
    from chalicelib.auth import sso_service
    try:
        done = sso_service.login((req.raw.query_params or {}).get("token"))
    except ApiError as e:
        if "text/html" in (req.header("accept") or ""):
            return _failure_page(e)
        raise
    return _redirect_to_chart(req.raw, done)


@route(bp, "/api/auth/sso/token", ["POST"], body=SsoTokenBody, rate="sso",
       response="chalicelib.auth.responses:SsoSessionView", errors=(401,))
def sso_token(req):
    """The widget's silent login: {token: <JWT>} -> {token, user, logoutRedirectUrl}."""
    from chalicelib.auth import sso_service
    done = sso_service.login(req.body.token)
    return {"token": done.token, "user": user_view(done.account), "logoutRedirectUrl": done.logout_redirect_url}

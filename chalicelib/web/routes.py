"""The people-facing half: the embeddable widget script, the two pages, and the brand config they read.

Assets are files inside the deployment package (chalicelib/ is packaged whole by `chalice package`), served by
the same api_handler Lambda, so they work the same locally and in AWS:

  /widget/st-trading-widget.js   chalicelib/web/dist/st-trading-widget.js  (built by `make widget` with esbuild
                                 from web/widget/*.js and the lightweight-charts npm package; not in git)
  /pages/chart.html              chalicelib/web/pages/chart.html           (source, in git)
  /pages/broker-portal.html      chalicelib/web/pages/broker-portal.html
  /docs                          chalicelib/web/pages/api-docs.html        (the API reference: Redoc renders
  /docs/redoc.standalone.js      chalicelib/web/dist/redoc.standalone.js    /api/openapi.json; `make widget` copies
                                                                            the bundle from the redoc npm package)
"""
import os
import re

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import settings
from chalicelib.accounts import store as accounts
from chalicelib.common.errors import ApiError
from chalicelib.common.http import route

bp = Blueprint(__name__)
HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = {
    "/widget/st-trading-widget.js": (os.path.join(HERE, "dist", "st-trading-widget.js"),
                                     "application/javascript; charset=utf-8"),
    "/pages/chart.html": (os.path.join(HERE, "pages", "chart.html"), "text/html; charset=utf-8"),
    "/pages/broker-portal.html": (os.path.join(HERE, "pages", "broker-portal.html"), "text/html; charset=utf-8"),
    "/docs": (os.path.join(HERE, "pages", "api-docs.html"), "text/html; charset=utf-8"),
    "/docs/redoc.standalone.js": (os.path.join(HERE, "dist", "redoc.standalone.js"),
                                  "application/javascript; charset=utf-8"),
}
_cache: dict[str, tuple[float, str]] = {}
DEFAULT_BRAND = {"brandName": "ST Trading", "logoUrl": None, "primaryColor": "#f0b90b", "brokerUid": None}
_LABEL = re.compile(r"^[a-z0-9_\-]{1,64}$")


def _read(path: str) -> str:
    """File contents, re-read when the file changes (a rebuilt bundle is served without a restart)."""
    mtime = os.stat(path).st_mtime
    hit = _cache.get(path)
    if hit and hit[0] == mtime:
        return hit[1]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    _cache[path] = (mtime, text)
    return text


def _asset(name: str) -> Response:
    path, content_type = ASSETS[name]
    try:
        body = _read(path)
    except FileNotFoundError:
        raise ApiError(503, "ASSET_NOT_BUILT", f"{name} is not built: run `make widget`") from None
    return Response(body, status_code=200, headers={"Content-Type": content_type, "Cache-Control": "public, max-age=60",
                                                    "Access-Control-Allow-Origin": "*",
                                                    "X-Content-Type-Options": "nosniff"})


@route(bp, "/widget/st-trading-widget.js", ["GET"])
def widget_script(req):
    return _asset("/widget/st-trading-widget.js")


@route(bp, "/pages/chart.html", ["GET"])
def chart_page(req):
    return _asset("/pages/chart.html")


@route(bp, "/pages/broker-portal.html", ["GET"])
def broker_portal_page(req):
    return _asset("/pages/broker-portal.html")


@route(bp, "/docs", ["GET"])
def api_docs_page(req):
    """The human-readable API reference (Redoc over /api/openapi.json)."""
    return _asset("/docs")


@route(bp, "/docs/redoc.standalone.js", ["GET"])
def redoc_script(req):
    return _asset("/docs/redoc.standalone.js")


class BrandQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    domain: str | None = Field(default=None, max_length=253)
    brokerUid: str | None = Field(default=None, max_length=64)


def _brand_root(q: BrandQuery):
    """The top-level broker whose brand applies: the broker named by brokerUid (its brand root), else the broker
    whose tenant code is the first label of the domain (white-label hosts `<tenantCode>.<platform domain>`)."""
    if q.brokerUid:
        b = accounts.get(q.brokerUid)
        if b is not None and b.role == "broker":
            return accounts.get(b.brand_root_id) if b.brand_root_id and b.brand_root_id != b.user_id else b
    if q.domain:
        label = q.domain.strip().lower().split(":")[0].split(".")[0]
        if _LABEL.match(label):
            owner = accounts.get_unique("tenant", label)
            b = accounts.get(owner) if owner else None
            if b is not None and b.role == "broker":
                return b
    return None


def _color(uid: str) -> str:
    """A stable brand colour per broker until brokers can set one."""
    palette = ("#f0b90b", "#2962ff", "#26a69a", "#ab47bc", "#ef6c00", "#00897b")
    return palette[int(uid.replace("-", "")[:8], 16) % len(palette)] if uid else palette[0]


@route(bp, "/api/brand-config", ["GET"], query=BrandQuery, response="chalicelib.web.responses:BrandConfigView")
def brand_config(req):
    root = _brand_root(req.query)
    out = dict(DEFAULT_BRAND) if root is None else {
        "brandName": root.name or root.username, "logoUrl": None, "primaryColor": _color(root.user_id),
        "brokerUid": root.user_id, "tenantCode": root.tenant_code}
    ws_url = public_ws_url()
    if ws_url:
        out["wsUrl"] = ws_url
    return out


def public_ws_url() -> str | None:
    """The WebSocket URL clients connect to, when it is not <api-url>/ws (the local stack's): PUBLIC_WS_URL, else
    in AWS the WebSocket API's stage URL, which is its management endpoint (https://<id>.execute-api.../<stage>,
    set by the template) with the wss scheme."""
    s = settings.get()
    if s.public_ws_url:
        return s.public_ws_url
    mgmt = s.ws_management_endpoint or ""
    if mgmt.startswith("https://"):
        return "wss://" + mgmt[len("https://"):]
    return None

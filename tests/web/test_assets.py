"""The static assets and the brand config over the real app (moto, in-process)."""
import os
import subprocess

import pytest

from tests.broker.conftest import World
from tests.helpers import Api

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLE = os.path.join(ROOT, "chalicelib", "web", "dist", "st-trading-widget.js")


def _headers(r):
    return {k.lower(): v for k, v in r.headers.items()}


@pytest.fixture(scope="module")
def bundle():
    if not os.path.exists(BUNDLE):
        subprocess.run(["node", os.path.join(ROOT, "web", "widget", "build.mjs")], cwd=ROOT, check=True)
    return BUNDLE


def test_widget_script_is_one_self_contained_bundle(client, bundle):
    r = client.http.get("/widget/st-trading-widget.js")
    assert r.status_code == 200
    h = _headers(r)
    assert h["content-type"].startswith("application/javascript")
    assert h["access-control-allow-origin"] == "*"
    body = r.body.decode()
    assert "customElements.define" in body and "st-trading-widget" in body
    assert "import " not in body.split("\n", 1)[1][:200]  # bundled: no module imports left
    assert "lightweight-charts" in body  # TradingView's library is inside (its licence banner)
    for attr in ("broker-uid", "api-url", "default-symbol", "width", "theme", "sso-token", "brand-domain"):
        assert f"'{attr}'" in body or f'"{attr}"' in body, attr


@pytest.mark.parametrize("path", ["/pages/chart.html", "/pages/broker-portal.html"])
def test_pages_are_served(client, path):
    r = client.http.get(path)
    assert r.status_code == 200
    assert _headers(r)["content-type"].startswith("text/html")
    assert b"<!doctype html>" in r.body


def test_chart_page_moves_the_sso_token_out_of_the_fragment(client):
    body = client.http.get("/pages/chart.html").body.decode()
    assert "localStorage.setItem('auth_token'" in body and "history.replaceState" in body
    assert 'storage-key="auth_token"' in body


def test_cors_allows_the_widget_headers_on_every_route_it_calls():
    """Preflights are answered by API Gateway (locally by chalice.local) from each route's CORS config; the
    browser test exercises them for real from another origin."""
    from app import app
    calls = {("/api/orders", "POST"), ("/api/orders/{order_id}", "DELETE"), ("/api/positions/{position_id}/close",
             "POST"), ("/api/auth/sso/token", "POST"), ("/api/auth/register", "POST"), ("/api/brand-config", "GET"),
             ("/api/broker/api-keys", "POST"), ("/api/v1/broker/clients/{client_id}/deposit", "POST")}
    for path, method in calls:
        cors = app.routes[path][method].cors
        assert cors and cors.allow_origin == "*", path
        allowed = {h.lower() for h in cors.get_access_control_headers()["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key", "x-api-key"} <= allowed, (path, allowed)


def test_brand_config(client, monkeypatch):
    w = World(client)
    api = Api(client)
    default = api.get("/api/brand-config?domain=unknown.example.com")
    assert default.status == 200 and set(default.json) >= {"brandName", "logoUrl", "primaryColor", "brokerUid"}
    assert default.json["brokerUid"] is None
    b = w.broker()
    from chalicelib.accounts import store as accounts
    acct = accounts.get(b.uid)
    by_uid = api.get(f"/api/brand-config?brokerUid={b.uid}").json
    assert by_uid["brokerUid"] == b.uid and by_uid["brandName"] == acct.name
    by_host = api.get(f"/api/brand-config?domain={acct.tenant_code}.trade.example.com").json
    assert by_host["brokerUid"] == b.uid
    # a sub-broker's widget shows its root broker's brand
    sub = api.post("/api/v1/broker/sub-brokers", {"username": "sb_" + b.uid[:6], "password": "password-123"},
                   key=b.key).json
    assert api.get(f"/api/brand-config?brokerUid={sub['user_id']}").json["brokerUid"] == b.uid
    monkeypatch.setenv("WS_MANAGEMENT_ENDPOINT", "https://abc.execute-api.us-east-1.amazonaws.com/api")
    assert api.get("/api/brand-config").json["wsUrl"] == "wss://abc.execute-api.us-east-1.amazonaws.com/api"

"""The widget and the pages in a real browser: headless Debian chromium driven by Playwright, against the local
stack (`python -m local.stack` as a subprocess: the real app, moto, the WebSocket gateway, the stream pumps).

The widget is embedded by a host page on a second origin (its own little HTTP server). Every step saves a
screenshot under test-artifacts/browser/ (gitignored; CI keeps it as an artifact). No console errors are allowed.
`make test` installs chromium when missing; run alone: `.venv/bin/python -m pytest -q tests/web/test_browser.py`.
"""
import functools
import http.server
import os
import subprocess
import threading
import time
import uuid

import boto3
import jwt
import pytest
import requests

from tests.fixtures.local_stack import local_stack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.path.join(ROOT, "test-artifacts", "browser")
BUNDLE = os.path.join(ROOT, "chalicelib", "web", "dist", "st-trading-widget.js")
SYMBOL = "BTCUSDT"
pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing (make test installs it)")]

sync_api = pytest.importorskip("playwright.sync_api")


# --- the stack, the feeder, the second origin -----------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not os.path.exists(BUNDLE) or any(
            os.path.getmtime(os.path.join(ROOT, "web", "widget", f)) > os.path.getmtime(BUNDLE)
            for f in os.listdir(os.path.join(ROOT, "web", "widget"))):
        subprocess.run(["node", os.path.join(ROOT, "web", "widget", "build.mjs")], cwd=ROOT, check=True)
    with local_stack(tmp_path_factory.mktemp("webstack"),
                     env={"FEED": "off", "SEED": "on", "LOG_LEVEL": "WARNING", "LAMBDA_CONCURRENCY": "8"}) as s:
        yield {**s.creds, "info": s.info}


def api(stack, method, path, token=None, key=None, **kw):
    h = kw.pop("headers", {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if key:
        h["X-API-Key"] = key
    return requests.request(method, stack["baseUrl"] + path, headers=h, timeout=30, **kw)


@pytest.fixture(scope="module")
def feeder(stack):
    """The demo feed for BTCUSDT, at a modest pace (two pushes a second)."""
    stop = threading.Event()
    token = stack["admin"]["token"]
    r = api(stack, "GET", f"/api/ticker?symbol={SYMBOL}").json()
    price = [float(r.get("price") or 70000.0)]

    def run():
        n = 0
        while not stop.wait(0.5):
            n += 1
            price[0] = round(price[0] * (1 + (0.0006 if n % 7 < 4 else -0.0005)), 2)
            try:
                api(stack, "POST", "/api/broker/price-feed", token, json={"symbol": SYMBOL, "price": price[0]})
            except requests.RequestException:
                pass
    t = threading.Thread(target=run, name="test-feeder", daemon=True)
    t.start()
    yield price
    stop.set()
    t.join(5)


HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Host site</title><link rel="icon" href="data:,">
<style>body{{font-family:sans-serif;background:#eef1f5;margin:0;padding:16px}} .site{{display:flex;gap:16px}}</style>
<script src="{base}/widget/st-trading-widget.js"></script></head>
<body><h2>A broker's own website (another origin)</h2><div class="site"><div><p>Our markets, embedded:</p>
<st-trading-widget id="w" broker-uid="{broker}" api-url="{base}" default-symbol="{symbol}" width="440px"
  theme="dark"></st-trading-widget></div><pre id="log"></pre></div>
<script>
window.__events = [];
for (const name of ['st-login', 'st-order', 'st-error', 'st-logout']) {{
  document.addEventListener(name, (e) => {{ window.__events.push({{name, detail: e.detail}});
    document.getElementById('log').textContent += name + '\\n'; }});
}}
const sso = new URLSearchParams(location.search).get('sso');
if (sso) document.getElementById('w').setAttribute('sso-token', sso);
</script></body></html>"""


@pytest.fixture(scope="module")
def host(stack, tmp_path_factory):
    """A second origin serving the host page (and a 'logged out' page for logout_redirect_url)."""
    root = tmp_path_factory.mktemp("host")
    (root / "index.html").write_text(HOST_PAGE.format(base=stack["baseUrl"], broker=stack["broker"]["brokerUid"],
                                                      symbol=SYMBOL))
    (root / "bye.html").write_text("<!doctype html><meta charset=utf-8><link rel=icon href='data:,'>"
                                   "<title>bye</title><h1>You are logged out of the broker's site</h1>")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("localhost", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# --- the browser ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-dev-shm-usage"])
        yield b
        b.close()


class Page:
    """A Playwright page that records console errors and saves numbered screenshots."""

    def __init__(self, browser, name):
        self.ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.ctx.new_page()
        self.name, self.n, self.errors = name, 0, []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        os.makedirs(ARTIFACTS, exist_ok=True)

    def shot(self, step):
        self.n += 1
        self.page.screenshot(path=os.path.join(ARTIFACTS, f"{self.name}-{self.n:02d}-{step}.png"), full_page=True)

    def close(self):
        self.ctx.close()


@pytest.fixture
def page(browser, request):
    p = Page(browser, request.node.name.replace("test_", ""))
    yield p
    p.close()


def wait_js(pg, expr, arg=None, timeout=20000):
    try:
        pg.page.wait_for_function(expr, arg=arg, timeout=timeout)
    except sync_api.TimeoutError:
        events = pg.page.evaluate("window.__events || null")
        raise AssertionError(f"timed out: {expr}\nevents: {events}\nconsole: {pg.errors}") from None


def widget(pg):
    return pg.page.locator("st-trading-widget")


def connections_of(stack, user_id):
    env = stack["info"]["env"]
    ddb = boto3.client("dynamodb", endpoint_url=env["DYNAMODB_ENDPOINT"], region_name=env["AWS_DEFAULT_REGION"],
                       aws_access_key_id="test", aws_secret_access_key="test")
    table = env.get("CONNECTIONS_TABLE") or f"{env['TABLE_PREFIX']}connections"
    items = ddb.scan(TableName=table)["Items"]
    conns = [i["connection_id"]["S"] for i in items if i["sk"]["S"] == "C" and i.get("user_id", {}).get("S") == user_id]
    subs = {i["topic"]["S"] for i in items if i["sk"]["S"].startswith("SUB#") and i["connection_id"]["S"] in conns}
    return conns, subs


# --- the tests ------------------------------------------------------------------------------------------------

def test_widget_on_another_origin_register_trade_close_reconnect(stack, feeder, host, page):
    pg, w = page, widget(page)
    pg.page.goto(host + "/index.html")
    w.locator("#auth").wait_for(state="visible")
    wait_js(pg, "() => document.querySelector('st-trading-widget').chartState.bars > 0 || "
                "document.querySelector('st-trading-widget').chartState.price !== null")
    pg.shot("login-form")

    username = "w_" + uuid.uuid4().hex[:8]
    w.locator("#username").fill(username)
    w.locator("#password").fill("password-123")
    w.locator("#register").click()
    wait_js(pg, "() => window.__events.some(e => e.name === 'st-login')")
    login = pg.page.evaluate("window.__events.find(e => e.name === 'st-login').detail")
    user_id = login["user"]["id"]
    me = api(stack, "GET", "/api/accounts/me", stack["admin"]["token"]).json()
    assert me["role"] == "admin"
    acct = requests.get(stack["baseUrl"] + "/api/accounts/me",
                        headers={"Authorization": "Bearer " + pg.page.evaluate(
                            "localStorage.getItem('st_widget_token:' + document.querySelector('st-trading-widget')"
                            ".getAttribute('broker-uid'))")}).json()
    assert acct["parentBrokerId"] == stack["broker"]["brokerUid"], "registered through the widget: the broker's"
    r = api(stack, "POST", f"/api/admin/accounts/{user_id}/credit", stack["admin"]["token"],
            json={"amount": 5000, "reference": "browser test"})
    assert r.status_code == 201, r.text
    w.locator("#trade").wait_for(state="visible")
    pg.shot("registered")

    # the price ticks and the chart's live candle follows the feeder
    start = pg.page.evaluate("document.querySelector('st-trading-widget').chartState")
    wait_js(pg, "(s) => { const c = document.querySelector('st-trading-widget').chartState;"
                " return c.ticks >= s.ticks + 2 && c.lastBar && c.lastBar.close !== (s.lastBar && s.lastBar.close); }",
            start)
    wait_js(pg, "() => document.querySelector('st-trading-widget').shadowRoot.getElementById('balance')"
                ".textContent.includes('5,000')")
    pg.shot("price-ticking")

    # market buy -> a position; then close it
    w.locator("#quantity").fill("0.01")
    w.locator("#submit").click()
    wait_js(pg, "() => window.__events.some(e => e.name === 'st-order' && e.detail.order)")
    order = pg.page.evaluate("window.__events.find(e => e.name === 'st-order' && e.detail.order).detail.order")
    assert order["status"] == "filled", order
    w.locator("tr.position").first.wait_for(state="visible")
    assert w.locator("tr.position").count() == 1
    pg.shot("position-open")
    w.locator("tr.position button.close").click()
    w.locator("#positions tr.empty").wait_for(state="visible")
    wait_js(pg, "() => window.__events.some(e => e.name === 'st-order' && e.detail.action === 'close')")
    pg.shot("position-closed")

    # a limit order far below the price rests in the open orders; cancel it
    w.locator("#type").select_option("limit")
    w.locator("#order-price").fill(str(round(feeder[0] * 0.5, 2)))
    w.locator("#submit").click()
    w.locator("#tab-orders").click()
    w.locator("tr.order").first.wait_for(state="visible")
    pg.shot("limit-order-open")
    w.locator("tr.order button.cancel").click()
    w.locator("#orders tr.empty").wait_for(state="visible")

    # the server drops the WebSocket (API Gateway's DELETE @connections): the widget reconnects, re-sends auth
    # and every subscription, and the price ticks again
    conns, subs = connections_of(stack, user_id)
    assert len(conns) == 1 and {f"orders#{user_id}", f"ticker#{SYMBOL}"} <= subs, (conns, subs)
    r = requests.delete(f"{stack['baseUrl']}/local/@connections/{conns[0]}", timeout=10)
    assert r.status_code in (200, 204), r.text
    wait_js(pg, "() => document.querySelector('st-trading-widget').connection.reconnects >= 1 && "
                "document.querySelector('st-trading-widget').connection.status === 'live'")
    ticks = pg.page.evaluate("document.querySelector('st-trading-widget').chartState.ticks")
    wait_js(pg, "(t) => document.querySelector('st-trading-widget').chartState.ticks >= t + 2", ticks)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new_conns, new_subs = connections_of(stack, user_id)
        if new_conns and new_conns != conns and {f"orders#{user_id}", f"positions#{user_id}", f"account#{user_id}",
                                                 f"ticker#{SYMBOL}", f"kline#{SYMBOL}#1m"} <= new_subs:
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"after the reconnect: {new_conns} {new_subs}")
    pg.shot("reconnected")
    errors = [e for e in pg.page.evaluate("window.__events") if e["name"] == "st-error"]
    assert errors == [] and pg.errors == [], (errors, pg.errors)


def _sso_token(stack, **extra):
    now = int(time.time())
    claims = {"user_id": "ext-" + uuid.uuid4().hex[:8], "tenant_code": stack["broker"]["tenantCode"],
              "email": "sso@example.com", "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex, **extra}
    return jwt.encode(claims, stack["broker"]["ssoSecret"], algorithm="HS256"), claims


def test_sso_redirect_lands_logged_in_and_logout_honours_the_redirect(stack, feeder, host, page):
    pg = page
    token, claims = _sso_token(stack, logout_redirect_url=host + "/bye.html")
    pg.page.goto(f"{stack['baseUrl']}/api/auth/sso?token={token}")
    pg.page.wait_for_url(f"{stack['baseUrl']}/pages/chart.html")
    assert "auth_token" not in pg.page.url  # the fragment is gone
    stored = pg.page.evaluate("localStorage.getItem('auth_token')")
    assert stored and stored.startswith("st_")
    w = widget(pg)
    w.locator("#trade").wait_for(state="visible")
    wait_js(pg, "() => document.querySelector('st-trading-widget').chartState.ticks >= 1")
    short = stack["broker"]["brokerUid"].replace("-", "")[:6]
    assert w.locator("#account-name").text_content() == f"sso_{short}_{claims['user_id']}"
    pg.shot("sso-landed")
    # the same (broker, user_id) through v1 is the same account
    r = api(stack, "GET", f"/api/v1/broker/clients/{claims['user_id']}/balance", key=stack["broker"]["apiKey"])
    assert r.status_code == 200, r.text
    pg.page.reload()  # logged in from localStorage.auth_token alone
    w.locator("#trade").wait_for(state="visible")
    w.locator("#logout").click()
    pg.page.wait_for_url(host + "/bye.html")
    assert pg.page.evaluate("localStorage.getItem('auth_token')") is None
    pg.shot("logged-out-redirect")
    assert pg.errors == [], pg.errors


def test_widget_silent_sso_with_sso_token(stack, host, page):
    pg = page
    token, claims = _sso_token(stack)
    pg.page.goto(f"{host}/index.html?sso={token}")
    widget(pg).locator("#trade").wait_for(state="visible")
    wait_js(pg, "() => window.__events.some(e => e.name === 'st-login' && e.detail.via === 'sso')")
    assert widget(pg).locator("#auth").is_hidden()
    pg.shot("silent-sso")
    assert pg.errors == [], pg.errors


def _portal_login(pg, stack):
    pg.page.goto(stack["baseUrl"] + "/pages/broker-portal.html")
    pg.page.locator("#login-username").fill(stack["broker"]["username"])
    pg.page.locator("#login-password").fill(stack["broker"]["password"])
    pg.page.locator("#login-submit").click()
    pg.page.locator("#app").wait_for(state="visible")
    pg.page.wait_for_function("() => document.getElementById('embed-code').value.includes('broker-uid')")


def test_broker_portal_api_key_shown_once(stack, page):
    pg = page
    _portal_login(pg, stack)
    embed = pg.page.locator("#embed-code").input_value()
    assert f'broker-uid="{stack["broker"]["brokerUid"]}"' in embed and "/widget/st-trading-widget.js" in embed
    pg.page.locator("#clients tbody tr").first.wait_for()
    pg.shot("portal")
    # deposit to a client from the broker's balance, and make a sub-broker
    trader = pg.page.locator("#clients tbody tr", has_text="demo_trader")
    before = api(stack, "GET", "/api/accounts/me", stack["trader"]["token"]).json()["balance"]
    trader.locator(".dep-amount").fill("25")
    trader.locator(".dep-go").click()
    pg.page.locator("#toast", has_text="Deposited 25").wait_for()
    assert api(stack, "GET", "/api/accounts/me", stack["trader"]["token"]).json()["balance"] == before + 25
    sub = "sb_" + uuid.uuid4().hex[:8]
    pg.page.locator("#sub-username").fill(sub)
    pg.page.locator("#sub-password").fill("password-123")
    pg.page.locator("#sub-form button").click()
    pg.page.locator("#subbrokers tbody tr", has_text=sub).wait_for()
    name = "k" + uuid.uuid4().hex[:6]
    pg.page.locator("#key-name").fill(name)
    pg.page.locator("#key-webhook").fill("https://hooks.example.com/st")
    pg.page.locator("#key-create").click()
    pg.page.locator("#key-once").wait_for(state="visible")
    key = pg.page.locator("#once-key").text_content()
    secret = pg.page.locator("#once-secret").text_content()
    assert key.startswith("bk_") and len(secret) >= 16
    assert api(stack, "GET", "/api/v1/broker/balance", key=key).status_code == 200  # the key works
    row = pg.page.locator("#keys tbody tr", has_text=name)
    row.wait_for()
    pg.shot("api-key-created")
    pg.page.locator("#once-dismiss").click()
    pg.page.reload()
    pg.page.locator("#keys tbody tr", has_text=name).wait_for()
    html = pg.page.content()
    assert key not in html and secret not in html  # never shown again
    pg.page.locator("#keys tbody tr", has_text=name).locator("button.revoke").click()
    pg.page.locator("#keys tbody tr", has_text=name).filter(has_text="revoked").wait_for()
    assert api(stack, "GET", "/api/v1/broker/balance", key=key).status_code == 401
    pg.shot("api-key-revoked")
    assert pg.errors == [], pg.errors


def test_broker_portal_locks_and_unlocks_a_pooled_withdrawal(stack, page):
    admin = stack["admin"]["token"]
    # a withdrawal of another broker's client sits in the OTC pool
    other = "ob_" + uuid.uuid4().hex[:8]
    r = api(stack, "POST", "/api/admin/brokers", admin, json={"username": other, "password": "password-123",
                                                              "tenantCode": other, "name": "Other broker"})
    assert r.status_code == 201, r.text
    other_token = api(stack, "POST", "/api/auth/login", json={"username": other, "password": "password-123"}).json()["token"]
    other_key = api(stack, "POST", "/api/broker/api-keys", other_token,
                    json={"name": "k", "scopes": ["clients:create", "transfer:withdraw"]}).json()["key"]
    client = api(stack, "POST", "/api/v1/broker/clients", key=other_key,
                 json={"user_id": "c1", "wallet_address": "0x" + "12" * 20}).json()
    api(stack, "POST", f"/api/admin/accounts/{client['account_id']}/credit", admin, json={"amount": 500})
    w = api(stack, "POST", "/api/v1/broker/clients/c1/withdraw", key=other_key, json={"amount": 100})
    assert w.status_code == 201, w.text
    wid = w.json()["id"]

    pg = page
    _portal_login(pg, stack)
    row = pg.page.locator(f'#pool-body tr[data-withdrawal="{wid}"]')
    row.wait_for()
    pg.shot("otc-pool")
    # a lock needs the broker's bound wallet (PUT /api/broker/wallet)
    pg.page.locator("#wallet-address").fill("0x" + "34" * 20)
    pg.page.locator("#wallet-save").click()
    pg.page.locator("#wallet-current", has_text="0x").wait_for()
    row.locator("button.lock").click()
    pg.page.locator(f'#locked-body tr[data-locked="{wid}"]').wait_for()
    assert api(stack, "GET", f"/api/v1/broker/withdrawal/{wid}", key=stack["broker"]["apiKey"]).json()["status"] \
        == "broker_locked"
    pg.shot("otc-locked")
    pg.page.locator(f'#locked-body tr[data-locked="{wid}"] button.unlock').click()
    pg.page.locator(f'#pool-body tr[data-withdrawal="{wid}"]').wait_for()
    pg.shot("otc-unlocked")
    assert pg.errors == [], pg.errors

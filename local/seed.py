"""Demo data and a demo price feed, through the app's public HTTP API only (no platform logic here)."""
import logging
import math
import random
import secrets
import threading

import requests

log = logging.getLogger("local.seed")
SYMBOL = "XAUUSD"
BROKER_API_SCOPES = [  # every broker v1 scope of the API contract
    "sub-brokers:create", "sub-brokers:list", "sub-brokers:upgrade", "balance:read",
    "clients:list", "clients:create", "clients:balance", "clients:orders", "clients:positions", "clients:withdrawals",
    "transfer:deposit", "transfer:withdraw", "transfer:history",
    "withdrawal:read", "withdrawal:list", "withdrawal:lock", "withdrawal:unlock",
]
CREDITS = {"broker": 100000, "marketMaker": 100000, "trader": 10000}
START_PRICES = {"BTCUSDT": 70000.0, SYMBOL: 2350.0}


class SeedError(RuntimeError):
    pass


def new_password() -> str:
    return f"Demo{secrets.token_hex(6)}!9"


class Api:
    def __init__(self, base_url: str):
        self.base_url, self.http = base_url, requests.Session()

    def call(self, method: str, path: str, token: str | None = None, json=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        r = self.http.request(method, self.base_url + path, json=json, headers=h, timeout=30)
        try:
            body = r.json()
        except ValueError:
            body = r.text
        return r.status_code, body

    def ok(self, method, path, *, accept=(200, 201), **kw):
        status, body = self.call(method, path, **kw)
        if status not in accept:
            raise SeedError(f"{method} {path} -> {status} {str(body)[:300]}")
        return status, body


def _login(api: Api, username: str, password: str) -> tuple[str, str]:
    _, body = api.ok("POST", "/api/auth/login", json={"username": username, "password": password})
    token = body["token"]
    _, me = api.ok("GET", "/api/accounts/me", token=token)
    return token, me["userId"]


def _register(api: Api, username: str, password: str, broker_uid: str) -> tuple[str, str]:
    status, body = api.ok("POST", "/api/auth/register", accept=(200, 201, 409),
                          json={"username": username, "password": password, "brokerUid": broker_uid})
    if status == 409:  # seeded before (a persistent engine): log in instead
        return _login(api, username, password)
    return body["token"], body["user"]["id"]


def _optional(api: Api, what: str, method: str, path: str, **kw):
    """A call to an endpoint that may not exist yet: warn and go on."""
    status, body = api.call(method, path, **kw)
    if status not in (200, 201, 409):
        log.warning("seed: %s skipped (%s %s -> %s %s)", what, method, path, status, str(body)[:200])
        return None
    return body


def seed(base_url: str, ws_url: str, admin_username: str, admin_password: str, previous: dict | None = None) -> dict:
    """Create the demo accounts, API key and symbol; returns the credentials document.

    Passwords and the SSO secret of `previous` (the last credentials file) are reused, so a restart keeps the
    demo logins; against a fresh (in-memory) database everything is simply created again."""
    prev = previous or {}
    api = Api(base_url)
    admin_token, _ = _login(api, admin_username, admin_password)

    broker = {"username": "demo_broker", "password": prev.get("broker", {}).get("password") or new_password(),
              "tenantCode": "DEMO", "ssoSecret": prev.get("broker", {}).get("ssoSecret") or secrets.token_hex(32)}
    api.ok("POST", "/api/admin/brokers", token=admin_token, accept=(200, 201, 409), json={
        "username": broker["username"], "password": broker["password"], "tenantCode": broker["tenantCode"],
        "name": "Demo Broker", "ssoSecret": broker["ssoSecret"]})
    broker["token"], broker["brokerUid"] = _login(api, broker["username"], broker["password"])

    people = {}
    for role, username in (("marketMaker", "demo_mm"), ("trader", "demo_trader")):
        password = prev.get(role, {}).get("password") or new_password()
        token, user_id = _register(api, username, password, broker["brokerUid"])
        people[role] = {"username": username, "password": password, "token": token, "userId": user_id}

    for role, amount in CREDITS.items():
        user_id = broker["brokerUid"] if role == "broker" else people[role]["userId"]
        api.ok("POST", f"/api/admin/accounts/{user_id}/credit", token=admin_token,
               headers={"Idempotency-Key": f"demo-seed-credit-{user_id}"},
               json={"amount": amount, "reference": "demo seed"})

    key = _optional(api, "broker API key", "POST", "/api/broker/api-keys", token=broker["token"],
                    json={"name": "demo", "scopes": BROKER_API_SCOPES})
    broker["apiKey"] = (key or {}).get("key")
    _optional(api, f"symbol {SYMBOL}", "POST", "/api/broker/symbols", token=broker["token"], json={
        "symbol": SYMBOL, "name": "Gold Spot / US Dollar", "pricePrecision": 2, "quantityPrecision": 2,
        "minQuantity": 0.01, "maxLeverage": 100})
    _optional(api, f"{SYMBOL} price", "POST", "/api/broker/price-feed", token=broker["token"],
              json={"symbol": SYMBOL, "price": START_PRICES[SYMBOL]})

    return {"baseUrl": base_url, "wsUrl": ws_url,
            "admin": {"username": admin_username, "password": admin_password, "token": admin_token},
            "broker": {k: broker[k] for k in ("username", "password", "token", "apiKey", "brokerUid", "tenantCode",
                                              "ssoSecret")},
            **people, "symbol": SYMBOL}


class Feeder(threading.Thread):
    """Random-walk prices for BTCUSDT (admin) and XAUUSD (demo broker) through POST /api/broker/price-feed."""

    def __init__(self, base_url: str, tokens: dict[str, str], stop: threading.Event, interval_s: float = 0.25,
                 volatility: float = 0.0004):
        super().__init__(name="feeder", daemon=True)
        self.api, self.tokens, self.stop = Api(base_url), tokens, stop
        self.interval_s, self.volatility = interval_s, volatility
        self.last_status: dict[str, int] = {}

    def _start_price(self, symbol: str) -> float:
        status, body = self.api.call("GET", f"/api/ticker?symbol={symbol}")
        price = body.get("price") if status == 200 and isinstance(body, dict) else None
        return float(price) if price else START_PRICES[symbol]

    def run(self):
        try:
            prices = {s: self._start_price(s) for s in self.tokens}
        except requests.RequestException:
            prices = dict(START_PRICES)
        while not self.stop.wait(self.interval_s):
            for symbol, token in self.tokens.items():
                prices[symbol] = round(prices[symbol] * math.exp(random.gauss(0, self.volatility)), 2)
                try:
                    status, body = self.api.call("POST", "/api/broker/price-feed", token=token,
                                                 json={"symbol": symbol, "price": prices[symbol]})
                except requests.RequestException as e:
                    status, body = 0, str(e)
                if status != self.last_status.get(symbol):  # log changes only, not every tick
                    self.last_status[symbol] = status
                    if status == 200:
                        log.info("feed %s: pushing (%s)", symbol, prices[symbol])
                    else:
                        log.warning("feed %s: %s %s (will keep trying)", symbol, status, str(body)[:200])

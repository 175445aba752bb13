"""The REST client: every endpoint of the API contract as a method with typed results.

- Session auth (`login`) or a broker API key (`Client(api_key=...)`, the `broker` namespace: Broker API v1).
- Retries with exponential backoff and full jitter on 429/5xx and on lost connections, honouring Retry-After,
  never on other 4xx. A POST is retried only when it is safe to: it carries an Idempotency-Key, or it has no
  effect when repeated (login, price push, cancels).
- Money-moving and object-creating calls (orders, pairs, reprices, deposits, credits, withdrawals, clients)
  get an Idempotency-Key generated once per call and reused by every retry of it, so a retry whose first attempt
  reached the server is replayed, not applied twice.
- 401 on a session call: log in again (when the client holds the credentials) and repeat the call, once.
- Decimals in and out: numbers parse to Decimal, Decimals are sent as JSON numbers with exactly their digits;
  floats are refused.
"""
import logging
import time
import uuid
from decimal import Decimal
from typing import Any, Callable

import requests

from simtrade import _json, models as m
from simtrade.errors import ApiError, AuthError, NotFound, TransportError, error_for
from simtrade.retry import RetryPolicy

log = logging.getLogger("simtrade.client")
SAFE_POSTS = ("/api/auth/login", "/api/auth/logout", "/api/broker/price-feed", "/api/liquidity/cancel",
              "/api/liquidity/cancel-all", "/api/liquidity/cancel-all-after", "/api/liquidity/mmp/reset")
ABSENT = object()


def _clean(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _num(v):
    """Outgoing number: Decimal (exact string on the wire); int and decimal strings are accepted too."""
    return None if v is None else _json.dec(v)


class Response:
    def __init__(self, status: int, body, headers):
        self.status, self.body, self.headers = status, body, headers

    @property
    def replayed(self) -> bool:
        return self.headers.get("Idempotent-Replayed", "").lower() == "true"


class Client:
    def __init__(self, base_url: str = "http://127.0.0.1:3001", *, token: str | None = None,
                 username: str | None = None, password: str | None = None, api_key: str | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 30.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, user_agent: str = "simtrade-python/0.1",
                 sim_fault: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.token, self.username, self.password, self.api_key = token, username, password, api_key
        self.retry = retry or RetryPolicy()
        self.timeout, self.sleep = timeout, sleep
        self.http = session or requests.Session()
        self.http.headers["User-Agent"] = user_agent
        self.user: m.User | None = None
        self.reauths = 0  # how many times a 401 made this client log in again
        self.retries = 0  # retried attempts in all
        self.broker = BrokerApi(self)
        self.sim_fault = sim_fault  # sandbox fault injection: X-Sim-Fault on every request ("status=500", ...)

    @property
    def ws_url(self) -> str:
        return ("wss" + self.base_url[5:] if self.base_url.startswith("https") else "ws" + self.base_url[4:]) + "/ws"

    # --- transport ---------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                auth: str = "session", idempotency_key: str | bool | None = None,
                headers: dict | None = None) -> Response:
        """One API call with the retry, re-authentication and idempotency rules above. `auth`: "session",
        "key" (X-API-Key) or "none". `idempotency_key=True` generates one (reused by every retry)."""
        method = method.upper()
        key = str(uuid.uuid4()) if idempotency_key is True else (idempotency_key or None)
        body = None if json is None else _json.dumps(json).encode()
        retry_ok = method != "POST" or key is not None or path in SAFE_POSTS
        attempt, reauthed = 0, False
        if auth == "session" and not self.token and self.can_reauthenticate and path != "/api/auth/login":
            self.login()
        while True:
            attempt += 1
            h = {"Accept": "application/json", **({"X-Sim-Fault": self.sim_fault} if self.sim_fault else {}),
                 **(headers or {})}
            if body is not None:
                h["Content-Type"] = "application/json"
            if key:
                h["Idempotency-Key"] = key
            if auth == "session" and self.token:
                h["Authorization"] = f"Bearer {self.token}"
            elif auth == "key" and self.api_key:
                h["X-API-Key"] = self.api_key
            try:
                r = self.http.request(method, self.base_url + path, data=body, params=_clean(params or {}),
                                      headers=h, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as e:
                if retry_ok and attempt < self.retry.attempts:
                    self._pause(attempt, None, f"{method} {path}: {type(e).__name__}")
                    continue
                raise TransportError(f"{method} {path}: {e}") from e
            status = r.status_code
            if status == 401 and auth == "session" and not reauthed and self.can_reauthenticate \
                    and path != "/api/auth/login":
                reauthed = True
                log.info("%s %s: 401, logging in again", method, path)
                self.login()
                self.reauths += 1
                attempt -= 1  # the re-authentication is not a retry
                continue
            if self.retry.should_retry(status) and retry_ok and attempt < self.retry.attempts:
                self._pause(attempt, r.headers.get("Retry-After"), f"{method} {path}: {status}")
                continue
            parsed = self._parse(r)
            if status >= 400:
                raise error_for(status, parsed, r.headers)
            return Response(status, parsed, r.headers)

    def _pause(self, attempt: int, retry_after: str | None, why: str):
        delay = self.retry.delay(attempt, retry_after)
        self.retries += 1
        log.info("%s; retry %d in %.2f s", why, attempt, delay)
        self.sleep(delay)

    @staticmethod
    def _parse(r: requests.Response):
        if not r.content:
            return None
        try:
            return _json.loads(r.content)
        except ValueError:
            return r.text

    def _call(self, method, path, model=None, **kw):
        body = self.request(method, path, **kw).body
        if model is None:
            return body
        if isinstance(body, list):
            return [model.model_validate(x) for x in body]
        return model.model_validate(body)

    def probe(self, method: str, path: str, **kw):
        """A call to an endpoint the server may not offer yet: ABSENT on 404/405 (route missing), else the body."""
        try:
            return self.request(method, path, **kw).body
        except NotFound:
            return ABSENT
        except ApiError as e:  # 405, or API Gateway's 403 "Missing Authentication Token" for an unknown route
            if e.status in (405, 403) and e.code is None:
                return ABSENT
            raise

    # --- session auth --------------------------------------------------------------------------------------

    @property
    def can_reauthenticate(self) -> bool:
        return bool(self.username and self.password)

    def login(self, username: str | None = None, password: str | None = None) -> m.Session:
        if username:
            self.username, self.password = username, password
        if not self.can_reauthenticate:
            raise AuthError(401, "SESSION_INVALID", "no credentials to log in with")
        s = self._call("POST", "/api/auth/login", m.Session, auth="none",
                       json={"username": self.username, "password": self.password})
        self.token, self.user = s.token, s.user
        return s

    def register(self, username: str, password: str, broker_uid: str | None = None) -> m.Session:
        s = self._call("POST", "/api/auth/register", m.Session, auth="none",
                       json=_clean({"username": username, "password": password, "brokerUid": broker_uid}))
        self.token, self.user, self.username, self.password = s.token, s.user, username, password
        return s

    def logout(self) -> dict:
        return self._call("POST", "/api/auth/logout")

    def sso_token(self, jwt: str) -> m.Session:
        s = self._call("POST", "/api/auth/sso/token", m.Session, auth="none", json={"token": jwt})
        self.token, self.user = s.token, s.user
        return s

    # --- accounts ------------------------------------------------------------------------------------------

    def account(self) -> m.Account:
        return self._call("GET", "/api/accounts/me", m.Account)

    def set_wallet(self, wallet_address: str) -> m.Account:
        return self._call("PUT", "/api/accounts/me/wallet", m.Account, json={"walletAddress": wallet_address})

    # --- symbols and market data ---------------------------------------------------------------------------

    def symbols(self) -> list[m.Symbol]:
        return self._call("GET", "/api/symbols", m.Symbol, auth="none")

    def symbol(self, symbol: str) -> m.Symbol:
        for s in self.symbols():
            if s.symbol == symbol:
                return s
        raise error_for(404, {"error": f"unknown symbol {symbol}", "code": "UNKNOWN_SYMBOL"})

    def create_symbol(self, symbol: str, name: str, price_precision: int, quantity_precision: int,
                      min_quantity, max_leverage) -> m.Symbol:
        return self._call("POST", "/api/broker/symbols", m.Symbol, idempotency_key=True, json={
            "symbol": symbol, "name": name, "pricePrecision": price_precision,
            "quantityPrecision": quantity_precision, "minQuantity": _num(min_quantity),
            "maxLeverage": _num(max_leverage)})

    def push_price(self, symbol: str, price) -> m.PriceAck:
        return self._call("POST", "/api/broker/price-feed", m.PriceAck, json={"symbol": symbol, "price": _num(price)})

    def ticker(self, symbol: str) -> m.Ticker:
        return self._call("GET", "/api/ticker", m.Ticker, auth="none", params={"symbol": symbol})

    def klines(self, symbol: str, interval: str = "1m", limit: int | None = None, start_time: int | None = None,
               end_time: int | None = None) -> list[m.Kline]:
        return self._call("GET", "/api/klines", m.Kline, auth="none", params={
            "symbol": symbol, "interval": interval, "limit": limit, "startTime": start_time, "endTime": end_time})

    def depth(self, symbol: str, limit: int | None = None) -> m.Depth:
        return self._call("GET", "/api/depth", m.Depth, auth="none", params={"symbol": symbol, "limit": limit})

    def openapi(self) -> dict | None:
        """The served OpenAPI document, or None when the server has none (404)."""
        doc = self.probe("GET", "/api/openapi.json", auth="none")
        return None if doc is ABSENT else doc

    def brand_config(self, domain: str | None = None) -> dict:
        return self._call("GET", "/api/brand-config", auth="none", params={"domain": domain})

    # --- orders, positions ---------------------------------------------------------------------------------

    def place_order(self, symbol: str, side: str, quantity, type: str = "market", price=None, leverage=1,
                    client_order_id: str | None = None, idempotency_key: str | None = None) -> m.Order:
        return self._call("POST", "/api/orders", m.Order, idempotency_key=idempotency_key or True, json=_clean({
            "symbol": symbol, "side": side, "type": type, "quantity": _num(quantity), "price": _num(price),
            "leverage": _num(leverage), "clientOrderId": client_order_id}))

    def orders(self, symbol: str | None = None, status: str | None = None, limit: int | None = None,
               cursor: str | None = None) -> list[m.Order]:
        return self._call("GET", "/api/orders", m.Order,
                          params={"symbol": symbol, "status": status, "limit": limit, "cursor": cursor})

    def order(self, order_id: str) -> m.Order:
        return self._call("GET", f"/api/orders/{order_id}", m.Order)

    def cancel_order(self, order_id: str):
        return self._call("DELETE", f"/api/orders/{order_id}")

    def positions(self) -> list[m.Position]:
        return self._call("GET", "/api/positions", m.Position)

    def close_position(self, position_id: str) -> m.ClosedPosition:
        return self._call("POST", f"/api/positions/{position_id}/close", m.ClosedPosition, idempotency_key=True)

    def trades(self, symbol: str | None = None, limit: int | None = None) -> list:
        return self._call("GET", "/api/trades", params={"symbol": symbol, "limit": limit})

    # --- liquidity pairs (market makers) ------------------------------------------------------------------

    def place_pair(self, symbol: str, bid_price, ask_price, quantity, leverage=1,
                   pair_id: str | None = None) -> m.PairPlaced:
        return self._call("POST", "/api/liquidity/pairs", m.PairPlaced, idempotency_key=True, json=_clean({
            "symbol": symbol, "pairId": pair_id, "bidPrice": _num(bid_price), "askPrice": _num(ask_price),
            "quantity": _num(quantity), "leverage": _num(leverage)}))

    def reprice(self, pair_id: str, new_bid_price, new_ask_price, new_pair_id: str | None = None) -> m.Repriced:
        return self._call("POST", "/api/liquidity/reprice", m.Repriced, idempotency_key=True, json=_clean({
            "pairId": pair_id, "newBidPrice": _num(new_bid_price), "newAskPrice": _num(new_ask_price),
            "newPairId": new_pair_id}))

    def reprice_batch(self, reprices: list[dict], atomic: bool = False) -> dict:
        items = [_clean({"pairId": r["pairId"], "newBidPrice": _num(r["newBidPrice"]),
                         "newAskPrice": _num(r["newAskPrice"]), "newPairId": r.get("newPairId")}) for r in reprices]
        return self._call("POST", "/api/liquidity/reprice-batch", idempotency_key=True,
                          json={"reprices": items, "atomic": atomic})

    def cancel_pair(self, pair_id: str) -> m.PairCancelled:
        return self._call("POST", "/api/liquidity/cancel", m.PairCancelled, json={"pairId": pair_id})

    def pairs(self, symbol: str | None = None, status: str | None = "pending", limit: int | None = None,
              cursor: str | None = None) -> list[m.Pair]:
        return self._call("GET", "/api/liquidity/pairs", m.Pair,
                          params={"symbol": symbol, "status": status, "limit": limit, "cursor": cursor})

    def cancel_all(self, symbol: str | None = None) -> m.CancelledAll:
        return self._call("POST", "/api/liquidity/cancel-all", m.CancelledAll, json=_clean({"symbol": symbol}))

    def cancel_all_after(self, timeout_ms: int) -> m.DeadMansSwitch:
        """The dead-man's switch: every pending pair is cancelled unless this is called again before `deadline`
        (0 disables it)."""
        return self._call("POST", "/api/liquidity/cancel-all-after", m.DeadMansSwitch, json={"timeoutMs": timeout_ms})

    def mmp(self) -> dict:
        return self._call("GET", "/api/liquidity/mmp")

    def set_mmp(self, window_ms: int, quantity_limit, frozen_ms: int) -> dict:
        return self._call("PUT", "/api/liquidity/mmp", json={"windowMs": window_ms,
                                                              "quantityLimit": _num(quantity_limit),
                                                              "frozenMs": frozen_ms})

    def reset_mmp(self) -> dict:
        return self._call("POST", "/api/liquidity/mmp/reset")

    def sandbox_reset(self) -> dict:
        return self._call("POST", "/api/sandbox/reset")

    # --- withdrawals ----------------------------------------------------------------------------------------

    def withdraw(self, amount, wallet_address: str | None = None,
                 idempotency_key: str | None = None) -> m.Withdrawal:
        return self._call("POST", "/api/withdrawals", m.Withdrawal, idempotency_key=idempotency_key or True,
                          json=_clean({"amount": _num(amount), "walletAddress": wallet_address}))

    def withdrawals(self, limit: int | None = None, cursor: str | None = None) -> list[m.Withdrawal]:
        return self._call("GET", "/api/withdrawals", m.Withdrawal, params={"limit": limit, "cursor": cursor})

    def withdrawal(self, withdrawal_id: str) -> m.Withdrawal:
        return self._call("GET", f"/api/withdrawals/{withdrawal_id}", m.Withdrawal)

    def cancel_withdrawal(self, withdrawal_id: str) -> m.Withdrawal:
        return self._call("POST", f"/api/withdrawals/{withdrawal_id}/cancel", m.Withdrawal)

    def bind_broker_wallet(self, wallet_address: str) -> dict:
        return self._call("PUT", "/api/broker/wallet", json={"walletAddress": wallet_address})

    def broker_wallet(self) -> dict:
        return self._call("GET", "/api/broker/wallet")

    # --- broker panel (session auth, role broker) ------------------------------------------------------------

    def create_api_key(self, name: str, scopes: list[str], webhook_url: str | None = None) -> m.ApiKey:
        return self._call("POST", "/api/broker/api-keys", m.ApiKey,
                          json=_clean({"name": name, "scopes": scopes, "webhookUrl": webhook_url}))

    def api_keys(self) -> list[m.ApiKey]:
        body = self._call("GET", "/api/broker/api-keys")
        items = body.get("keys", body.get("items", [])) if isinstance(body, dict) else body
        return [m.ApiKey.model_validate(x) for x in items]

    def revoke_api_key(self, key_id: str):
        return self._call("DELETE", f"/api/broker/api-keys/{key_id}")

    def webhook_deliveries(self, status: str | None = None, event: str | None = None,
                           limit: int | None = None) -> list[m.WebhookDelivery]:
        body = self._call("GET", "/api/broker/webhooks/deliveries",
                          params={"status": status, "event": event, "limit": limit})
        items = body.get("deliveries", []) if isinstance(body, dict) else body
        return [m.WebhookDelivery.model_validate(x) for x in items]

    def webhook_delivery(self, delivery_id: str) -> m.WebhookDelivery:
        return self._call("GET", f"/api/broker/webhooks/deliveries/{delivery_id}", m.WebhookDelivery)

    def redeliver(self, delivery_id: str) -> dict:
        return self._call("POST", f"/api/broker/webhooks/deliveries/{delivery_id}/redeliver", idempotency_key=True)

    # --- platform admin --------------------------------------------------------------------------------------

    def create_broker(self, username: str, password: str, tenant_code: str, name: str, **sso) -> dict:
        return self._call("POST", "/api/admin/brokers", idempotency_key=True, json=_clean({
            "username": username, "password": password, "tenantCode": tenant_code, "name": name, **sso}))

    def credit(self, user_id: str, amount, reference: str, idempotency_key: str | None = None) -> dict:
        return self._call("POST", f"/api/admin/accounts/{user_id}/credit", idempotency_key=idempotency_key or True,
                          json={"amount": _num(amount), "reference": reference})

    def admin_withdrawals(self, status: str | None = "processing") -> list:
        return self._call("GET", "/api/admin/withdrawals", params={"status": status})

    def complete_withdrawal(self, withdrawal_id: str, tx_hash: str) -> dict:
        return self._call("POST", f"/api/admin/withdrawals/{withdrawal_id}/complete", idempotency_key=True,
                          json={"txHash": tx_hash})

    def revoke_sessions(self, user_id: str) -> dict:
        return self._call("POST", "/api/admin/sessions/revoke", json={"userId": user_id})


class BrokerApi:
    """Broker API v1 (X-API-Key): `client.broker.<method>`."""
    V1 = "/api/v1/broker"

    def __init__(self, client: Client):
        self.c = client

    def _call(self, method, path, model=None, **kw):
        return self.c._call(method, self.V1 + path, model, auth="key", **kw)

    def balance(self) -> m.BrokerBalance:
        return self._call("GET", "/balance", m.BrokerBalance)

    def sub_brokers(self, limit: int | None = None, cursor: str | None = None) -> dict:
        return self._call("GET", "/sub-brokers", params={"limit": limit, "cursor": cursor})

    def create_sub_broker(self, username: str, password: str, email: str | None = None,
                          name: str | None = None) -> dict:
        return self._call("POST", "/sub-brokers", idempotency_key=True,
                          json=_clean({"username": username, "password": password, "email": email, "name": name}))

    def upgrade_client(self, client_id: str, password: str | None = None) -> dict:
        return self._call("POST", f"/clients/{client_id}/upgrade-to-broker", idempotency_key=True,
                          json=_clean({"password": password}))

    def clients(self, limit: int | None = None, cursor: str | None = None) -> m.Page:
        body = self._call("GET", "/clients", params={"limit": limit, "cursor": cursor})
        return m.Page(items=[m.BrokerClient.model_validate(x) for x in body.get("clients", [])],
                      next_cursor=body.get("next_cursor"))

    def create_client(self, user_id: str, email: str | None = None, password: str | None = None,
                      wallet_address: str | None = None) -> dict:
        return self._call("POST", "/clients", idempotency_key=True, json=_clean({
            "user_id": user_id, "email": email, "password": password, "wallet_address": wallet_address}))

    def client_balance(self, client_id: str) -> dict:
        return self._call("GET", f"/clients/{client_id}/balance")

    def client_orders(self, client_id: str, **params) -> Any:
        return self._call("GET", f"/clients/{client_id}/orders", params=params)

    def client_positions(self, client_id: str) -> Any:
        return self._call("GET", f"/clients/{client_id}/positions")

    def client_withdrawals(self, client_id: str, **params) -> Any:
        return self._call("GET", f"/clients/{client_id}/withdrawals", params=params)

    def deposit(self, client_id: str, amount, reference: str | None = None,
                idempotency_key: str | None = None) -> dict:
        """Move DCT from the broker's balance to the client's; retried safely (one Idempotency-Key per call)."""
        return self._call("POST", f"/clients/{client_id}/deposit", idempotency_key=idempotency_key or True,
                          json=_clean({"amount": _num(amount), "reference": reference}))

    def withdraw(self, client_id: str, amount, wallet_address: str | None = None,
                 idempotency_key: str | None = None) -> dict:
        return self._call("POST", f"/clients/{client_id}/withdraw", idempotency_key=idempotency_key or True,
                          json=_clean({"amount": _num(amount), "wallet_address": wallet_address}))

    def transfers(self, client_id: str | None = None, type: str | None = None, limit: int | None = None,
                  cursor: str | None = None) -> dict:
        return self._call("GET", "/transfer/history",
                          params={"client_id": client_id, "type": type, "limit": limit, "cursor": cursor})

    def withdrawal(self, withdrawal_id: str) -> dict:
        return self._call("GET", f"/withdrawal/{withdrawal_id}")

    def pending_withdrawals(self, limit: int | None = None, cursor: str | None = None) -> dict:
        return self._call("GET", "/withdrawals/pending", params={"limit": limit, "cursor": cursor})

    def lock(self, withdrawal_id: str) -> dict:
        return self._call("POST", f"/withdrawal/{withdrawal_id}/lock", idempotency_key=True)

    def unlock(self, withdrawal_id: str) -> dict:
        return self._call("POST", f"/withdrawal/{withdrawal_id}/unlock", idempotency_key=True)


def decimal(value) -> Decimal:
    return _json.dec(value)

"""The OpenAPI document's response schemas: every JSON route declares its success body (chalicelib/<capability>/
responses.py, referenced by string so the models stay off the HTTP handler's import path), the contract's fields
are in them, and real answers of representative endpoints validate against the served document with jsonschema,
while the same validation rejects a broken answer (a required field removed, a string where a number belongs)."""
import copy
import json
import os
import subprocess
import sys
from decimal import Decimal

import jsonschema
import pytest

from chalicelib.common import jsonutil
from tests.helpers import REPO_ROOT, Api

WALLET = "0x" + "ab" * 20


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def doc(api):
    r = api.get("/api/openapi.json")
    assert r.status == 200
    return json.loads(jsonutil.dumps(r.json))


def _validator(doc, method, path, status):
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    assert schema, f"{method.upper()} {path}: no response schema"
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def conforms(doc, method, path, r, status=None):
    """The answer `r` (an Api Resp) has the documented status and a body valid against its schema (as on the
    wire: plain JSON numbers)."""
    status = status or r.status
    assert r.status == status, r
    body = json.loads(jsonutil.dumps(r.json))
    errors = sorted(_validator(doc, method, path, status).iter_errors(body), key=str)
    assert not errors, f"{method.upper()} {path}: {[e.message for e in errors[:5]]}"
    return body


def rejected(doc, method, path, status, body) -> bool:
    return not _validator(doc, method, path, status).is_valid(body)


# --- the declarations ----------------------------------------------------------------------------------------

def test_every_json_route_declares_a_response_schema_that_resolves(doc):
    from chalicelib.common.http import ROUTES
    from chalicelib.openapi.service import NON_JSON, REDIRECTS, resolve
    json_routes = [info for info in ROUTES if info.path not in NON_JSON and info.path not in REDIRECTS]
    missing = [(info.path, info.methods) for info in json_routes if info.response is None]
    assert missing == []
    assert len(json_routes) >= 60
    for info in json_routes:
        assert isinstance(info.response, str) and ".responses:" in info.response, info.path
        resolve(info.response)  # the module and the name exist
        for method in info.methods:
            success = doc["paths"][info.path][method.lower()]["responses"][str(info.status)]
            assert success["content"]["application/json"]["schema"], (method, info.path)


def test_response_models_allow_extra_fields(doc):
    from chalicelib.common.http import ROUTES
    from chalicelib.openapi.service import resolve
    from pydantic import BaseModel
    names = {resolve(i.response).__name__ for i in ROUTES if i.response and isinstance(resolve(i.response), type)
             and issubclass(resolve(i.response), BaseModel)}
    schemas = doc["components"]["schemas"]
    assert names and all(schemas[n].get("additionalProperties") is True for n in names), names


def test_the_response_models_are_not_imported_by_the_handler():
    code = "import app, sys; print([m for m in sys.modules if m.endswith('.responses')])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "ADMIN_PASSWORD": "", "ADMIN_PASSWORD_HASH": ""})
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


# The contract's fields of some answers (../shared/spec/api-contract.md): each is a property of the schema.
CONTRACT = {
    ("get", "/api/accounts/me", 200): ["userId", "username", "role", "currency", "balance", "availableBalance",
                                       "frozenMargin", "positionMargin", "unrealizedPnl", "equity", "walletAddress"],
    ("post", "/api/auth/login", 200): ["token", "user"],
    ("get", "/api/orders/{order_id}", 200): ["orderId", "clientOrderId", "symbol", "side", "type", "price",
                                             "quantity", "filledQuantity", "avgFillPrice", "leverage", "margin",
                                             "status", "kind", "meta", "createdAt", "updatedAt"],
    ("post", "/api/liquidity/pairs", 201): ["pairId", "buyOrderId", "sellOrderId", "frozenMargin"],
    ("post", "/api/liquidity/reprice", 200): ["pairId", "oldPairId", "buyOrderId", "sellOrderId", "releasedMargin",
                                              "frozenMargin"],
    ("post", "/api/liquidity/cancel", 200): ["pairId", "cancelledOrderIds"],
    ("get", "/api/ticker", 200): ["symbol", "price", "bid", "ask", "ts", "nextMatchAt"],
    ("get", "/api/depth", 200): ["symbol", "bids", "asks", "ts", "seq", "checksum"],
    ("post", "/api/broker/price-feed", 200): ["ok", "symbol", "price", "ts"],
    ("post", "/api/withdrawals", 201): ["id", "status", "amount", "fee", "netAmount", "walletAddress",
                                        "coolingEndsAt"],
    ("get", "/api/v1/broker/balance", 200): ["broker_id", "currency", "balance", "available_balance"],
    ("get", "/api/v1/broker/clients", 200): ["clients", "next_cursor"],
    ("post", "/api/v1/broker/withdrawal/{withdrawal_id}/lock", 200): ["ok", "status", "userWalletAddress", "amount",
                                                                      "timeoutHours"],
    ("post", "/api/v1/broker/clients/{client_id}/upgrade-to-broker", 200): [
        "ok", "user_id", "username", "role", "parent_broker_id", "brand_root_id", "message", "broker_portal_url"],
    ("post", "/api/positions/{position_id}/close", 200): ["positionId", "realizedPnl"],
    ("post", "/api/liquidity/cancel-all-after", 200): ["timeoutMs", "deadline"],
    ("post", "/api/sandbox/reset", 200): ["epoch"],
}


def _resolved(doc, schema):
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_contracts_fields_are_in_the_schemas(doc):
    for (method, path, status), fields in CONTRACT.items():
        schema = _resolved(doc, doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]
                           ["schema"])
        assert set(fields) <= set(schema["properties"]), (path, set(fields) - set(schema["properties"]))
    page = _resolved(doc, doc["paths"]["/api/v1/broker/clients"]["get"]["responses"]["200"]["content"]
                     ["application/json"]["schema"])
    item = _resolved(doc, page["properties"]["clients"]["items"])
    assert {"user_id", "username", "email", "balance", "available_balance", "created_at"} <= set(item["required"])
    account = _resolved(doc, {"$ref": "#/components/schemas/AccountView"})
    assert account["properties"]["balance"]["type"] == "number"  # Decimal is a JSON number on the wire
    # beyond the contract: documented, not required (the SDK's models, tests/sdk, know the contract's fields)
    assert "createdAt" in account["properties"] and "createdAt" not in account["required"]


def test_error_statuses_are_documented(doc):
    orders = doc["paths"]["/api/orders"]["post"]["responses"]
    assert {"400", "401", "409", "422", "429", "503", "4XX", "5XX"} <= set(orders)
    assert "Retry-After" in doc["components"]["responses"]["Error429"]["headers"]
    assert {"401", "403", "404", "429"} <= set(doc["paths"]["/api/v1/broker/withdrawal/{withdrawal_id}"]["get"]
                                               ["responses"])
    assert "401" not in doc["paths"]["/api/symbols"]["get"]["responses"]  # public
    assert "401" in doc["paths"]["/api/auth/login"]["post"]["responses"]  # wrong credentials


# --- real answers ----------------------------------------------------------------------------------------------

def test_real_answers_validate_and_broken_ones_do_not(api, doc):
    from chalicelib.broker import scopes as S
    admin = api.admin_token()
    username = "u_resp_check"
    api.register(username)
    login = conforms(doc, "post", "/api/auth/login",
                     api.post("/api/auth/login", {"username": username, "password": "password-123"}))
    trader = login["token"]
    api.credit(admin, login["user"]["id"], 100000)
    account = conforms(doc, "get", "/api/accounts/me", api.get("/api/accounts/me", token=trader))
    conforms(doc, "get", "/api/symbols", api.get("/api/symbols"))
    conforms(doc, "post", "/api/broker/price-feed",
             api.post("/api/broker/price-feed", {"symbol": "BTCUSDT", "price": 70000}, token=admin))

    mm, mm_id = api.register()
    api.credit(admin, mm_id, 1000000)
    pair = conforms(doc, "post", "/api/liquidity/pairs", api.post("/api/liquidity/pairs", {
        "symbol": "BTCUSDT", "bidPrice": 69000, "askPrice": 71000, "quantity": Decimal("0.01")}, token=mm), 201)
    conforms(doc, "get", "/api/liquidity/pairs", api.get("/api/liquidity/pairs", token=mm))
    repriced = conforms(doc, "post", "/api/liquidity/reprice", api.post("/api/liquidity/reprice", {
        "pairId": pair["pairId"], "newBidPrice": 69500, "newAskPrice": 70500}, token=mm))

    order = conforms(doc, "post", "/api/orders", api.post("/api/orders", {
        "symbol": "BTCUSDT", "side": "buy", "type": "market", "quantity": Decimal("0.001")}, token=trader), 201)
    assert order["fills"], order
    conforms(doc, "post", "/api/orders", api.post("/api/orders", {
        "symbol": "BTCUSDT", "side": "buy", "type": "limit", "quantity": Decimal("0.001"), "price": 60000},
        token=trader), 201)
    orders = conforms(doc, "get", "/api/orders", api.get("/api/orders", token=trader))
    assert len(orders) == 2
    conforms(doc, "get", "/api/orders/{order_id}", api.get(f"/api/orders/{order['orderId']}", token=trader))
    conforms(doc, "get", "/api/positions", api.get("/api/positions", token=trader))
    conforms(doc, "get", "/api/trades", api.get("/api/trades", token=trader))
    conforms(doc, "get", "/api/ticker", api.get("/api/ticker?symbol=BTCUSDT"))
    conforms(doc, "get", "/api/depth", api.get("/api/depth?symbol=BTCUSDT"))

    withdrawal = conforms(doc, "post", "/api/withdrawals", api.post("/api/withdrawals", {
        "amount": 100, "walletAddress": WALLET}, token=trader), 201)
    conforms(doc, "get", "/api/withdrawals", api.get("/api/withdrawals", token=trader))

    broker, broker_id = api.create_broker(admin)
    r = api.post("/api/broker/api-keys", {"name": "check", "scopes": sorted(S.ALL_SCOPES)}, token=broker)
    key = conforms(doc, "post", "/api/broker/api-keys", r, 201)["key"]
    api.post("/api/v1/broker/clients", {"user_id": "c-1", "wallet_address": WALLET}, key=key)
    clients = conforms(doc, "get", "/api/v1/broker/clients", api.get("/api/v1/broker/clients", key=key))
    assert clients["clients"], clients
    conforms(doc, "get", "/api/v1/broker/withdrawals/pending", api.get("/api/v1/broker/withdrawals/pending", key=key))
    conforms(doc, "get", "/api/v1/broker/withdrawal/{withdrawal_id}",
             api.get(f"/api/v1/broker/withdrawal/{withdrawal['id']}", key=key))

    # the same validation rejects what breaks the schema
    assert rejected(doc, "post", "/api/auth/login", 200, {k: v for k, v in login.items() if k != "token"})
    assert rejected(doc, "get", "/api/accounts/me", 200, {**account, "balance": str(account["balance"])})
    assert rejected(doc, "get", "/api/accounts/me", 200, {k: v for k, v in account.items() if k != "equity"})
    broken = copy.deepcopy(orders)
    broken[0]["quantity"] = "0.001"
    assert rejected(doc, "get", "/api/orders", 200, broken)
    assert rejected(doc, "post", "/api/liquidity/reprice", 200, {**repriced, "oldPairId": None})
    assert rejected(doc, "get", "/api/v1/broker/clients", 200, {"clients": [{"user_id": 1}], "next_cursor": None})
    assert rejected(doc, "post", "/api/withdrawals", 201, {**withdrawal, "coolingEndsAt": "soon"})
    assert not rejected(doc, "get", "/api/accounts/me", 200, {**account, "newField": 1})  # extra fields allowed

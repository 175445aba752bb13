"""Every numeric request field (body and query) goes through one parser (common/schemas.parse_decimal): a JSON
number and the same decimal as a string give the same result; the bad forms are 400 VALIDATION_ERROR and write
nothing. The table of fields is read from the route registry (common/http.ROUTES), so a new numeric field is
covered (and a field that bypasses the shared types fails test_every_numeric_field_uses_the_shared_parser)."""
from decimal import Decimal

import pytest
from pydantic import BaseModel

from chalicelib.common import jsonutil
from chalicelib.common.schemas import parse_decimal, parse_int
from tests.helpers import Api

D = Decimal
GOOD = [("0.01", D("0.01")), ("1", D(1)), ("-1.5", D("-1.5")), ("70000.00", D("70000.00")),
        ("123456789012345678.12345678", D("123456789012345678.12345678"))]
BAD = ["1e5", "1E-400", "1e400", "NaN", "nan", "Infinity", "-Infinity", "0x10", " 1", "1 ", "", "+1", ".5", "1.",
       "1,5", "١", "1_000", True, False, None, [], {}, "9" * 39]


@pytest.mark.parametrize("text,value", GOOD)
def test_a_number_and_its_string_are_the_same_decimal(text, value):
    assert parse_decimal(text) == parse_decimal(jsonutil.loads(text)) == value
    assert str(parse_decimal(text)) == str(value)  # exact: no float on the way (0.01 stays 0.01)


@pytest.mark.parametrize("bad", BAD)
def test_bad_forms_are_refused(bad):
    with pytest.raises(ValueError):
        parse_decimal(bad)


def test_json_numbers_are_exact_and_exponent_bombs_cost_nothing():
    assert jsonutil.loads('{"a": 0.1}')["a"] == D("0.1")
    for bomb in ("1e999999999", "-1e-999999999", "1" + "0" * 60):
        with pytest.raises(ValueError):
            parse_decimal(jsonutil.loads(bomb))
    with pytest.raises(ValueError):
        jsonutil.loads("NaN")
    assert parse_int("5") == parse_int(D("5.0")) == 5
    for bad in ("2.5", D("2.5"), True, "5e0"):
        with pytest.raises(ValueError):
            parse_int(bad)


# ---- through the HTTP API: every numeric field of every endpoint ----------------------------------------

def _numeric_fields(model: type[BaseModel]) -> list[str]:
    props = model.model_json_schema().get("properties", {})
    return [name for name, p in props.items()
            if "number" in str(p.get("type")) or "integer" in str(p.get("type"))
            or any(s.get("type") in ("number", "integer") for s in p.get("anyOf", []))]


def registry_fields():
    import app  # noqa: F401  (registers every route)
    from chalicelib.common.http import ROUTES
    out = []
    for info in ROUTES:
        for where, model in (("body", info.body), ("query", info.query)):
            if model is not None:
                out += [(info, where, f) for f in _numeric_fields(model)]
    return out


def test_every_numeric_field_uses_the_shared_parser():
    fields = registry_fields()
    assert len(fields) >= 30
    for info, where, name in fields:
        model = info.body if where == "body" else info.query
        prop = model.model_json_schema()["properties"][name]
        variants = prop.get("anyOf", [prop])
        assert any(v.get("type") == "string" and "pattern" in v for v in variants), \
            f"{info.path} {where}.{name} does not take a decimal string through the shared parser: {prop}"


@pytest.fixture(scope="module")
def world():
    from tests.fixtures import stack, unique_prefix
    with stack(unique_prefix()):
        from chalice.test import Client

        from app import app
        from chalicelib.broker import scopes as S
        from tests.fixtures.aws import ROOT
        with Client(app, stage_name="dev", project_dir=ROOT) as client:
            api = Api(client)
            admin = api.admin_token()
            trader, trader_id = api.register()
            api.credit(admin, trader_id, 1000000)
            broker, broker_id = api.create_broker(admin)
            api.credit(admin, broker_id, 1000000)
            key = api.post("/api/broker/api-keys", {"name": "n", "scopes": sorted(S.ALL_SCOPES)}, token=broker).json["key"]
            client_id = "c1"
            assert api.post("/api/v1/broker/clients", {"user_id": client_id, "password": "password-123"},
                            key=key).status == 201
            assert api.post("/api/broker/price-feed", {"symbol": "BTCUSDT", "price": 70000}, token=admin).status == 200
            auth = {"admin": {"token": admin}, "trader": {"token": trader}, "broker": {"token": broker},
                    "key": {"key": key}}
            yield api, auth, {"user_id": trader_id, "client_id": client_id}


def _state(api, auth):
    me = api.get("/api/accounts/me", **auth["trader"]).json
    orders = api.get("/api/orders?limit=500", **auth["trader"]).json
    pairs = api.get("/api/liquidity/pairs?limit=500", **auth["trader"]).json
    broker = api.get("/api/v1/broker/balance", **auth["key"]).json
    return me["balance"], me["frozenMargin"], len(orders), len(pairs), broker["balance"]


# (method, path, who, a valid body): the number-vs-string comparison needs a request that succeeds.
VALID = {
    ("POST", "/api/admin/accounts/{user_id}/credit"): ("admin", {"amount": "0.01", "reference": "t"}),
    ("POST", "/api/orders"): ("trader", {"symbol": "BTCUSDT", "side": "buy", "type": "limit", "quantity": "0.01",
                                         "price": "60000.5", "leverage": "2"}),
    ("POST", "/api/liquidity/pairs"): ("trader", {"symbol": "BTCUSDT", "bidPrice": "60000", "askPrice": "80000",
                                                  "quantity": "0.01", "leverage": "1"}),
    ("POST", "/api/broker/price-feed"): ("admin", {"symbol": "BTCUSDT", "price": "70000.25"}),
    ("POST", "/api/v1/broker/clients/{client_id}/deposit"): ("key", {"amount": "1.5"}),
    ("POST", "/api/withdrawals"): ("trader", {"amount": "2.5", "walletAddress": "0x" + "ab" * 20}),
}
# Valid bodies for the bad-form test only (a success would not be repeatable).
BASES = {**{op: body for op, (_, body) in VALID.items()},
         ("POST", "/api/broker/symbols"): {"symbol": "NUMSUSDT", "name": "n"},
         ("POST", "/api/liquidity/reprice"): {"pairId": "p", "newBidPrice": "1", "newAskPrice": "2"}}
IGNORED = ("Id", "id", "At", "_at", "ts", "deadline", "balance", "Balance", "reference", "createdAt")


def _comparable(body):
    if not isinstance(body, dict):
        return body
    return {k: v for k, v in body.items() if not any(s in k for s in IGNORED)}


def _numbers_as_json(body: dict, fields: list[str]) -> dict:
    return {k: (D(v) if k in fields and isinstance(v, str) else v) for k, v in body.items()}


@pytest.mark.parametrize("op", sorted(VALID))
def test_number_and_string_give_the_same_result(world, op):
    api, auth, ids = world
    method, path = op
    who, body = VALID[op]
    url = path.format(**ids)
    from chalicelib.common.http import ROUTES
    model = next(i.body for i in ROUTES if i.path == path and method in i.methods)
    as_string = api.call(method, url, body, **auth[who])
    as_number = api.call(method, url, _numbers_as_json(body, _numeric_fields(model)), **auth[who])
    assert as_string.status == as_number.status and as_string.status in (200, 201), (as_string, as_number)
    assert _comparable(as_string.json) == _comparable(as_number.json)


def test_bad_forms_on_every_numeric_field_are_400_and_change_nothing(world):
    api, auth, ids = world
    before = _state(api, auth)
    checked = 0
    for info, where, name in registry_fields():
        method = info.methods[0]
        url = info.path.format(**{k: ids.get(k, "x") for k in ("user_id", "client_id", "withdrawal_id", "order_id",
                                                                  "position_id", "key_id", "delivery_id")})
        who = "key" if "/api/v1/" in info.path else ("admin" if "admin" in info.path or "broker/" in info.path
                                                     else "trader")
        base = dict(BASES.get((method, info.path), {}))
        for bad in ("1e5", "NaN", "Infinity", "0x10", " 1", "1 ", "", True, "1E-400"):
            if where == "body":
                r = api.call(method, url, {**base, name: bad}, **auth[who])
            else:
                if isinstance(bad, bool):
                    continue
                from urllib.parse import quote
                r = api.call(method, f"{url}?symbol=BTCUSDT&{name}={quote(bad)}", **auth[who])
            if bad == "" and info.path == "/api/liquidity/reprice":  # the guide: an empty field is missing
                assert r.status == 400 and r.json["code"] == "MISSING_FIELDS", r
                continue
            assert r.status == 400 and r.json["code"] == "VALIDATION_ERROR", (info.path, name, bad, r)
            assert r.json["error"].startswith(name), (info.path, name, bad, r)
            checked += 1
    assert checked >= 30 * 8
    assert _state(api, auth) == before


# The market-maker toolkit's bodies are read by its pure rules (trading/mmp.py, pairs.parse_reprice), which call
# the same parser: number and string alike, the bad forms refused, nothing changed.
TOOLKIT = [
    ("/api/liquidity/cancel-all-after", "PUT_OR_POST", {"timeoutMs": "60000"}, "timeoutMs", "VALIDATION_ERROR"),
    ("/api/liquidity/mmp", "PUT", {"windowMs": "1000", "quantityLimit": "0.5", "frozenMs": "2000"}, "quantityLimit",
     "VALIDATION_ERROR"),
    ("/api/liquidity/mmp", "PUT", {"windowMs": "1000", "quantityLimit": "0.5", "frozenMs": "2000"}, "windowMs",
     "VALIDATION_ERROR"),
]


@pytest.mark.parametrize("path,method,body,field,code", TOOLKIT)
def test_toolkit_bodies_take_numbers_and_strings_alike(world, path, method, body, field, code):
    api, auth, _ = world
    method = "POST" if method == "PUT_OR_POST" else method
    as_string = api.call(method, path, body, **auth["trader"])
    as_number = api.call(method, path, {k: D(v) for k, v in body.items()}, **auth["trader"])
    assert as_string.status == as_number.status == 200, (as_string, as_number)
    drop = ("currentTime",)
    assert {k: v for k, v in _comparable(as_string.json).items() if k not in drop} == \
        {k: v for k, v in _comparable(as_number.json).items() if k not in drop}
    before = api.get("/api/liquidity/mmp", **auth["trader"]).json
    for bad in ("1e5", "NaN", "0x10", " 1", "", True, "1E-400"):
        r = api.call(method, path, {**body, field: bad}, **auth["trader"])
        assert r.status == 400 and r.json["code"] == code, (path, field, bad, r)
    assert api.get("/api/liquidity/mmp", **auth["trader"]).json == before
    if path.endswith("cancel-all-after"):
        assert api.post(path, {"timeoutMs": 0}, **auth["trader"]).status == 200  # disarmed again


def test_reprice_batch_entries_take_numbers_and_strings_alike(world):
    api, auth, _ = world
    pairs = [api.post("/api/liquidity/pairs", {"symbol": "BTCUSDT", "bidPrice": 60000 - i, "askPrice": 80000 + i,
                                               "quantity": "0.01"}, **auth["trader"]).json["pairId"] for i in range(2)]
    r = api.post("/api/liquidity/reprice-batch", {"reprices": [
        {"pairId": pairs[0], "newBidPrice": "60100.5", "newAskPrice": "79900"},
        {"pairId": pairs[1], "newBidPrice": D("60100.5"), "newAskPrice": D("79900")},
        {"pairId": pairs[1] + "x", "newBidPrice": "6e4", "newAskPrice": "79900"}]}, **auth["trader"])
    assert r.status == 200, r
    ok, same, bad = r.json["results"]
    assert ok["ok"] and same["ok"], (ok, same)
    assert ok.get("releasedMargin") == same.get("releasedMargin") and ok.get("frozenMargin") == same.get("frozenMargin")
    assert not bad["ok"] and bad["code"] == "INVALID_PRICE", bad
    listed = api.get("/api/liquidity/pairs?status=pending", **auth["trader"]).json
    for p in (listed if isinstance(listed, list) else listed.get("items", [])):
        api.post("/api/liquidity/cancel", {"pairId": p["pairId"]}, **auth["trader"])

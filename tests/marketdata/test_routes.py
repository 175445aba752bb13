"""Market-data HTTP endpoints over the real app (chalice test client on moto)."""
from decimal import Decimal

import pytest

from chalicelib.marketdata import store
from tests.fixtures import count_calls, writes
from tests.helpers import Api


@pytest.fixture
def api(client):
    store.clear_cache()
    return Api(client)


@pytest.fixture
def roles(api):
    admin = api.admin_token()
    broker, broker_id = api.create_broker(admin)
    other, other_id = api.create_broker(admin)
    trader, _ = api.register()
    return {"admin": admin, "broker": broker, "broker_id": broker_id, "other": other, "trader": trader}


def is_int(v) -> bool:  # the test client parses JSON numbers to Decimal
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool) and v == int(v)


def new_symbol(api, token, symbol="XAUUSD", **extra):
    body = {"symbol": symbol, "name": "Gold", "pricePrecision": 2, "quantityPrecision": 2, "minQuantity": 0.01,
            "maxLeverage": 50, **extra}
    return api.post("/api/broker/symbols", body, token=token)


def test_builtins_are_listed_without_setup(api):
    r = api.get("/api/symbols")
    assert r.status == 200
    by = {s["symbol"]: s for s in r.json}
    assert {"BTCUSDT", "ETHUSDT"} <= set(by)
    s = by["BTCUSDT"]
    assert s["custom"] is False and s["lastPrice"] is None and s["bid"] is None and s["ask"] is None
    assert set(s) >= {"symbol", "name", "custom", "pricePrecision", "quantityPrecision", "minQuantity",
                      "maxLeverage", "lastPrice", "bid", "ask", "ts"}
    assert api.get("/api/symbols").json == r.json  # ensured once, idempotent


def test_create_symbol_lists_at_once_and_duplicate_is_409(api, roles):
    r = new_symbol(api, roles["broker"])
    assert r.status == 201, r
    assert r.json["symbol"] == "XAUUSD" and r.json["custom"] is True and r.json["maxLeverage"] == 50
    assert Decimal(str(r.json["minQuantity"])) == Decimal("0.01")
    assert "XAUUSD" in {s["symbol"] for s in api.get("/api/symbols").json}
    dup = new_symbol(api, roles["other"])
    assert dup.status == 409 and dup.json["code"] == "SYMBOL_EXISTS"
    assert new_symbol(api, roles["admin"], symbol="BTCUSDT").status == 409


@pytest.mark.parametrize("body,code", [
    ({"symbol": "xauusd"}, "INVALID_SYMBOL"),
    ({"symbol": "AB"}, "INVALID_SYMBOL"),
    ({"symbol": "A" * 21}, "INVALID_SYMBOL"),
    ({"symbol": "XAU-USD"}, "INVALID_SYMBOL"),
    ({"symbol": 123456}, "VALIDATION_ERROR"),
    ({"symbol": "GOOD1", "pricePrecision": -1}, "VALIDATION_ERROR"),
    ({"symbol": "GOOD1", "pricePrecision": True}, "VALIDATION_ERROR"),
    ({"symbol": "GOOD1", "maxLeverage": 0}, "VALIDATION_ERROR"),
    ({"symbol": "GOOD1", "minQuantity": -1}, "VALIDATION_ERROR"),
    ({"symbol": "GOOD1", "minQuantity": 0.001, "quantityPrecision": 2}, "INVALID_MIN_QUANTITY"),
    ({}, "VALIDATION_ERROR"),
])
def test_create_symbol_validation(api, roles, body, code):
    r = api.post("/api/broker/symbols", body, token=roles["broker"])
    assert r.status == 400 and r.json["code"] == code, r
    assert "GOOD1" not in {s["symbol"] for s in api.get("/api/symbols").json}


def test_create_symbol_auth(api, roles):
    assert api.post("/api/broker/symbols", {"symbol": "GOOD1"}).status == 401
    assert api.post("/api/broker/symbols", {"symbol": "GOOD1"}, token="nope").status == 401
    r = api.post("/api/broker/symbols", {"symbol": "GOOD1"}, token=roles["trader"])
    assert r.status == 403
    assert new_symbol(api, roles["admin"], symbol="ADMINSYM").status == 201


def test_create_symbol_idempotency_key_replays(api, roles):
    h = {"Idempotency-Key": "k-1"}
    first = api.post("/api/broker/symbols", {"symbol": "IDEMP1"}, token=roles["broker"], headers=h)
    again = api.post("/api/broker/symbols", {"symbol": "IDEMP1"}, token=roles["broker"], headers=h)
    assert first.status == again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"


def test_price_feed_and_ticker_freshness(api, roles):
    assert new_symbol(api, roles["broker"]).status == 201
    r = api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": 3275.50}, token=roles["broker"])
    assert r.status == 200, r
    assert r.json["ok"] is True and r.json["symbol"] == "XAUUSD" and Decimal(str(r.json["price"])) == Decimal("3275.5")
    assert is_int(r.json["ts"])
    t = api.get("/api/ticker?symbol=XAUUSD").json  # no stream processing has happened: straight from the tick
    assert Decimal(str(t["price"])) == Decimal("3275.5") and t["ts"] == r.json["ts"]
    assert t["bid"] is None and t["ask"] is None and is_int(t["nextMatchAt"])
    api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": "3276.25"}, token=roles["broker"])
    assert Decimal(str(api.get("/api/ticker?symbol=XAUUSD").json["price"])) == Decimal("3276.25")


def test_price_feed_legacy_bid_ask_uses_mid(api, roles):
    new_symbol(api, roles["broker"])
    r = api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "bid": 100, "ask": 101}, token=roles["broker"])
    assert r.status == 200 and Decimal(str(r.json["price"])) == Decimal("100.5")
    crossed = api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "bid": 102, "ask": 101}, token=roles["broker"])
    assert crossed.status == 400 and crossed.json["code"] == "CROSSED_QUOTE"
    assert Decimal(str(api.get("/api/ticker?symbol=XAUUSD").json["price"])) == Decimal("100.5")


def test_price_rounds_to_symbol_precision(api, roles):
    new_symbol(api, roles["broker"])
    r = api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": "3275.555"}, token=roles["broker"])
    assert Decimal(str(r.json["price"])) == Decimal("3275.56")
    tiny = api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": "0.001"}, token=roles["broker"])
    assert tiny.status == 400 and tiny.json["code"] == "INVALID_PRICE"


@pytest.mark.parametrize("body,code", [
    ({"symbol": "XAUUSD"}, "MISSING_FIELDS"),
    ({"symbol": "XAUUSD", "bid": 1}, "MISSING_FIELDS"),
    ({"symbol": "XAUUSD", "price": 0}, "VALIDATION_ERROR"),
    ({"symbol": "XAUUSD", "price": -5}, "VALIDATION_ERROR"),
    ({"symbol": "XAUUSD", "price": "abc"}, "VALIDATION_ERROR"),
    ({"symbol": "XAUUSD", "price": True}, "VALIDATION_ERROR"),
    ({"symbol": "NOSUCH", "price": 1}, "UNKNOWN_SYMBOL"),
    ({"price": 1}, "VALIDATION_ERROR"),
])
def test_price_feed_validation_writes_nothing(api, roles, body, code):
    new_symbol(api, roles["broker"])
    with count_calls("dynamodb") as calls:
        r = api.post("/api/broker/price-feed", body, token=roles["broker"])
    assert r.status == 400 and r.json["code"] == code, r
    assert writes(calls) == 0
    assert api.get("/api/ticker?symbol=XAUUSD").json["price"] is None


def test_price_feed_nonfinite_and_malformed(api, roles):
    new_symbol(api, roles["broker"])
    for raw in ('{"symbol":"XAUUSD","price":NaN}', '{"symbol":"XAUUSD","price":Infinity}', '{"symbol":'):
        r = api.call("POST", "/api/broker/price-feed", raw=raw, token=roles["broker"])
        assert r.status == 400, (raw, r)


def test_price_feed_permissions(api, roles):
    new_symbol(api, roles["broker"])
    assert api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": 1}).status == 401
    assert api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": 1}, token=roles["trader"]).status == 403
    other = api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": 1}, token=roles["other"])
    assert other.status == 403 and other.json["code"] == "NOT_SYMBOL_OWNER"
    builtin = api.post("/api/broker/price-feed", {"symbol": "BTCUSDT", "price": 1}, token=roles["broker"])
    assert builtin.status == 403 and builtin.json["code"] == "NOT_SYMBOL_OWNER"
    assert api.get("/api/ticker?symbol=XAUUSD").json["price"] is None
    assert api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": 2}, token=roles["admin"]).status == 200
    assert api.post("/api/broker/price-feed", {"symbol": "BTCUSDT", "price": 70000}, token=roles["admin"]).status == 200
    assert api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": 3}, token=roles["broker"]).status == 200


def test_price_feed_makes_at_most_one_write_beyond_auth(api, roles):
    """Measured: the request path's DynamoDB writes, counted through botocore's event hooks."""
    new_symbol(api, roles["broker"])
    for symbol, token in (("XAUUSD", roles["broker"]), ("BTCUSDT", roles["admin"]), ("XAUUSD", roles["broker"])):
        store.clear_cache()  # the cold path too: symbol read from the table
        with count_calls() as calls:
            r = api.post("/api/broker/price-feed", {"symbol": symbol, "price": 123.45}, token=token)
        assert r.status == 200, r
        assert writes(calls) == 1 and calls["PutItem"] == 1, calls
        assert sum(calls.values()) <= 3, calls  # session read + (custom) symbol read + the put
        with count_calls() as warm:
            api.post("/api/broker/price-feed", {"symbol": symbol, "price": 123.46}, token=token)
        assert writes(warm) == 1 and sum(warm.values()) == 2, warm  # session read + the put


def test_ticker_depth_klines_validation(api, roles):
    assert api.get("/api/ticker").status == 400
    assert api.get("/api/ticker?symbol=NOSUCH").json["code"] == "UNKNOWN_SYMBOL"
    assert api.get("/api/depth?symbol=NOSUCH").json["code"] == "UNKNOWN_SYMBOL"
    assert api.get("/api/klines?symbol=BTCUSDT&interval=2m").json["code"] == "INVALID_INTERVAL"
    assert api.get("/api/klines?symbol=BTCUSDT&limit=0").status == 400
    assert api.get("/api/klines?symbol=BTCUSDT&limit=abc").status == 400
    assert api.get("/api/klines?symbol=BTCUSDT&startTime=5&endTime=1").json["code"] == "INVALID_RANGE"
    assert api.get("/api/klines?symbol=BTCUSDT").json == []
    d = api.get("/api/depth?symbol=BTCUSDT").json
    assert d["symbol"] == "BTCUSDT" and d["bids"] == [] and d["asks"] == [] and is_int(d["ts"])
    t = api.get("/api/ticker?symbol=ETHUSDT").json
    assert t["price"] is None and t["symbol"] == "ETHUSDT"


def test_klines_after_stream(api, roles, tick_stream, sent):
    new_symbol(api, roles["broker"])
    prices = ["10", "12", "9", "11"]
    for p in prices:
        assert api.post("/api/broker/price-feed", {"symbol": "XAUUSD", "price": p}, token=roles["broker"]).status == 200
    assert tick_stream.pump() == 4
    k = api.get("/api/klines?symbol=XAUUSD&interval=1m").json
    assert len(k) >= 1
    total = sum(c["ticks"] for c in k)
    assert total == 4
    last = k[-1]
    assert Decimal(str(last["close"])) == Decimal("11")
    assert Decimal(str(max(c["high"] for c in k))) == Decimal("12")
    assert Decimal(str(min(c["low"] for c in k))) == Decimal("9")
    assert set(last) >= {"openTime", "open", "high", "low", "close", "volume", "ticks"}
    for iv in ("5m", "15m", "1h", "4h", "1d"):
        assert sum(c["ticks"] for c in api.get(f"/api/klines?symbol=XAUUSD&interval={iv}").json) == 4
    sym = {s["symbol"]: s for s in api.get("/api/symbols").json}["XAUUSD"]
    assert Decimal(str(sym["lastPrice"])) == Decimal("11") and is_int(sym["ts"])
    assert api.get(f"/api/klines?symbol=XAUUSD&interval=1m&startTime={last['openTime'] + 60_000}").json == []
    assert api.get(f"/api/klines?symbol=XAUUSD&interval=1m&endTime={k[0]['openTime'] - 1}").json == []

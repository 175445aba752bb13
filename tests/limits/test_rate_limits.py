"""Per-principal rate limits over the real app (moto): 429 RATE_LIMITED with Retry-After and the X-RateLimit-*
headers; reads counted by their own UpdateItem, writes by their own transaction (one more item, no round trip);
a refusal writes nothing; the price feed is not limited."""
from decimal import Decimal

from chalicelib.limits import service as limits
from tests.fixtures import count_calls, record_calls

SYM = "BTCUSDT"


def _limited(r, limit):
    assert r.status == 429, r
    assert r.json["code"] == "RATE_LIMITED" and r.json["error"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["X-RateLimit-Limit"] == str(limit) and r.headers["X-RateLimit-Remaining"] == "0"


def _scan(stack):
    db = stack.dynamodb()
    return sorted((i["pk"]["S"], i["sk"]["S"], str(sorted(i.items()))) for i in
                  db.scan(TableName=stack.tables["main"])["Items"])


def test_reads_are_limited_per_session_and_the_next_window_opens_again(api, monkeypatch, fresh_window):
    monkeypatch.setenv("RATE_LIMIT_SESSION", "3")
    token, _ = api.register()
    other, _ = api.register()
    seen = []
    for _ in range(3):
        with count_calls("dynamodb") as calls:
            r = api.get("/api/accounts/me", token=token)
        assert r.status == 200, r
        assert calls["UpdateItem"] == 1  # the read's counter: its own conditional UpdateItem
        seen.append(r.headers["X-RateLimit-Remaining"])
    assert seen == ["2", "1", "0"]
    _limited(api.get("/api/accounts/me", token=token), 3)
    assert api.get("/api/accounts/me", token=other).status == 200  # per token: another session is not affected
    fresh_window.advance(60_000)  # the next window
    r = api.get("/api/accounts/me", token=token)
    assert r.status == 200 and r.headers["X-RateLimit-Remaining"] == "2", r


def test_the_counter_rides_in_the_reprice_transaction_and_a_refusal_writes_nothing(api, client, moto_db,
                                                                                  monkeypatch):
    admin = api.admin_token()
    mm, uid = api.register()
    api.credit(admin, uid, 5000)
    api.post("/api/broker/price-feed", {"symbol": SYM, "price": Decimal(70000)}, token=admin)
    monkeypatch.setenv("RATE_LIMIT_SESSION", "4")
    p = api.post("/api/liquidity/pairs", {"symbol": SYM, "bidPrice": 69990, "askPrice": 70010,
                                          "quantity": Decimal("0.01"), "leverage": 1}, token=mm)
    assert p.status == 201, p
    assert p.headers["X-RateLimit-Remaining"] == "3"
    pair_id = p.json["pairId"]
    remaining = []
    for k in range(3):
        with record_calls("dynamodb") as rec:
            r = api.post("/api/liquidity/reprice", {"pairId": pair_id, "newBidPrice": 69991 + k,
                                                    "newAskPrice": 70011 + k}, token=mm)
        assert r.status == 200, r
        ops = [op for op, _ in rec]
        assert ops.count("TransactWriteItems") == 1 and "UpdateItem" not in ops, ops  # no round trip of its own
        items = [params for op, params in rec if op == "TransactWriteItems"][0]["TransactItems"]
        counters = [i for i in items if "Update" in i and i["Update"]["Key"]["pk"]["S"].startswith("RATE#s:")]
        assert len(counters) == 1, items
        remaining.append(r.headers["X-RateLimit-Remaining"])
        pair_id = r.json["pairId"]
    assert remaining == ["2", "1", "0"]

    # Another Lambda instance knows nothing of this token's count: the transaction's condition refuses it
    limits._seen.clear()
    before = _scan(moto_db)
    with record_calls("dynamodb") as rec:
        r = api.post("/api/liquidity/reprice", {"pairId": pair_id, "newBidPrice": 69000, "newAskPrice": 71000},
                     token=mm)
    _limited(r, 4)
    ops = [op for op, _ in rec]
    assert ops.count("TransactWriteItems") == 1 and "UpdateItem" not in ops and "PutItem" not in ops, ops
    assert _scan(moto_db) == before  # cancelled as a whole: the pair, its orders and the account unchanged

    # This instance now knows the limit is reached: the next write is refused without any write at all
    with record_calls("dynamodb") as rec:
        r = api.post("/api/orders", {"symbol": SYM, "side": "buy", "type": "market", "quantity": Decimal("0.01")},
                     token=mm)
    _limited(r, 4)
    assert not [op for op, _ in rec if op in ("TransactWriteItems", "UpdateItem", "PutItem")], rec
    assert _scan(moto_db) == before


def test_a_write_without_a_transaction_is_counted_after_the_view_and_a_refusal_writes_nothing(api, moto_db,
                                                                                              monkeypatch):
    from chalicelib.accounts import store
    from chalicelib.auth import store as sessions
    monkeypatch.setenv("RATE_LIMIT_SESSION", "3")
    token, _ = api.register()
    uid = sessions.lookup(token).user_id
    assert api.get("/api/accounts/me", token=token).headers["X-RateLimit-Remaining"] == "2"
    before = _scan_all(moto_db)
    r = api.put("/api/accounts/me/wallet", {"walletAddress": "nope"}, token=token)
    assert r.status == 400 and r.headers["X-RateLimit-Remaining"] == "1", r  # counted here, in memory only
    assert _scan_all(moto_db) == before  # a refusal changes nothing, not even the counter
    limits._seen.clear()  # as on another instance, which never saw that refusal
    with count_calls("dynamodb") as calls:
        r = api.put("/api/accounts/me/wallet", {"walletAddress": "0x" + "ab" * 20}, token=token)
    assert r.status == 200 and r.headers["X-RateLimit-Remaining"] == "1" and calls["UpdateItem"] == 2, r
    r = api.put("/api/accounts/me/wallet", {"walletAddress": "0x" + "cd" * 20}, token=token)
    assert r.status == 200 and r.headers["X-RateLimit-Remaining"] == "0", r  # the third: the limit
    limits._seen.clear()
    r = api.put("/api/accounts/me/wallet", {"walletAddress": "0x" + "ef" * 20}, token=token)
    assert r.status == 200 and r.headers["X-RateLimit-Remaining"] == "0", r  # done before the count: it stays done
    wallet = store.get(uid).wallet_address
    _limited(api.put("/api/accounts/me/wallet", {"walletAddress": "0x" + "12" * 20}, token=token), 3)  # no round trip
    assert store.get(uid).wallet_address == wallet  # the refused write did not happen
    limits._seen.clear()
    _limited(api.get("/api/accounts/me", token=token), 3)  # a read over the limit: its answer becomes the 429


def _scan_all(stack):
    db = stack.dynamodb()
    return {t: sorted(str(sorted(i.items())) for i in db.scan(TableName=t)["Items"]) for t in db.list_tables()["TableNames"]}


def test_api_keys_have_their_own_limit(api, monkeypatch):
    admin = api.admin_token()
    broker_token, _ = api.create_broker(admin)
    k = api.post("/api/broker/api-keys", {"name": "k1", "scopes": ["withdrawal:list"]}, token=broker_token)
    assert k.status == 201, k
    monkeypatch.setenv("RATE_LIMIT_API_KEY", "3")
    monkeypatch.setenv("RATE_LIMIT_SESSION", "50")
    for n in ("2", "1", "0"):
        r = api.get("/api/v1/broker/withdrawals/pending", key=k.json["key"])
        assert r.status == 200 and r.headers["X-RateLimit-Limit"] == "3" and r.headers["X-RateLimit-Remaining"] == n
    _limited(api.get("/api/v1/broker/withdrawals/pending", key=k.json["key"]), 3)
    r = api.get("/api/broker/api-keys", token=broker_token)  # the broker's session is another principal
    assert r.status == 200 and r.headers["X-RateLimit-Limit"] == "50", r


def test_the_price_feed_is_not_limited(api, monkeypatch):
    admin = api.admin_token()
    monkeypatch.setenv("RATE_LIMIT_SESSION", "2")
    for k in range(6):
        r = api.post("/api/broker/price-feed", {"symbol": SYM, "price": Decimal(70000 + k)}, token=admin)
        assert r.status == 200, r
        assert "X-RateLimit-Limit" not in r.headers
    monkeypatch.setenv("RATE_LIMIT_EXEMPT_PATHS", "/api/other")  # configurable: without the exemption it is counted
    assert api.post("/api/broker/price-feed", {"symbol": SYM, "price": 1}, token=admin).headers[
        "X-RateLimit-Limit"] == "2"


def test_a_limit_of_zero_turns_it_off(api, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_SESSION", "0")
    token, _ = api.register()
    with count_calls("dynamodb") as calls:
        r = api.get("/api/accounts/me", token=token)
    assert r.status == 200 and "X-RateLimit-Limit" not in r.headers and "UpdateItem" not in calls


def test_a_clash_on_the_counter_alone_retries_the_transaction_without_it(api, monkeypatch):
    """Two requests of one principal at once meet on its counter item: DynamoDB cancels one transaction with
    TransactionConflict on that item only. The write must not fail for it: the transaction is sent again without the
    counter, and the request is counted by an UpdateItem after the view. (Injected at botocore: DynamoDB Local
    serializes these transactions here and never reports the clash.)"""
    from botocore.exceptions import ClientError

    from chalicelib.storage.db import connection
    admin = api.admin_token()
    mm, uid = api.register()
    api.credit(admin, uid, 5000)
    api.post("/api/broker/price-feed", {"symbol": SYM, "price": Decimal(70000)}, token=admin)
    p = api.post("/api/liquidity/pairs", {"symbol": SYM, "bidPrice": Decimal(69990), "askPrice": Decimal(70010),
                                          "quantity": Decimal("0.01")}, token=mm)
    assert p.status == 201, p
    sizes = []

    def clash_once(params, **_):
        sizes.append(len(params["TransactItems"]))
        if len(sizes) == 1:
            reasons = [{"Code": "None"}] * (sizes[0] - 1) + [{"Code": "TransactionConflict", "Message": "conflict"}]
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                               "CancellationReasons": reasons}, "TransactWriteItems")

    events = connection().client.meta.events
    events.register("before-parameter-build.dynamodb.TransactWriteItems", clash_once)
    try:
        with count_calls("dynamodb") as calls:
            r = api.post("/api/liquidity/reprice", {"pairId": p.json["pairId"], "newBidPrice": Decimal(69995),
                                                    "newAskPrice": Decimal(70015)}, token=mm)
    finally:
        events.unregister("before-parameter-build.dynamodb.TransactWriteItems", clash_once)
    assert r.status == 200, r
    assert sizes == [8, 7]  # with the counter, then without it
    assert calls["UpdateItem"] == 1  # ... counted after the view instead
    assert r.headers["X-RateLimit-Remaining"] == "1198"  # the pair and this reprice, exact from the UpdateItem

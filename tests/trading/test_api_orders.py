"""Trader orders, positions and fills over the real app (chalice test client on moto)."""
from decimal import Decimal as D

import pytest

from chalicelib.trading.models import ClientOrderClaim, OrderItem
from tests.trading.conftest import SYM, assert_invariants


def dec(v):
    return D(str(v))


def count_orders():
    return sum(1 for _ in OrderItem.scan(OrderItem.pk.startswith("ORDER#")))


# ---- placement ----------------------------------------------------------------------------------------------

def test_market_order_takes_liquidity_best_first_then_the_reference(world):
    mm1, _ = world.account()
    mm2, _ = world.account()
    tr, _ = world.account()
    world.push(69995)
    a = world.pair(mm1, 69000, 70010).json
    b = world.pair(mm2, 69500, 70000).json
    r = world.order(tr, "buy", "0.03", lev=10)
    assert r.status == 201, r
    o = r.json
    assert o["status"] == "filled" and o["kind"] == "trader" and o["type"] == "market"
    assert dec(o["margin"]) == D("210")  # 0.03 × best ask 70000 / 10
    assert [(dec(f["price"]), dec(f["quantity"]), f["counterparty"]) for f in o["fills"]] == [
        (D("70000"), D("0.01"), "liquidity"), (D("70010"), D("0.01"), "liquidity"), (D("69995"), D("0.01"), "house")]
    assert dec(o["avgFillPrice"]) == D("70001.66666667")
    # each maker's pair ended: the ask filled, the bid cancelled and released
    for pair, maker in ((a, mm1), (b, mm2)):
        ask = world.api.get(f"/api/orders/{pair['sellOrderId']}", token=maker).json
        bid = world.api.get(f"/api/orders/{pair['buyOrderId']}", token=maker).json
        assert ask["status"] == "filled" and bid["status"] == "cancelled" and dec(bid["frozenMargin"]) == 0
        assert world.me(maker)["frozenMargin"] == 0
    pos = world.api.get("/api/positions", token=tr).json
    assert len(pos) == 1 and pos[0]["side"] == "long" and dec(pos[0]["quantity"]) == D("0.03")
    assert dec(pos[0]["margin"]) == D("210") and dec(pos[0]["markPrice"]) == D("69995")
    me = world.me(tr)
    assert dec(me["positionMargin"]) == 210 and dec(me["availableBalance"]) == 10000 - 210
    assert_invariants()


def test_limit_order_rests_then_fills_at_a_matching_check(world):
    from chalicelib.trading import service
    tr, _ = world.account()
    world.push(70500)
    r = world.order(tr, "buy", "0.01", 70000, clientOrderId="my-1")
    assert r.status == 201 and r.json["status"] == "pending" and r.json["clientOrderId"] == "my-1"
    assert dec(world.me(tr)["frozenMargin"]) == 700
    world.push(70100)
    assert service.run_matching_check(SYM).fills == 0
    world.push(70000)
    rep = service.run_matching_check(SYM)
    assert rep.fills == 1 and rep.orders_read == 1
    o = world.api.get(f"/api/orders/{r.json['orderId']}", token=tr).json
    assert o["status"] == "filled" and dec(o["avgFillPrice"]) == 70000 and dec(o["frozenMargin"]) == 0
    assert world.me(tr)["frozenMargin"] == 0 and dec(world.me(tr)["positionMargin"]) == 700
    # the clientOrderId claim ended with the order: the id may be used again
    assert world.order(tr, "buy", "0.01", 60000, clientOrderId="my-1").status == 201
    assert_invariants()


def test_limit_order_fills_at_once_when_the_reference_satisfies_it(world):
    tr, _ = world.account()
    world.push(69000)
    o = world.order(tr, "buy", "0.01", 70000).json
    assert o["status"] == "filled" and dec(o["avgFillPrice"]) == 69000
    assert dec(o["margin"]) == 700  # margin at the limit price
    assert dec(world.me(tr)["positionMargin"]) == 700


def test_insufficient_margin_writes_nothing(world):
    tr, _ = world.account(100)
    world.push(70000)
    before = count_orders()
    r = world.order(tr, "buy", "0.01", 69000)
    assert r.status == 400 and r.json == {"error": "可用保证金不足", "code": "INSUFFICIENT_MARGIN",
                                          "message": "Not enough available balance for the margin"}
    assert count_orders() == before
    assert world.me(tr)["frozenMargin"] == 0
    assert world.order(tr, "buy", "0.01", 69000, lev=7).status == 201  # 98.57... fits with leverage 7


def test_market_order_without_any_price_is_rejected(world):
    tr, _ = world.account()
    r = world.order(tr, "buy", "0.01", symbol="ETHUSDT")
    assert r.status == 400 and r.json["code"] == "NO_PRICE" and r.json["status"] == "rejected"
    o = world.api.get(f"/api/orders/{r.json['orderId']}", token=tr).json
    assert o["status"] == "rejected" and dec(o["frozenMargin"]) == 0
    assert world.me(tr)["frozenMargin"] == 0


@pytest.mark.parametrize("body,code", [
    ({"symbol": "NOPE1", "side": "buy", "type": "market", "quantity": 1}, "UNKNOWN_SYMBOL"),
    ({"symbol": SYM, "side": "hold", "type": "market", "quantity": 1}, "INVALID_SIDE"),
    ({"symbol": SYM, "side": "buy", "type": "stop", "quantity": 1}, "INVALID_TYPE"),
    ({"symbol": SYM, "side": "buy", "type": "market", "quantity": 0}, "INVALID_QUANTITY"),
    ({"symbol": SYM, "side": "buy", "type": "market", "quantity": -1}, "INVALID_QUANTITY"),
    ({"symbol": SYM, "side": "buy", "type": "market", "quantity": D("0.00001")}, "INVALID_QUANTITY"),
    ({"symbol": SYM, "side": "buy", "type": "market", "quantity": "1e5"}, "VALIDATION_ERROR"),
    ({"symbol": SYM, "side": "buy", "type": "market", "quantity": True}, "VALIDATION_ERROR"),
    ({"symbol": SYM, "side": "buy", "type": "limit", "quantity": 1}, "INVALID_PRICE"),
    ({"symbol": SYM, "side": "buy", "type": "limit", "quantity": 1, "price": D("1.001")}, "INVALID_PRICE"),
    ({"symbol": SYM, "side": "buy", "type": "limit", "quantity": 1, "price": 0}, "INVALID_PRICE"),
    ({"symbol": SYM, "side": "buy", "type": "market", "quantity": 1, "leverage": 101}, "INVALID_LEVERAGE"),
    ({"symbol": SYM, "side": "buy", "type": "market", "quantity": 1, "leverage": D("2.5")}, "INVALID_LEVERAGE"),
    ({"symbol": SYM, "side": "buy", "type": "market", "quantity": 1, "leverage": 0}, "INVALID_LEVERAGE"),
    ({"side": "buy", "type": "market", "quantity": 1}, "VALIDATION_ERROR"),
    ({"symbol": SYM, "side": "buy", "type": "market"}, "VALIDATION_ERROR"),
])
def test_invalid_orders_are_400_and_write_nothing(world, body, code):
    tr, _ = world.account()
    world.push(70000)
    before = count_orders()
    r = world.api.post("/api/orders", body, token=tr)
    assert r.status == 400 and r.json["code"] == code, r
    assert count_orders() == before and world.me(tr)["frozenMargin"] == 0


def test_malformed_json_and_no_auth(world):
    tr, _ = world.account()
    r = world.api.call("POST", "/api/orders", raw="{nope", token=tr)
    assert r.status == 400 and r.json["code"] == "MALFORMED_JSON"
    r = world.api.post("/api/orders", {"symbol": SYM})
    assert r.status == 401 and r.json == {"error": "Session无效或已过期", "code": "SESSION_INVALID"}
    for path in ("/api/orders", "/api/positions", "/api/trades", "/api/liquidity/pairs", "/api/orders/x"):
        assert world.api.get(path).status == 401


def test_client_order_id_is_unique_among_open_orders(world):
    tr, _ = world.account()
    world.push(70000)
    first = world.order(tr, "buy", "0.01", 60000, clientOrderId="c1")
    assert first.status == 201
    dup = world.order(tr, "buy", "0.01", 61000, clientOrderId="c1")
    assert dup.status == 409 and dup.json["code"] == "DUPLICATE_CLIENT_ORDER_ID"
    # an order that would not even rest is refused too (the id is held by an open order)
    assert world.order(tr, "buy", "0.001", clientOrderId="c1").status == 409
    other, _ = world.account()
    assert world.order(other, "buy", "0.01", 60000, clientOrderId="c1").status == 201  # per account
    assert world.api.delete(f"/api/orders/{first.json['orderId']}", token=tr).status == 200
    assert ClientOrderClaim.count(ClientOrderClaim.key(world_uid(world, tr), "c1")[0]) == 0
    assert world.order(tr, "buy", "0.01", 61000, clientOrderId="c1").status == 201
    assert_invariants()


def world_uid(world, token):
    return world.me(token)["userId"]


def test_idempotent_placement_replays(world):
    tr, _ = world.account()
    world.push(70000)
    h = {"Idempotency-Key": "k-1"}
    body = {"symbol": SYM, "side": "buy", "type": "limit", "quantity": D("0.01"), "price": 60000}
    a = world.api.post("/api/orders", body, token=tr, headers=h)
    b = world.api.post("/api/orders", body, token=tr, headers=h)
    assert a.status == b.status == 201 and a.json == b.json and b.headers.get("Idempotent-Replayed") == "true"
    assert dec(world.me(tr)["frozenMargin"]) == 600
    c = world.api.post("/api/orders", {**body, "price": 61000}, token=tr, headers=h)
    assert c.status == 422 and c.json["code"] == "IDEMPOTENCY_KEY_REUSED"


# ---- reading and cancelling ------------------------------------------------------------------------------

def test_list_get_and_another_accounts_order_is_404(world):
    tr, _ = world.account()
    other, _ = world.account()
    world.push(70000)
    ids = [world.order(tr, "buy", "0.01", 60000 + i).json["orderId"] for i in range(3)]
    world.order(tr, "sell", "0.01")  # filled at once
    r = world.api.get("/api/orders", token=tr)
    assert r.status == 200 and len(r.json) == 4 and r.json[0]["side"] == "sell"  # newest first
    assert set(r.json[0]) >= {"orderId", "clientOrderId", "symbol", "side", "type", "price", "quantity",
                              "filledQuantity", "avgFillPrice", "leverage", "margin", "status", "kind", "meta",
                              "createdAt", "updatedAt"}
    assert [o["orderId"] for o in world.api.get("/api/orders?status=pending", token=tr).json] == ids[::-1]
    assert world.api.get("/api/orders?status=bogus", token=tr).status == 400
    assert world.api.get("/api/orders?symbol=ETHUSDT", token=tr).json == []
    page1 = world.api.get("/api/orders?limit=3", token=tr)
    assert len(page1.json) == 3 and page1.headers.get("X-Next-Cursor")
    page2 = world.api.get(f"/api/orders?limit=3&cursor={page1.headers['X-Next-Cursor']}", token=tr)
    assert [o["orderId"] for o in page2.json] == [ids[0]] and not page2.headers.get("X-Next-Cursor")
    assert world.api.get(f"/api/orders?cursor={page1.headers['X-Next-Cursor']}", token=other).status == 400
    assert world.api.get(f"/api/orders/{ids[0]}", token=tr).json["orderId"] == ids[0]
    for method in ("get", "delete"):
        r = getattr(world.api, method)(f"/api/orders/{ids[0]}", token=other)
        assert r.status == 404 and r.json["code"] == "NOT_FOUND"
    assert world.api.get("/api/orders/does-not-exist", token=tr).status == 404
    assert world.api.get("/api/orders", token=other).json == []


def test_cancel_releases_margin_and_only_pending_orders(world):
    tr, _ = world.account()
    world.push(70000)
    o = world.order(tr, "buy", "0.01", 60000).json
    assert dec(world.me(tr)["frozenMargin"]) == 600
    r = world.api.delete(f"/api/orders/{o['orderId']}", token=tr)
    assert r.status == 200 and r.json["status"] == "cancelled" and dec(r.json["frozenMargin"]) == 0
    assert world.me(tr)["frozenMargin"] == 0
    again = world.api.delete(f"/api/orders/{o['orderId']}", token=tr)
    assert again.status == 400 and again.json["code"] == "ORDER_NOT_PENDING"
    assert_invariants()


def test_deleting_a_liquidity_order_cancels_its_whole_pair(world):
    mm, _ = world.account()
    p = world.pair(mm, 69990, 70010).json
    r = world.api.delete(f"/api/orders/{p['sellOrderId']}", token=mm)
    assert r.status == 200 and sorted(r.json["cancelledOrderIds"]) == sorted([p["buyOrderId"], p["sellOrderId"]])
    assert world.api.get(f"/api/orders/{p['buyOrderId']}", token=mm).json["status"] == "cancelled"
    assert world.me(mm)["frozenMargin"] == 0
    pairs = world.api.get("/api/liquidity/pairs", token=mm).json
    assert pairs[0]["status"] == "cancelled"
    assert_invariants()


# ---- positions -----------------------------------------------------------------------------------------------

def test_positions_net_average_realize_and_close(world):
    tr, uid = world.account()
    world.push(70000)
    world.order(tr, "buy", "0.1", lev=10)  # long 0.1 @ 70000, margin 700
    pos = world.api.get("/api/positions", token=tr).json[0]
    assert pos["side"] == "long" and dec(pos["entryPrice"]) == 70000 and dec(pos["liquidationPrice"]) == 63000
    assert set(pos) >= {"positionId", "symbol", "side", "quantity", "entryPrice", "markPrice", "leverage", "margin",
                        "unrealizedPnl", "liquidationPrice"}
    world.push(71000)
    assert dec(world.me(tr)["unrealizedPnl"]) == 100
    world.order(tr, "sell", "0.04", lev=10)  # reduces: realizes 40, releases 280
    me = world.me(tr)
    assert dec(me["balance"]) == 10040 and dec(me["positionMargin"]) == 420
    pos = world.api.get("/api/positions", token=tr).json[0]
    assert dec(pos["quantity"]) == D("0.06") and dec(pos["realizedPnl"]) == 40
    other, _ = world.account()
    assert world.api.post(f"/api/positions/{pos['positionId']}/close", token=other).status == 404
    world.push(72000)
    r = world.api.post(f"/api/positions/{pos['positionId']}/close", token=tr)
    assert r.status == 200 and r.json["positionId"] == pos["positionId"] and dec(r.json["realizedPnl"]) == 120
    assert world.api.get("/api/positions", token=tr).json == []
    me = world.me(tr)
    assert dec(me["balance"]) == 10160 and me["positionMargin"] == 0 and me["unrealizedPnl"] == 0
    assert world.api.post(f"/api/positions/{pos['positionId']}/close", token=tr).status == 404
    trades = world.api.get("/api/trades", token=tr).json
    assert len(trades) == 3 and {t["counterparty"] for t in trades} == {"house"}
    assert_invariants()


def test_liquidation_at_a_check_loses_only_the_margin(world):
    from chalicelib.ledger import check
    from chalicelib.trading import service
    tr, _ = world.account(1000)
    world.push(70000)
    world.order(tr, "buy", "0.1", lev=10)  # margin 700, liquidation price 63000
    world.push(63500)
    assert service.run_matching_check(SYM).liquidations == 0
    world.push(62000)  # a gap below 63000: loss 800, the account loses its 700
    rep = service.run_matching_check(SYM)
    assert rep.liquidations == 1 and rep.positions_read >= 1
    me = world.me(tr)
    assert dec(me["balance"]) == 300 and me["positionMargin"] == 0 and dec(me["availableBalance"]) == 300
    assert world.api.get("/api/positions", token=tr).json == []
    t = world.api.get("/api/trades", token=tr).json[0]
    assert t["liquidation"] is True and t["side"] == "sell" and dec(t["price"]) == 62000
    v = assert_invariants()
    assert v["system"]["system:house"] == 700 - 0  # the house got the 700; the other 100 of loss it carried
    assert check.verify()["ok"]


def test_a_new_order_takes_at_most_10_liquidity_orders_in_one_transaction(world, dynamo_calls):
    makers = [world.account()[0] for _ in range(11)]
    tr, _ = world.account(10**6)
    world.push(70100)
    pairs = [world.pair(m, 69000 + i, 70000 + i).json for i, m in enumerate(makers)]
    with dynamo_calls as rec:
        o = world.order(tr, "buy", "0.12", clientOrderId="big").json
    assert o["status"] == "filled"
    fills = [(f["counterparty"], dec(f["price"])) for f in o["fills"]]
    assert fills == [("liquidity", D(70000 + i)) for i in range(10)] + [("house", D(70100))]
    last = world.api.get(f"/api/orders/{pairs[10]['sellOrderId']}", token=makers[10]).json
    assert last["status"] == "pending"  # the 11th maker was not taken: the rest filled at the reference
    tx = [p for op, p, _ in rec.calls if op == "TransactWriteItems"]
    assert len(tx) == 1
    n = len(tx[0]["TransactItems"])
    # 1 order + claim check + 10 × (ask, bid, pair) + 11 positions + 21 fills + 11 accounts; every position opens
    # here, so no ledger entry; + the session's rate-limit counter (docs/rate-limits.md): the worst case (11 realized
    # PnLs + the house) adds 12 = 88, still under 100
    assert n == 1 + 1 + 30 + 11 + 21 + 11 + 1 == 76
    assert_invariants()


def test_a_partly_filled_limit_order_rests_then_fills_or_cancels(world):
    from chalicelib.trading import service
    mm, _ = world.account()
    tr, _ = world.account()
    world.push(70500)
    world.pair(mm, 69000, 70000)
    o = world.order(tr, "buy", "0.03", 70000).json  # takes the 0.01 ask at 70000; 70500 > limit: 0.02 rests
    assert o["status"] == "pending" and dec(o["filledQuantity"]) == D("0.01") and dec(o["frozenMargin"]) == 1400
    me = world.me(tr)
    assert dec(me["frozenMargin"]) == 1400 and dec(me["positionMargin"]) == 700
    world.push(69900)
    assert service.run_matching_check(SYM).fills == 1  # the rest fills at its limit price
    o = world.api.get(f"/api/orders/{o['orderId']}", token=tr).json
    assert o["status"] == "filled" and dec(o["avgFillPrice"]) == 70000 and dec(o["frozenMargin"]) == 0
    # the same once more, cancelled instead: the rest's margin comes back, the filled part stays a position
    world.pair(mm, 68000, 69950)
    world.push(70500)
    o2 = world.order(tr, "buy", "0.03", 69950).json
    assert o2["status"] == "pending" and dec(o2["filledQuantity"]) == D("0.01")
    r = world.api.delete(f"/api/orders/{o2['orderId']}", token=tr)
    assert r.status == 200 and r.json["status"] == "cancelled" and dec(r.json["filledQuantity"]) == D("0.01")
    me = world.me(tr)
    assert me["frozenMargin"] == 0 and dec(me["positionMargin"]) == D("2100") + D("699.5")
    assert_invariants()


def count_commits(monkeypatch) -> list:
    """Every Tx.commit of the request, failed or not (the botocore recorder sees only calls that answered)."""
    from chalicelib.ledger.store import Tx
    calls, real = [], Tx.commit

    def commit(self, *a, **kw):
        calls.append(self)
        return real(self, *a, **kw)

    monkeypatch.setattr(Tx, "commit", commit)
    return calls


def test_a_stale_book_index_entry_is_skipped_not_retried_until_busy(world, monkeypatch):
    """The book is read from an index that lags the table (eventually consistent in DynamoDB): a pair that ended a
    moment ago may still be listed on every re-read. Its transaction fails on the order AND its maker's account
    (the margin it would release is gone); the order must drop that maker and fill with the next one, at once."""
    from chalicelib.trading import store
    gone_mm, _ = world.account()
    next_mm, _ = world.account()
    tr, _ = world.account()
    world.push(70005)
    gone = world.pair(gone_mm, 69000, 70000).json
    nxt = world.pair(next_mm, 69000, 70010).json
    stale = [i for i in store.book(SYM, "liquidity", "sell") if i.order_id == gone["sellOrderId"]]
    assert stale
    assert world.api.post("/api/liquidity/cancel", {"pairId": gone["pairId"]}, token=gone_mm).status == 200
    real_book = store.book

    def lagging_book(symbol, kind, side, **kw):  # the index still lists the ended ask, best first
        return stale + [i for i in real_book(symbol, kind, side, **kw) if i.order_id != gone["sellOrderId"]]

    monkeypatch.setattr(store, "book", lagging_book)
    commits = count_commits(monkeypatch)
    r = world.order(tr, "buy", "0.01")
    assert r.status == 201, r.json
    fills = [(f["counterparty"], dec(f["price"]), f.get("counterpartyOrderId")) for f in r.json["fills"]]
    assert [f[:2] for f in fills] == [("liquidity", D(70010))], fills
    assert len(commits) == 2  # one failed on the ended ask and its maker's account, the next filled
    assert world.api.get(f"/api/orders/{nxt['sellOrderId']}", token=next_mm).json["status"] == "filled"
    assert world.me(gone_mm)["frozenMargin"] == 0 and world.me(gone_mm)["availableBalance"] == 10000
    assert_invariants()


def test_a_taker_short_of_margin_is_told_so_at_once(world, monkeypatch):
    """Only the taker's own account failing (its balance moved between the read and the commit): 400, one try."""
    from chalicelib.trading import service
    mm, _ = world.account()
    tr, _ = world.account(100)
    world.push(70005)
    world.pair(mm, 69000, 70000)
    monkeypatch.setattr(service, "check_available", lambda available, required: None)  # the read said enough
    commits = count_commits(monkeypatch)
    r = world.order(tr, "buy", "0.01")
    assert r.status == 400 and r.json["code"] == "INSUFFICIENT_MARGIN", r.json
    assert len(commits) == 1
    assert world.me(tr)["availableBalance"] == 100
    assert_invariants()


def test_quotes_that_move_under_every_plan_leave_the_order_to_the_platform(world, monkeypatch):
    """Makers reprice every second; a taker's plan can find its quotes repriced on every attempt. After
    LIQUIDITY_ATTEMPTS such plans the order fills against the platform at the reference price (as its unfilled
    rest would), instead of 503 BUSY; the makers' quotes are untouched by it."""
    import threading

    from chalicelib.ledger.store import Tx
    from chalicelib.trading import service
    mm, mm_uid = world.account()
    tr, _ = world.account()
    world.push(70005)
    state = {"pair": world.pair(mm, 69000, 70000).json["pairId"], "reprices": 0}
    real, taker_thread = Tx.commit, threading.get_ident()

    def reprice_first(tx, *a, **kw):  # a maker's reprice lands between every taker's read and its commit
        if threading.get_ident() == taker_thread and any(tag.startswith("pair:") for *_, tag in tx._ops) \
                and state["reprices"] < 50:
            def go():
                out = service.reprice(mm_uid, {"pairId": state["pair"], "newBidPrice": 69000,
                                               "newAskPrice": 70000 + state["reprices"] % 2})
                state["pair"] = out["pairId"]
            t = threading.Thread(target=go)  # its own context: not the taker's request
            t.start()
            t.join()
            state["reprices"] += 1
        return real(tx, *a, **kw)

    monkeypatch.setattr(Tx, "commit", reprice_first)
    r = world.order(tr, "buy", "0.01")
    assert r.status == 201, r.json
    assert [(f["counterparty"], dec(f["price"])) for f in r.json["fills"]] == [("house", D(70005))]
    assert state["reprices"] == service.LIQUIDITY_ATTEMPTS  # every plan with liquidity found its quote repriced
    pairs = world.api.get("/api/liquidity/pairs?status=pending", token=mm).json
    assert [p["pairId"] for p in pairs] == [state["pair"]]
    live = pairs[0]
    assert dec(live["askPrice"]) in (D(70000), D(70001))
    # the maker's live pair and nothing else: bid 69000 and its last ask, 0.01 each at leverage 1
    assert world.me(mm)["frozenMargin"] == D("690") + dec(live["askPrice"]) * D("0.01")
    assert_invariants()


def test_without_a_reference_price_churning_quotes_end_in_busy_and_nothing_written(world, monkeypatch):
    from chalicelib.ledger.store import ConditionFailed, Tx
    mm, _ = world.account()
    tr, _ = world.account()
    world.pair(mm, 69000, 70000)  # quotes, but no price was ever pushed

    def always_stale(tx, *a, **kw):
        raise ConditionFailed("order:gone", failed=("order:gone",))

    before = count_orders()
    monkeypatch.setattr(Tx, "commit", always_stale)
    r = world.order(tr, "buy", "0.01")
    assert r.status == 503 and r.json["code"] == "BUSY" and r.headers.get("Retry-After") == "1", r.json
    assert count_orders() == before

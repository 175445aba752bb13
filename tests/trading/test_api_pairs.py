"""The Market Maker API (liquidity pairs) over the real app: the guide's margin example, every error string,
reprice atomicity with an injected failure, and a fill of either side ending the pair."""
from decimal import Decimal as D

import pytest

from chalicelib.ledger import store as ledger_store
from chalicelib.storage.models import Unique
from tests.trading.conftest import SYM, assert_invariants


def dec(v):
    return D(str(v))


def reprice(world, token, **body):
    return world.api.post("/api/liquidity/reprice", body, token=token)


def not_pending(pair_id):
    return {"error": f"找不到 pairId={pair_id} 的 pending 流動性訂單", "code": "PAIR_NOT_PENDING",
            "message": "No pending liquidity orders for this pairId: filled, cancelled or unknown"}


def test_guide_margin_example_700_per_side_1400_per_pair(world):
    mm, _ = world.account(5000)
    p = world.pair(mm, 69990, 70010)  # the smoke test's pair: 0.01 at ~70,000, leverage 1
    assert p.status == 201, p
    assert set(p.json) >= {"pairId", "buyOrderId", "sellOrderId", "frozenMargin"}
    assert dec(p.json["frozenMargin"]) == D("1400")
    buy = world.api.get(f"/api/orders/{p.json['buyOrderId']}", token=mm).json
    sell = world.api.get(f"/api/orders/{p.json['sellOrderId']}", token=mm).json
    assert dec(buy["margin"]) == D("699.9") and dec(sell["margin"]) == D("700.1")  # quantity × price / leverage
    assert buy["kind"] == sell["kind"] == "liquidity" and buy["meta"] == {"pairId": p.json["pairId"]}
    exact = world.pair(mm, 70000, 70001, qty="0.01").json  # exactly the guide's 70,000: 700
    assert dec(world.api.get(f"/api/orders/{exact['buyOrderId']}", token=mm).json["margin"]) == 700
    me = world.me(mm)
    assert dec(me["frozenMargin"]) == D("2800.01") and dec(me["availableBalance"]) == D("2199.99")
    lev10 = world.pair(mm, 70000, 70010, lev=10).json
    assert dec(lev10["frozenMargin"]) == D("140.01")
    assert_invariants()


def test_smoke_flow_reprice_then_old_id_is_not_pending_then_cancel(world):
    mm, _ = world.account(5000)
    p = world.pair(mm, 69990, 70010).json
    r = reprice(world, mm, pairId=p["pairId"], newBidPrice=69995, newAskPrice=70015)
    assert r.status == 200, r
    assert r.json["pairId"] != p["pairId"] and r.json["oldPairId"] == p["pairId"]
    assert dec(r.json["releasedMargin"]) == 1400 and dec(r.json["frozenMargin"]) == D("1400.1")
    assert {r.json["buyOrderId"], r.json["sellOrderId"]}.isdisjoint({p["buyOrderId"], p["sellOrderId"]})
    new_buy = world.api.get(f"/api/orders/{r.json['buyOrderId']}", token=mm).json
    assert new_buy["meta"]["pairId"] == r.json["pairId"] and dec(new_buy["price"]) == 69995
    old = world.api.get(f"/api/orders/{p['buyOrderId']}", token=mm).json
    assert old["status"] == "cancelled" and dec(old["frozenMargin"]) == 0
    again = reprice(world, mm, pairId=p["pairId"], newBidPrice=69995, newAskPrice=70015)
    assert again.status == 400 and again.json == not_pending(p["pairId"])
    inv = reprice(world, mm, pairId=r.json["pairId"], newBidPrice=2, newAskPrice=1)
    assert inv.status == 400 and inv.json["error"] == "newBidPrice 必須小於 newAskPrice"
    assert inv.json["code"] == "INVERTED_SPREAD"
    assert dec(world.me(mm)["frozenMargin"]) == D("1400.1")
    c = world.api.post("/api/liquidity/cancel", {"pairId": r.json["pairId"]}, token=mm)
    assert c.status == 200 and sorted(c.json["cancelledOrderIds"]) == sorted([r.json["buyOrderId"],
                                                                             r.json["sellOrderId"]])
    assert world.me(mm)["frozenMargin"] == 0
    c2 = world.api.post("/api/liquidity/cancel", {"pairId": r.json["pairId"]}, token=mm)
    assert c2.status == 400 and c2.json == not_pending(r.json["pairId"])
    assert_invariants()


@pytest.mark.parametrize("body", [{}, {"pairId": "p"}, {"pairId": "p", "newBidPrice": 1},
                                  {"newBidPrice": 1, "newAskPrice": 2}, {"pairId": "", "newBidPrice": 1,
                                                                         "newAskPrice": 2},
                                  {"pairId": "p", "newBidPrice": None, "newAskPrice": 2}])
def test_reprice_missing_fields(world, body):
    mm, _ = world.account()
    r = reprice(world, mm, **body)
    assert r.status == 400 and r.json == {"error": "pairId, newBidPrice, newAskPrice 必填", "code": "MISSING_FIELDS",
                                          "message": "pairId, newBidPrice and newAskPrice are required"}


def test_reprice_inverted_spread_and_bad_prices(world):
    mm, _ = world.account()
    for bid, ask in ((2, 1), (1, 1)):
        r = reprice(world, mm, pairId="p", newBidPrice=bid, newAskPrice=ask)
        assert r.status == 400 and r.json == {"error": "newBidPrice 必須小於 newAskPrice", "code": "INVERTED_SPREAD",
                                              "message": "newBidPrice must be lower than newAskPrice"}
    assert reprice(world, mm, pairId="p", newBidPrice=-1, newAskPrice=1).json["code"] == "INVALID_PRICE"
    assert reprice(world, mm, pairId="p", newBidPrice="0x1", newAskPrice=2).json["code"] == "VALIDATION_ERROR"
    p = world.pair(mm, 100, 200).json
    r = reprice(world, mm, pairId=p["pairId"], newBidPrice=D("100.001"), newAskPrice=200)  # pricePrecision 2
    assert r.status == 400 and r.json["code"] == "INVALID_PRICE"
    r = world.api.call("POST", "/api/liquidity/reprice", raw="{bad", token=mm)
    assert r.status == 400 and r.json["code"] == "MALFORMED_JSON"


def test_reprice_unknown_other_accounts_and_cancelled_pairs_are_not_pending(world):
    mm, _ = world.account()
    other, _ = world.account()
    p = world.pair(mm, 100, 200).json
    for token, pid in ((mm, "nope"), (other, p["pairId"])):
        r = reprice(world, token, pairId=pid, newBidPrice=101, newAskPrice=201)
        assert r.status == 400 and r.json == not_pending(pid)
    assert world.api.post("/api/liquidity/cancel", {"pairId": p["pairId"]}, token=other).json["code"] == \
        "PAIR_NOT_PENDING"
    world.api.post("/api/liquidity/cancel", {"pairId": p["pairId"]}, token=mm)
    assert reprice(world, mm, pairId=p["pairId"], newBidPrice=101, newAskPrice=201).json == not_pending(p["pairId"])


def test_pair_incomplete_when_only_one_side_is_pending(world):
    from chalicelib.trading.models import PairItem
    mm, uid = world.account()
    p = world.pair(mm, 100, 200).json
    # not reachable through the API (both sides always change together): forge the pair item's record
    PairItem(*PairItem.key(uid, p["pairId"])).update(actions=[PairItem.sell_status.set("cancelled")])
    r = reprice(world, mm, pairId=p["pairId"], newBidPrice=101, newAskPrice=201)
    assert r.status == 400 and r.json == {"error": f"pairId={p['pairId']} 的訂單不完整", "code": "PAIR_INCOMPLETE",
                                          "message": "Only one side of the pair was found"}


def test_reprice_margin_check_counts_the_released_margin(world):
    mm, _ = world.account(1400)
    p = world.pair(mm, 69990, 70010).json  # 1400 frozen, 0 available
    assert world.me(mm)["availableBalance"] == 0
    ok = reprice(world, mm, pairId=p["pairId"], newBidPrice=69980, newAskPrice=70020)  # new margin 1400 again
    assert ok.status == 200, ok
    assert dec(world.me(mm)["frozenMargin"]) == 1400 and world.me(mm)["availableBalance"] == 0
    too_much = reprice(world, mm, pairId=ok.json["pairId"], newBidPrice=69990, newAskPrice=70020)  # 1400.1
    assert too_much.status == 400 and too_much.json == {"error": "可用保证金不足", "code": "INSUFFICIENT_MARGIN",
                                                        "message": "Not enough available balance for the margin"}
    # nothing changed: the pair still pending with its orders and margin
    pairs = world.api.get("/api/liquidity/pairs?status=pending", token=mm).json
    assert [x["pairId"] for x in pairs] == [ok.json["pairId"]]
    assert dec(world.me(mm)["frozenMargin"]) == 1400
    assert_invariants()


def test_new_pair_insufficient_margin_and_pair_id_reuse_409(world):
    mm, _ = world.account(1000)
    r = world.pair(mm, 69990, 70010)
    assert r.status == 400 and r.json["error"] == "可用保证金不足" and r.json["code"] == "INSUFFICIENT_MARGIN"
    assert world.api.get("/api/liquidity/pairs", token=mm).json == []
    a = world.pair(mm, 100, 200, pairId="mine-1")
    assert a.status == 201 and a.json["pairId"] == "mine-1"
    dup = world.pair(mm, 100, 200, pairId="mine-1")
    assert dup.status == 409 and dup.json["code"] == "PAIR_ID_IN_USE"
    other, _ = world.account()
    assert world.pair(other, 100, 200, pairId="mine-1").status == 201  # pairIds are per account
    # a pairId consumed by a reprice stays used; newPairId is honoured and cannot be reused either
    r = reprice(world, mm, pairId="mine-1", newBidPrice=101, newAskPrice=201, newPairId="mine-2")
    assert r.status == 200 and r.json["pairId"] == "mine-2"
    assert world.pair(mm, 100, 200, pairId="mine-1").status == 409
    taken = world.pair(mm, 100, 200, pairId="mine-3").json
    r = reprice(world, mm, pairId="mine-2", newBidPrice=102, newAskPrice=202, newPairId="mine-3")
    assert r.status == 409 and r.json["code"] == "PAIR_ID_IN_USE"
    assert world.api.get("/api/liquidity/pairs?status=pending", token=mm).json[0]["pairId"] == taken["pairId"]
    assert {x["pairId"] for x in world.api.get("/api/liquidity/pairs?status=pending", token=mm).json} == \
        {"mine-2", "mine-3"}
    assert_invariants()


@pytest.mark.parametrize("body,code", [
    ({"symbol": SYM, "bidPrice": 200, "askPrice": 100, "quantity": 1}, "INVERTED_SPREAD"),
    ({"symbol": SYM, "bidPrice": 100, "askPrice": 100, "quantity": 1}, "INVERTED_SPREAD"),
    ({"symbol": SYM, "bidPrice": 100, "askPrice": 200, "quantity": 0}, "INVALID_QUANTITY"),
    ({"symbol": SYM, "bidPrice": 100, "askPrice": 200, "quantity": 1, "leverage": 1000}, "INVALID_LEVERAGE"),
    ({"symbol": "ZZZZ", "bidPrice": 100, "askPrice": 200, "quantity": 1}, "UNKNOWN_SYMBOL"),
    ({"symbol": SYM, "askPrice": 200, "quantity": 1}, "VALIDATION_ERROR"),
])
def test_invalid_pairs(world, body, code):
    mm, _ = world.account()
    r = world.api.post("/api/liquidity/pairs", body, token=mm)
    assert r.status == 400 and r.json["code"] == code, r
    assert world.me(mm)["frozenMargin"] == 0


def test_list_pairs(world):
    mm, _ = world.account()
    a = world.pair(mm, 100, 200).json
    b = world.pair(mm, 101, 201).json
    world.api.post("/api/liquidity/cancel", {"pairId": a["pairId"]}, token=mm)
    r = world.api.get("/api/liquidity/pairs", token=mm).json
    assert [x["pairId"] for x in r] == [b["pairId"], a["pairId"]]
    assert set(r[0]) >= {"pairId", "symbol", "bidPrice", "askPrice", "quantity", "leverage", "buyOrderId",
                         "sellOrderId", "status", "createdAt"}
    assert [x["pairId"] for x in world.api.get("/api/liquidity/pairs?status=pending", token=mm).json] == \
        [b["pairId"]]
    assert world.api.get("/api/liquidity/pairs?symbol=ETHUSDT", token=mm).json == []
    assert world.api.get("/api/liquidity/pairs?status=nope", token=mm).status == 400
    other, _ = world.account()
    assert world.api.get("/api/liquidity/pairs", token=other).json == []


def test_idempotent_pair_placement(world):
    mm, _ = world.account()
    body = {"symbol": SYM, "bidPrice": 100, "askPrice": 200, "quantity": 1}
    h = {"Idempotency-Key": "pair-1"}
    a = world.api.post("/api/liquidity/pairs", body, token=mm, headers=h)
    b = world.api.post("/api/liquidity/pairs", body, token=mm, headers=h)
    assert a.status == b.status == 201 and a.json == b.json
    assert dec(world.me(mm)["frozenMargin"]) == 300


def test_liquidity_unavailable_when_the_table_is_missing(world, moto_db):
    mm, _ = world.account()
    moto_db.dynamodb().delete_table(TableName=moto_db.tables["main"])
    for path, body in (("/api/liquidity/reprice", {"pairId": "p", "newBidPrice": 1, "newAskPrice": 2}),
                       ("/api/liquidity/pairs", {"symbol": SYM, "bidPrice": 1, "askPrice": 2, "quantity": 1}),
                       ("/api/liquidity/cancel", {"pairId": "p"})):
        r = world.api.post(path, body, token=mm)
        assert r.status == 500 and r.json == {"error": "LiquidityOrderManager 未初始化",
                                              "code": "LIQUIDITY_UNAVAILABLE",
                                              "message": "Liquidity subsystem not ready (tables or configuration "
                                                         "missing)"}, r
    assert world.api.get("/api/liquidity/pairs", token=mm).json["code"] == "LIQUIDITY_UNAVAILABLE"


# ---- reprice atomicity: a failure injected into the transaction changes nothing ----------------------------

def snapshot(moto_db):
    """Every item of the main table except sessions (the request path reads them only)."""
    client = moto_db.dynamodb()
    items, kw = [], {}
    while True:
        page = client.scan(TableName=moto_db.tables["main"], ConsistentRead=True, **kw)
        items += [i for i in page["Items"] if not i["pk"]["S"].startswith("SESS#")]
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


class FailingTx(ledger_store.Tx):
    """A Tx whose commit carries one more condition that fails (a check on an item that does not exist)."""

    def commit(self, client_request_token=None):
        self.check(Unique, *Unique.key("probe", "never-there"), condition=Unique.pk.exists(), tag="injected")
        return super().commit(client_request_token)


def test_reprice_with_a_failure_injected_leaves_everything_as_it_was(world, moto_db, monkeypatch):
    from chalicelib.trading import store
    mm, uid = world.account(5000)
    tr, _ = world.account()
    world.push(70000)
    p = world.pair(mm, 69990, 70010).json
    world.order(tr, "buy", "0.01", 60000)  # some unrelated state
    before = snapshot(moto_db)
    monkeypatch.setattr(store, "Tx", FailingTx)
    r = reprice(world, mm, pairId=p["pairId"], newBidPrice=69000, newAskPrice=71000, newPairId="fresh")
    assert r.status == 400 and r.json["code"] == "PAIR_NOT_PENDING"  # a failed condition: nothing committed
    assert snapshot(moto_db) == before  # every order, pair, balance and ledger entry unchanged
    monkeypatch.undo()
    # ... and the account condition failing (the new margin does not fit) changes nothing either
    world.api.post(f"/api/admin/accounts/{uid}/credit", {"amount": 1, "reference": "x"}, token=world.admin)
    before = snapshot(moto_db)
    r = reprice(world, mm, pairId=p["pairId"], newBidPrice=D("250000"), newAskPrice=D("260000"))
    assert r.status == 400 and r.json["code"] == "INSUFFICIENT_MARGIN"
    assert snapshot(moto_db) == before
    # and the pair still reprices normally afterwards
    ok = reprice(world, mm, pairId=p["pairId"], newBidPrice=69000, newAskPrice=71000, newPairId="fresh")
    assert ok.status == 200 and ok.json["pairId"] == "fresh"
    assert_invariants()


# ---- a fill of either side ends the pair ---------------------------------------------------------------------

def test_a_trader_fill_of_the_ask_cancels_the_bid_in_the_same_transaction(world):
    mm, mm_id = world.account(5000)
    tr, _ = world.account()
    p = world.pair(mm, 69990, 70010).json
    o = world.order(tr, "buy", "0.004")  # partial fill of the ask; no reference price: the rest of nothing
    assert o.status == 201 and o.json["status"] == "filled"
    ask = world.api.get(f"/api/orders/{p['sellOrderId']}", token=mm).json
    bid = world.api.get(f"/api/orders/{p['buyOrderId']}", token=mm).json
    assert ask["status"] == "cancelled" and dec(ask["filledQuantity"]) == D("0.004")  # partial: rest cancelled
    assert bid["status"] == "cancelled" and dec(bid["filledQuantity"]) == 0
    me = world.me(mm)
    assert me["frozenMargin"] == 0 and dec(me["positionMargin"]) == D("280.04")  # 0.004 × 70010
    pair = world.api.get("/api/liquidity/pairs", token=mm).json[0]
    assert pair["status"] == "filled"
    r = reprice(world, mm, pairId=p["pairId"], newBidPrice=1, newAskPrice=2)
    assert r.status == 400 and r.json == not_pending(p["pairId"])  # filled before the reprice arrived
    pos = world.api.get("/api/positions", token=mm).json[0]
    assert pos["side"] == "short" and dec(pos["quantity"]) == D("0.004")
    assert_invariants()


def test_a_matching_check_fill_of_the_bid_cancels_the_ask(world):
    from chalicelib.trading import service
    mm, _ = world.account(5000)
    world.push(70000)
    p = world.pair(mm, 69990, 70010).json
    world.push(69990)  # falls to the bid
    rep = service.run_matching_check(SYM)
    assert rep.fills == 1 and rep.orders_read == 1
    bid = world.api.get(f"/api/orders/{p['buyOrderId']}", token=mm).json
    ask = world.api.get(f"/api/orders/{p['sellOrderId']}", token=mm).json
    assert bid["status"] == "filled" and dec(bid["avgFillPrice"]) == 69990 and ask["status"] == "cancelled"
    me = world.me(mm)
    assert me["frozenMargin"] == 0 and dec(me["positionMargin"]) == D("699.9")
    assert world.api.get("/api/liquidity/pairs", token=mm).json[0]["status"] == "filled"
    assert service.run_matching_check(SYM).fills == 0  # nothing crosses any more
    assert_invariants()


def test_a_check_skips_a_pair_cancelled_after_it_read_the_book(world, monkeypatch):
    """A concurrent cancel wins cleanly: the check's settlement condition fails, it goes on with the rest."""
    from chalicelib.trading import service, store
    mm, _ = world.account(10000)
    world.push(70000)
    a = world.pair(mm, 69990, 70010).json
    b = world.pair(mm, 69995, 70020).json
    world.push(69980)
    real_book = store.book
    state = {"done": False}

    def book_then_cancel(*args, **kw):
        out = real_book(*args, **kw)
        if not state["done"] and any(i.pair_id == a["pairId"] for i in out):
            state["done"] = True
            assert world.api.post("/api/liquidity/cancel", {"pairId": a["pairId"]}, token=mm).status == 200
        return out
    monkeypatch.setattr(store, "book", book_then_cancel)
    rep = service.run_matching_check(SYM)
    assert state["done"] and rep.fills == 1 and rep.lost == 1
    assert world.api.get(f"/api/orders/{b['buyOrderId']}", token=mm).json["status"] == "filled"
    assert world.api.get(f"/api/orders/{a['buyOrderId']}", token=mm).json["status"] == "cancelled"
    assert_invariants()

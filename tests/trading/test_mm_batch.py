"""Market-maker tools over the real app: cancel-all (one index query, never a scan) and reprice-batch, per pair and
atomic (moto; the 16-pair transaction on DynamoDB Local, where a 97-item transaction does not copy the table)."""
from decimal import Decimal as D

from chalicelib.trading import mm_service, store
from chalicelib.trading.models import PairItem
from tests.trading.conftest import SYM, assert_invariants

ETH = "ETHUSDT"


def pairs_of(world, token, status="pending"):
    r = world.api.get(f"/api/liquidity/pairs?status={status}", token=token)
    assert r.status == 200, r
    return {p["pairId"]: p for p in r.json}


def frozen(token, world):
    return D(str(world.me(token)["frozenMargin"]))


def batch(world, token, reprices, **extra):
    return world.api.post("/api/liquidity/reprice-batch", {"reprices": reprices, **extra}, token=token)


# ---- cancel-all -------------------------------------------------------------------------------------------

def test_cancel_all_by_symbol_then_all_releases_margin_and_never_scans(world, dynamo_calls):
    mm, uid = world.account(100000)
    other, _ = world.account(100000)
    btc = [world.pair(mm, 69990 - i, 70010 + i).json["pairId"] for i in range(3)]
    eth = world.pair(mm, "3499", "3501", qty="0.01", symbol=ETH).json["pairId"]
    keep = world.pair(other, 69990, 70010).json["pairId"]
    with dynamo_calls as rec:
        r = world.api.post("/api/liquidity/cancel-all", {"symbol": SYM}, token=mm)
    assert r.status == 200, r
    assert sorted(r.json["cancelledPairIds"]) == sorted(btc) and r.json["count"] == 3
    assert D(str(r.json["releasedMargin"])) == sum(D("0.01") * (D(69990 - i) + D(70010 + i)) for i in range(3))
    assert "Scan" not in rec.ops()
    queries = [p for op, p, _ in rec.calls if op == "Query"]
    assert len(queries) == 1 and queries[0]["IndexName"] == "gsi1"
    assert list(pairs_of(world, mm)) == [eth]
    assert frozen(mm, world) == D("70.00")  # only the ETH pair: 0.01 × (3499 + 3501)
    r = world.api.post("/api/liquidity/cancel-all", {}, token=mm)
    assert r.json["cancelledPairIds"] == [eth]
    assert pairs_of(world, mm) == {} and frozen(mm, world) == 0
    assert list(pairs_of(world, other)) == [keep]  # another account's pairs are untouched
    assert world.api.post("/api/liquidity/cancel-all", {}, token=mm).json["count"] == 0
    assert_invariants()


def test_cancel_all_bad_input_is_400_and_changes_nothing(world):
    mm, _ = world.account(100000)
    p = world.pair(mm, 69990, 70010).json["pairId"]
    for body in ([1], {"symbol": "NOPE"}, {"symbol": 5}):
        r = world.api.post("/api/liquidity/cancel-all", body, token=mm)
        assert r.status == 400, (body, r)
    assert list(pairs_of(world, mm)) == [p]


def test_a_repriced_pair_leaves_the_live_index_and_its_successor_joins_it(world):
    mm, uid = world.account(100000)
    p = world.pair(mm, 69990, 70010).json["pairId"]
    new = world.api.post("/api/liquidity/reprice", {"pairId": p, "newBidPrice": 69980, "newAskPrice": 70020},
                         token=mm).json["pairId"]
    assert [i.pair_id for i in store.live_pairs(uid)] == [new]
    assert PairItem.get(*PairItem.key(uid, p)).gsi1pk is None


# ---- reprice-batch ----------------------------------------------------------------------------------------

def test_batch_mixed_outcomes_in_order(world):
    mm, _ = world.account(100000)
    a, b, c = (world.pair(mm, 69990 - i, 70010 + i).json["pairId"] for i in range(3))
    world.api.post("/api/liquidity/cancel", {"pairId": c}, token=mm)
    r = batch(world, mm, [
        {"pairId": a, "newBidPrice": 69000, "newAskPrice": 71000},
        {"pairId": "unknown", "newBidPrice": 69000, "newAskPrice": 71000},
        {"pairId": b, "newBidPrice": 71000, "newAskPrice": 69000},  # inverted
        {"pairId": c, "newBidPrice": 69000, "newAskPrice": 71000},  # cancelled
        {"newBidPrice": 1},  # missing fields
    ])
    assert r.status == 200, r
    res = r.json["results"]
    assert [x["index"] for x in res] == [0, 1, 2, 3, 4]
    assert [x["status"] for x in res] == [200, 400, 400, 400, 400]
    assert [x["ok"] for x in res] == [True, False, False, False, False]
    assert res[1]["pairId"] == "unknown" and set(res[0]) >= {"pairId", "oldPairId", "buyOrderId", "sellOrderId",
                                                             "releasedMargin", "frozenMargin"}
    assert [x.get("code") for x in res] == [None, "PAIR_NOT_PENDING", "INVERTED_SPREAD", "PAIR_NOT_PENDING",
                                            "MISSING_FIELDS"]
    assert res[1]["error"] == "找不到 pairId=unknown 的 pending 流動性訂單"
    assert res[0]["oldPairId"] == a and r.json["succeeded"] == 1 and r.json["failed"] == 4
    live = pairs_of(world, mm)
    assert set(live) == {res[0]["pairId"], b}
    assert D(str(live[res[0]["pairId"]]["bidPrice"])) == 69000
    assert_invariants()


def test_atomic_batch_with_one_bad_pair_changes_nothing(world, dynamo_calls):
    mm, uid = world.account(100000)
    ids = [world.pair(mm, 69990 - i, 70010 + i).json["pairId"] for i in range(3)]
    before, frozen_before = pairs_of(world, mm), frozen(mm, world)
    entries = [{"pairId": p, "newBidPrice": 69000 + i, "newAskPrice": 71000} for i, p in enumerate(ids)]
    entries[1]["newAskPrice"] = 1  # inverted: refused before any write
    r = batch(world, mm, entries, atomic=True)
    assert r.status == 400 and r.json["code"] == "INVERTED_SPREAD", r  # the first failure's error (the contract)
    assert r.json["error"] == "newBidPrice 必須小於 newAskPrice" and r.json["index"] == 1
    assert [x["status"] for x in r.json["results"]] == [424, 400, 424]
    assert [x["ok"] for x in r.json["results"]] == [False] * 3
    assert r.json["results"][1]["code"] == "INVERTED_SPREAD"
    # a pair that is no longer pending: planned from the read, refused before the transaction
    world.api.post("/api/liquidity/cancel", {"pairId": ids[2]}, token=mm)
    entries[1]["newAskPrice"] = 71000
    with dynamo_calls as rec:
        r = batch(world, mm, entries, atomic=True)
    assert r.status == 400 and [x["status"] for x in r.json["results"]] == [424, 424, 400]
    assert r.json["code"] == "PAIR_NOT_PENDING" and r.json["error"] == f"找不到 pairId={ids[2]} 的 pending 流動性訂單"
    assert r.json["results"][2]["code"] == "PAIR_NOT_PENDING" and "TransactWriteItems" not in rec.ops()
    after = pairs_of(world, mm)
    assert set(after) == set(ids[:2]) and all(after[p] == before[p] for p in ids[:2])
    assert frozen(mm, world) == frozen_before - D("0.01") * (D(69988) + D(70012))
    assert_invariants()


def test_atomic_batch_is_one_read_and_one_transaction_of_6n_plus_1_items(ddb_world, dynamo_calls):
    world = ddb_world
    mm, _ = world.account(10 ** 6)
    ids = [world.pair(mm, 69990 - i, 70010 + i).json["pairId"] for i in range(16)]
    entries = [{"pairId": p, "newBidPrice": 69000 + i, "newAskPrice": 71000 + i} for i, p in enumerate(ids)]
    with dynamo_calls as rec:
        r = batch(world, mm, entries, atomic=True)
    assert r.status == 200, r
    assert [x["oldPairId"] for x in r.json["results"]] == ids and r.json["succeeded"] == 16
    ops = rec.ops()
    assert ops.count("BatchGetItem") == 1 and ops.count("TransactWriteItems") == 1
    assert ops.count("GetItem") == 1  # the session
    tx = [p for op, p, _ in rec.calls if op == "TransactWriteItems"][0]
    # 6 per pair + the account update, and the request's rate-limit counter riding along (chalicelib/limits)
    assert len(tx["TransactItems"]) == 6 * 16 + 1 + 1 == 98
    assert set(pairs_of(world, mm)) == {x["pairId"] for x in r.json["results"]}
    assert_invariants()


def test_atomic_transaction_failure_changes_nothing(world, monkeypatch):
    """The read saw both pairs pending; one ended before the transaction: the whole batch is refused."""
    mm, uid = world.account(100000)
    a, b = (world.pair(mm, 69990 - i, 70010 + i).json["pairId"] for i in range(2))
    real = store.get_pairs

    def stale_read(account_id, pair_ids):
        got = real(account_id, pair_ids)
        mm_service.service.cancel_pair(uid, b)  # ends b between the read and the transaction
        return got
    monkeypatch.setattr(store, "get_pairs", stale_read)
    r = batch(world, mm, [{"pairId": a, "newBidPrice": 69000, "newAskPrice": 71000},
                          {"pairId": b, "newBidPrice": 69000, "newAskPrice": 71000}], atomic=True)
    assert r.status == 400 and [x["status"] for x in r.json["results"]] == [424, 400], r
    assert r.json["code"] == "PAIR_NOT_PENDING" and r.json["pairId"] == b
    assert list(pairs_of(world, mm)) == [a]
    assert D(str(pairs_of(world, mm)[a]["bidPrice"])) == 69990
    assert_invariants()


def test_batch_limits_and_duplicates(world):
    mm, _ = world.account(100000)
    p = world.pair(mm, 69990, 70010).json["pairId"]
    e = {"pairId": p, "newBidPrice": 69000, "newAskPrice": 71000}
    many = [{**e, "pairId": f"p{i}"} for i in range(26)]
    assert batch(world, mm, many).json["code"] == "BATCH_TOO_LARGE"
    assert batch(world, mm, many[:17], atomic=True).json["code"] == "BATCH_TOO_LARGE"
    assert batch(world, mm, [e, e]).json["code"] == "DUPLICATE_PAIR_ID"
    assert batch(world, mm, [e, {**e, "pairId": "x", "newPairId": p}], atomic=True).json["code"] == \
        "DUPLICATE_PAIR_ID"
    for body in ({"reprices": []}, {"reprices": "x"}, {"reprices": [e], "atomic": "yes"}, [e]):
        r = world.api.post("/api/liquidity/reprice-batch", body, token=mm)
        assert r.status == 400, (body, r)
    assert list(pairs_of(world, mm)) == [p]  # nothing changed

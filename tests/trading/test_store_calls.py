"""DynamoDB round trips: a reprice is 1 consistent read + 1 transaction after auth; a matching check reads only the
crossing orders (a range query on the price-sorted book index), not every resting order."""
from chalicelib.trading import service
from tests.fixtures import count_calls
from tests.trading.conftest import SYM, assert_invariants


def test_reprice_is_one_consistent_read_and_one_transaction(world, dynamo_calls):
    mm, _ = world.account(5000)
    p = world.pair(mm, 69990, 70010).json
    with count_calls("dynamodb") as calls, dynamo_calls as rec:
        r = world.api.post("/api/liquidity/reprice", {"pairId": p["pairId"], "newBidPrice": 69995,
                                                      "newAskPrice": 70015}, token=mm)
    assert r.status == 200, r
    assert dict(calls) == {"GetItem": 2, "TransactWriteItems": 1}  # session (auth) + pair, one transaction
    gets = [params for op, params, _ in rec.calls if op == "GetItem"]
    assert gets[0]["Key"]["pk"]["S"].startswith("SESS#")  # authentication
    assert gets[1]["Key"]["pk"]["S"].startswith("PAIR#") and gets[1]["ConsistentRead"] is True
    tx = [params for op, params, _ in rec.calls if op == "TransactWriteItems"][0]
    # old pair + 2 old orders (updates), new pair + 2 new orders (puts), the account (one coalesced update),
    # and the session's rate-limit counter (chalicelib/limits), the last item: no round trip of its own
    assert len(tx["TransactItems"]) == 8
    kinds = sorted(next(iter(i)) for i in tx["TransactItems"])
    assert kinds == ["Put"] * 3 + ["Update"] * 5
    counter = tx["TransactItems"][-1]["Update"]
    assert counter["Key"]["pk"]["S"].startswith("RATE#s:") and "ConditionExpression" in counter
    assert r.headers["X-RateLimit-Limit"] == "1200" and int(r.headers["X-RateLimit-Remaining"]) < 1200


def test_matching_check_reads_only_the_crossing_orders(ddb_world, dynamo_calls):
    """On DynamoDB Local (moto copies the whole table in every transaction: slow with hundreds of items)."""
    world = ddb_world
    makers = [world.account(10**7)[0] for _ in range(2)]
    trader, _ = world.account(10**7)
    world.push(70000)
    n_pairs = 100
    for i in range(n_pairs):  # bids 69990, 69980, ... ; asks far above
        assert world.pair(makers[i % 2], 69990 - 10 * i, 80000 + i).status == 201
    for i in range(50):  # resting trader limit orders that do not cross
        assert world.order(trader, "buy", "0.01", 60000 - i).json["status"] == "pending"
        assert world.order(trader, "sell", "0.01", 90000 + i).json["status"] == "pending"
    world.push(69900)  # crosses the bids 69990 .. 69900: exactly 10
    with count_calls("dynamodb") as calls, dynamo_calls as rec:
        report = service.run_matching_check(SYM)
    assert report.orders_read == 10 and report.committed == 10 and report.lost == 0
    queried = rec.items_returned("Query")
    assert queried == 10 + 1, queried  # the 10 crossing orders + the latest tick (reference price)
    assert calls["Query"] == 7  # latest tick, 4 books, 2 liquidation sides
    assert calls["BatchGetItem"] == 1 and calls["TransactWriteItems"] == 10
    assert "Scan" not in calls
    assert rec.items_returned() <= 10 + 1 + 2  # + the two makers' positions (none yet: 0 returned)
    assert_invariants()

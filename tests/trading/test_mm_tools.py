"""Market-maker tools over the real app (moto): the dead-man's switch and cancel-on-disconnect timer handlers,
market-maker protection, and self-trade prevention at matching checks. The timers and the stream are driven by
calling their handlers (the real-stack timings: test_mm_stack.py; cancel-all and reprice-batch: test_mm_batch.py)."""
from decimal import Decimal as D

import pytest

from chalicelib.common import clock
from chalicelib.realtime import handlers, store as conns
from chalicelib.trading import events, mm_service, mm_store, mmp
from chalicelib.trading.models import FillItem
from tests.trading.conftest import SYM, assert_invariants

@pytest.fixture(autouse=True)
def _clock():
    clock.reset()
    yield
    clock.reset()


def pairs_of(world, token, status="pending"):
    r = world.api.get(f"/api/liquidity/pairs?status={status}", token=token)
    assert r.status == 200, r
    return {p["pairId"]: p for p in r.json}


def frozen(token, world):
    return D(str(world.me(token)["frozenMargin"]))


def batch(world, token, reprices, **extra):
    return world.api.post("/api/liquidity/reprice-batch", {"reprices": reprices, **extra}, token=token)


# ---- dead-man's switch (handler driven) ---------------------------------------------------------------------

def _timer_messages(stack_sqs, url):
    out = []
    while True:
        got = stack_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        out += got
        for m in got:
            stack_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_dead_man_fires_at_its_deadline_and_not_once_refreshed(world, monkeypatch):
    sent = []
    monkeypatch.setattr(mm_store, "enqueue_timer", lambda *a: sent.append(a))
    mm, uid = world.account(100000)
    world.pair(mm, 69990, 70010)
    r = world.api.post("/api/liquidity/cancel-all-after", {"timeoutMs": 60000}, token=mm)
    assert r.status == 200 and r.json["enabled"] is True and r.json["deadline"] - r.json["currentTime"] == 60000
    kind, account, token, at, now = sent[-1]
    assert (kind, account, at) == ("dms", uid, r.json["deadline"])
    body = {"kind": kind, "accountId": account, "token": token, "at": at}
    assert mm_service.fire_timer(body, now=at - 30000) == "again"  # early (a > 900 s timeout): sent again
    assert sent[-1][3] == at
    # refreshed: the old message is stale, the new one fires
    r2 = world.api.post("/api/liquidity/cancel-all-after", {"timeoutMs": 60000}, token=mm)
    assert mm_service.fire_timer(body, now=at + 1) == "stale"
    assert len(pairs_of(world, mm)) == 1
    _, _, token2, at2, _ = sent[-1]
    assert at2 == r2.json["deadline"]
    assert mm_service.fire_timer({**body, "token": token2, "at": at2}, now=at2) == "fired"
    assert pairs_of(world, mm) == {} and frozen(mm, world) == 0
    assert mm_service.fire_timer({**body, "token": token2, "at": at2}, now=at2) == "stale"  # redelivered: once
    assert_invariants()


def test_dead_man_disabled_by_zero_and_input_checked(world, monkeypatch):
    sent = []
    monkeypatch.setattr(mm_store, "enqueue_timer", lambda *a: sent.append(a))
    mm, uid = world.account(100000)
    world.pair(mm, 69990, 70010)
    world.api.post("/api/liquidity/cancel-all-after", {"timeoutMs": 5000}, token=mm)
    off = world.api.post("/api/liquidity/cancel-all-after", {"timeoutMs": 0}, token=mm)
    assert off.status == 200 and off.json["enabled"] is False and off.json["deadline"] is None
    assert world.api.post("/api/liquidity/cancel-all-after", {"timeoutMs": 600000}, token=mm).status == 200
    world.api.post("/api/liquidity/cancel-all-after", {"timeoutMs": 0}, token=mm)
    _, _, token, at, _ = sent[-1]
    assert mm_service.fire_timer({"kind": "dms", "accountId": uid, "token": token, "at": at}, now=at) == "stale"
    assert len(pairs_of(world, mm)) == 1
    for body in ({}, {"timeoutMs": -1}, {"timeoutMs": 500}, {"timeoutMs": "10"}, {"timeoutMs": 1.5},
                 {"timeoutMs": 600001}, {"timeoutMs": True}):
        assert world.api.post("/api/liquidity/cancel-all-after", body, token=mm).status == 400, body
    assert mm_service.fire_timer({"kind": "x"}) == "ignored" and mm_service.fire_timer(None) == "ignored"


def test_dead_man_without_its_queue_is_503_and_not_armed(world, monkeypatch):
    mm, uid = world.account(1000)
    monkeypatch.delenv("MMTIMERS_QUEUE_URL")
    r = world.api.post("/api/liquidity/cancel-all-after", {"timeoutMs": 5000}, token=mm)
    assert r.status == 503 and r.json["code"] == "TIMERS_UNAVAILABLE", r
    assert mm_store.get_dead_man(uid) is None


def test_timer_message_goes_to_the_mmtimers_queue_with_a_delay(world, moto_db):
    mm, uid = world.account(100000)
    r = world.api.post("/api/liquidity/cancel-all-after", {"timeoutMs": 3000}, token=mm)
    assert r.status == 200
    sqs = moto_db.sqs()
    url = moto_db.queues["mmtimers"]
    assert _timer_messages(sqs, url) == []  # delayed: not visible yet
    import json
    import time
    time.sleep(3.2)
    (m,) = _timer_messages(sqs, url)
    body = json.loads(m["Body"])
    assert body["kind"] == "dms" and body["accountId"] == uid and body["at"] == r.json["deadline"]
    world.pair(mm, 69990, 70010)
    from app import app  # through the app's own SQS handler, as the local stack's pump invokes it
    from local.lambdas import Invoker, QueuePump
    pump = QueuePump.__new__(QueuePump)  # only its record() shaping is used
    pump.arn, pump.region = "arn:aws:sqs:us-east-1:123456789012:mmtimers", "us-east-1"
    Invoker(app)("on_mm_timers_queue", {"Records": [pump.record(m)]})
    assert pairs_of(world, mm) == {}
    events.on_timer_messages([{"body": "garbage"}, {"body": m["Body"]}])  # redelivered / malformed: no raise


# ---- cancel-on-disconnect (handler driven) ------------------------------------------------------------------

def _ws(world, token, cid):
    conns.add_connection(cid)
    import json
    assert handlers.handle(cid, json.dumps({"type": "auth", "token": token}))["ok"] is True


def test_cancel_on_disconnect_handlers(world, monkeypatch):
    import json
    sent = []
    monkeypatch.setattr(mm_store, "enqueue_timer", lambda *a: sent.append(a))
    mm, uid = world.account(100000)
    world.pair(mm, 69990, 70010)
    conns.add_connection("anon")
    assert handlers.handle("anon", json.dumps({"type": "cancelOnDisconnect", "enabled": True}))["code"] == \
        "AUTH_REQUIRED"
    _ws(world, mm, "c1")
    assert handlers.handle("c1", json.dumps({"type": "cancelOnDisconnect", "enabled": "yes"}))["type"] == "error"
    assert handlers.handle("c1", json.dumps({"type": "cancelOnDisconnect", "enabled": True, "graceMs": -5}))[
        "type"] == "error"
    ok = handlers.handle("c1", json.dumps({"type": "cancelOnDisconnect", "enabled": True, "graceMs": 3000}))
    assert ok == {"type": "cancelOnDisconnect", "enabled": True, "graceMs": 3000}
    _ws(world, mm, "c2")  # a second connection without the protection
    handlers.on_disconnect("c2")
    assert sent == []  # not a protected connection
    handlers.on_disconnect("c1")
    (kind, account, token, at, now) = sent[-1]
    assert kind == "cod" and account == uid and at - now == 3000
    # reconnect inside the grace window and enable again: the timer is called off
    _ws(world, mm, "c3")
    handlers.handle("c3", json.dumps({"type": "cancelOnDisconnect", "enabled": True, "graceMs": 3000}))
    assert mm_service.fire_timer({"kind": "cod", "accountId": uid, "token": token, "at": at}, now=at) == "stale"
    assert len(pairs_of(world, mm)) == 1
    # c3 drops and nobody comes back: cancelled at the deadline
    handlers.on_disconnect("c3")
    _, _, token, at, _ = sent[-1]
    assert mm_service.fire_timer({"kind": "cod", "accountId": uid, "token": token, "at": at},
                                 now=at - 2500) == "again"
    slept = []
    monkeypatch.setattr(mm_service, "_sleep", slept.append)
    assert mm_service.fire_timer({"kind": "cod", "accountId": uid, "token": token, "at": at},
                                 now=at - 800) == "fired"
    assert slept == [0.8]  # came early by less than MAX_WAIT_MS: waited for its deadline
    assert pairs_of(world, mm) == {}
    assert conns.get_connection("c3") is None  # the connection's own items are gone as before
    # disabled explicitly: a drop arms nothing
    _ws(world, mm, "c4")
    handlers.handle("c4", json.dumps({"type": "cancelOnDisconnect", "enabled": True}))
    assert handlers.handle("c4", json.dumps({"type": "cancelOnDisconnect", "enabled": False}))["enabled"] is False
    n = len(sent)
    handlers.on_disconnect("c4")
    assert len(sent) == n
    assert_invariants()


# ---- market-maker protection --------------------------------------------------------------------------------

def _stream_fills(since_ts=0):
    """Feed every fill item to the main-table stream publisher (what the stream Lambda does)."""
    for f in FillItem.scan(FillItem.pk.startswith("FILLS#")):
        if f.ts >= since_ts:
            events.publish_fill(dict(f.attribute_values))


def test_mmp_trips_at_exactly_the_limit_inside_the_window(world):
    mm, uid = world.account(100000)
    trader, _ = world.account(100000)
    r = world.api.put("/api/liquidity/mmp", {"windowMs": 10000, "quantityLimit": "0.02", "frozenMs": 60000},
                      token=mm)
    assert r.status == 200 and r.json["enabled"] is True and r.json["frozen"] is False, r
    a = world.pair(mm, 69990, 70010).json["pairId"]
    world.pair(mm, 69980, 70020)
    spare = world.pair(mm, 69970, 70030).json["pairId"]
    assert world.order(trader, "buy", "0.01").json["status"] == "filled"  # takes a's ask (0.01)
    _stream_fills()
    view = world.api.get("/api/liquidity/mmp", token=mm).json
    assert view["frozen"] is False and D(str(view["windowQuantity"])) == D("0.01")
    first = max(f.ts for f in FillItem.scan(FillItem.pk.startswith(f"FILLS#{uid}")))
    clock.advance(first + 7000 - clock.now_ms())  # 7 s after the first fill (+ the order's own time): inside 10 s
    assert world.order(trader, "sell", "0.01").json["status"] == "filled"  # the best bid: 69980
    _stream_fills()  # 0.02 == the limit: trips
    view = world.api.get("/api/liquidity/mmp", token=mm).json
    last_fill = max(f.ts for f in FillItem.scan(FillItem.pk.startswith(f"FILLS#{uid}")))
    assert view["frozen"] is True and view["frozenUntil"] == last_fill + 60000
    assert pairs_of(world, mm) == {}  # every pending pair cancelled
    assert frozen(mm, world) == 0
    p = world.pair(mm, 69990, 70010)
    assert p.status == 400 and p.json["code"] == "MMP_FROZEN", p
    rp = world.api.post("/api/liquidity/reprice", {"pairId": spare, "newBidPrice": 1, "newAskPrice": 2}, token=mm)
    assert rp.status == 400 and rp.json["code"] == "PAIR_NOT_PENDING"  # cancelled by the trip
    assert a not in pairs_of(world, mm)
    r = world.api.post("/api/liquidity/mmp/reset", {}, token=mm)
    assert r.status == 200 and r.json["frozen"] is False and D(str(r.json["windowQuantity"])) == 0
    assert world.pair(mm, 69990, 70010).status == 201
    assert_invariants()


def test_mmp_does_not_trip_when_the_first_fill_is_outside_the_window(world):
    mm, uid = world.account(100000)
    trader, _ = world.account(100000)
    world.api.put("/api/liquidity/mmp", {"windowMs": 10000, "quantityLimit": "0.02", "frozenMs": 60000}, token=mm)
    for i in range(3):
        world.pair(mm, 69990 - i, 70010 + i)
    world.order(trader, "buy", "0.01")
    _stream_fills()
    first = max(f.ts for f in FillItem.scan(FillItem.pk.startswith(f"FILLS#{uid}")))
    clock.advance(first + 10000 - clock.now_ms())  # the first fill is at least windowMs old: outside
    world.order(trader, "buy", "0.01")
    _stream_fills()
    _stream_fills()  # a redelivered stream batch counts nothing twice
    view = world.api.get("/api/liquidity/mmp", token=mm).json
    assert view["frozen"] is False and D(str(view["windowQuantity"])) == D("0.01")
    assert len(pairs_of(world, mm)) == 1 and world.pair(mm, 69000, 71000).status == 201


def test_mmp_frozen_period_ends_and_reprice_is_refused_while_frozen(world):
    mm, uid = world.account(100000)
    world.api.put("/api/liquidity/mmp", {"windowMs": 1000, "quantityLimit": "1", "frozenMs": 2000}, token=mm)
    p = world.pair(mm, 69990, 70010).json["pairId"]
    mm_store.set_frozen_until(uid, clock.now_ms() + 2000)  # as a trip sets it (the pair kept, to try a reprice)
    rp = world.api.post("/api/liquidity/reprice", {"pairId": p, "newBidPrice": 69000, "newAskPrice": 71000},
                        token=mm)
    assert rp.status == 400 and rp.json["code"] == "MMP_FROZEN" and rp.json["frozenUntil"], rp
    b = batch(world, mm, [{"pairId": p, "newBidPrice": 69000, "newAskPrice": 71000}], atomic=True)
    assert b.status == 400 and b.json["code"] == "MMP_FROZEN"
    nb = batch(world, mm, [{"pairId": p, "newBidPrice": 69000, "newAskPrice": 71000}])
    assert nb.json["results"][0]["code"] == "MMP_FROZEN"
    assert list(pairs_of(world, mm)) == [p]
    clock.advance(2000)
    assert world.api.post("/api/liquidity/reprice", {"pairId": p, "newBidPrice": 69000, "newAskPrice": 71000},
                          token=mm).status == 200
    assert_invariants()


def test_mmp_config_validation_and_disable(world):
    mm, _ = world.account(1000)
    assert world.api.get("/api/liquidity/mmp", token=mm).json == {"enabled": False, "frozen": False,
                                                                  "frozenUntil": None}
    for body in ({}, {"windowMs": 0, "quantityLimit": 1, "frozenMs": 0}, {"windowMs": 10, "quantityLimit": 0,
                                                                           "frozenMs": 0},
                 {"windowMs": 10, "quantityLimit": "x", "frozenMs": 0}, {"windowMs": 10, "quantityLimit": 1},
                 {"windowMs": 10, "quantityLimit": True, "frozenMs": 1}, [1]):
        assert world.api.put("/api/liquidity/mmp", body, token=mm).status == 400, body
    ok = world.api.put("/api/liquidity/mmp", {"windowMs": 10, "quantityLimit": "0.5", "frozenMs": 0}, token=mm)
    assert ok.json["quantityLimit"] in ("0.5", 0.5) or D(str(ok.json["quantityLimit"])) == D("0.5")
    off = world.api.put("/api/liquidity/mmp", {"enabled": False}, token=mm)
    assert off.json["enabled"] is False


# ---- self-trade prevention at matching checks ------------------------------------------------------------------

def test_no_self_trade_at_a_matching_check(world):
    """An account's resting limit buy at or above its own ask: at a check that reaches both, the trader order fills
    against the platform and the account's own crossing liquidity pair is cancelled, not filled."""
    from chalicelib.trading import service
    acct, uid = world.account(100000)
    other, _ = world.account(100000)
    world.push(70100)
    buy = world.order(acct, "buy", "0.01", price=70050).json
    assert buy["status"] == "pending"
    own = world.pair(acct, 69000, 70040).json  # own ask below own resting buy
    theirs = world.pair(other, 69001, 70045).json
    world.push(70048)  # reaches the buy (P <= 70050) and both asks (P >= ask)
    report = service.run_matching_check(SYM)
    assert world.api.get(f"/api/orders/{buy['orderId']}", token=acct).json["status"] == "filled"
    own_ask = world.api.get(f"/api/orders/{own['sellOrderId']}", token=acct).json
    assert own_ask["status"] == "cancelled" and D(str(own_ask["filledQuantity"])) == 0
    assert world.api.get(f"/api/orders/{theirs['sellOrderId']}", token=other).json["status"] == "filled"
    fills = [f for f in FillItem.scan(FillItem.pk.startswith(f"FILLS#{uid}"))]
    assert [(f.order_kind, f.side) for f in fills] == [("trader", "buy")]
    assert report.lost == 0
    assert_invariants()


def test_mmp_window_boundaries_pure():
    cfg = mmp.MmpConfig(window_ms=1000, quantity_limit=D("0.02"), frozen_ms=500)
    f1 = mmp.WindowFill(10_000, D("0.01"), "a")
    inside = mmp.record_fill(cfg, [f1], mmp.WindowFill(10_999, D("0.01"), "b"))
    assert inside.tripped and inside.window_quantity == D("0.02") and inside.fills == ()
    outside = mmp.record_fill(cfg, [f1], mmp.WindowFill(11_000, D("0.01"), "b"))  # f1 exactly windowMs old
    assert not outside.tripped and outside.window_quantity == D("0.01") and [f.fill_id for f in outside.fills] == ["b"]
    below = mmp.record_fill(cfg, [f1], mmp.WindowFill(10_500, D("0.0099"), "b"))
    assert not below.tripped and below.window_quantity == D("0.0199")
    dup = mmp.record_fill(cfg, [f1], f1)
    assert dup.duplicate and not dup.tripped
    assert mmp.frozen_until(cfg, 10_999) == 11_499 and not mmp.is_frozen(11_499, 11_499) and mmp.is_frozen(11_499,
                                                                                                          11_498)
    forever = mmp.MmpConfig(1000, D(1), 0)
    assert mmp.frozen_until(forever, 5) == mmp.FOREVER
    assert mmp.WindowFill.decode(f1.encode()) == f1


def test_self_trade_prevention_at_a_check_pure():
    """plan_check: the same account's trader buy and own ask both crossing: the ask's pair is cancelled (no fill);
    the same account's trader buy and own BID both crossing is no self-trade: both fill."""
    from chalicelib.trading.margin import order_margin
    from chalicelib.trading.matching import plan_check
    from chalicelib.trading.orders import LIMIT, LIQUIDITY, TRADER, Order
    from chalicelib.trading.positions import Position

    def o(oid, acct, side, kind, price, t, pair=None):
        q, p = D("0.01"), D(price)
        return Order(oid, acct, SYM, side, LIMIT, kind, q, p, 1, t, order_margin(q, p, 1), pair_id=pair)
    book = [o("tb", "me", "buy", TRADER, 70050, 1), o("mb", "me", "buy", LIQUIDITY, 69000, 2, "mine"),
            o("ma", "me", "sell", LIQUIDITY, 70040, 2, "mine"), o("xb", "x", "buy", LIQUIDITY, 69001, 3, "theirs"),
            o("xa", "x", "sell", LIQUIDITY, 70045, 3, "theirs")]
    plan = plan_check(D(70048), book, {"me": Position(), "x": Position()}, SYM)
    kinds = [(s.kind, sorted((c.after.order_id, c.after.status) for c in s.orders)) for s in plan]
    assert kinds == [("fill", [("tb", "filled")]),
                     ("self-trade", [("ma", "cancelled"), ("mb", "cancelled")]),
                     ("fill", [("xa", "filled"), ("xb", "cancelled")])]
    stp = plan[1]
    assert stp.fills == [] and stp.positions == {}
    assert stp.accounts["me"].frozen_margin == -(order_margin(D("0.01"), D(69000), 1) +
                                                  order_margin(D("0.01"), D(70040), 1))
    same_side = [o("tb", "me", "buy", TRADER, 70050, 1), o("mb", "me", "buy", LIQUIDITY, 70060, 2, "mine"),
                 o("ma", "me", "sell", LIQUIDITY, 70100, 2, "mine")]
    plan = plan_check(D(70048), same_side, {"me": Position()}, SYM)
    assert [s.kind for s in plan] == ["fill", "fill"] and all(s.fills for s in plan)

"""Matching queue handler, the minute sweep, the main-table stream publishers, and the market-data hooks."""
import json
from decimal import Decimal as D

from chalicelib.realtime import private
from chalicelib.trading import events, store
from tests.trading.conftest import SYM, assert_invariants


class Msg:
    def __init__(self, body):
        self.body = json.dumps(body)


def test_matching_messages_run_one_check_per_symbol_not_before_its_slot(monkeypatch):
    from chalicelib.trading import service
    ran, slept = [], []
    monkeypatch.setattr(service, "run_matching_check", lambda s: ran.append(s) or service.CheckReport(s))
    monkeypatch.setattr(events, "now_ms", lambda: 1_000_000)
    monkeypatch.setattr(events, "_sleep", slept.append)
    events.on_matching_messages([Msg({"symbol": "AAA", "at": 1_000_900}), Msg({"symbol": "AAA", "at": 999_000}),
                                 Msg({"symbol": "BBB", "at": 990_000}), Msg("garbage"), Msg({"at": 5}),
                                 {"body": json.dumps({"symbol": "CCC"})}])
    assert ran == ["CCC", "BBB", "AAA"] and slept == [0.9]


def test_a_failing_check_does_not_fail_the_batch(monkeypatch, caplog):
    """A check that raises is logged with its symbol; the batch's other checks still run and nothing is raised
    (a raise would redeliver the whole batch)."""
    import logging

    from chalicelib.trading import service
    ran = []

    def check(symbol):
        ran.append(symbol)
        if symbol == "AAA":
            raise RuntimeError("x")
        return service.CheckReport(symbol)
    monkeypatch.setattr(service, "run_matching_check", check)
    monkeypatch.setattr(events, "now_ms", lambda: 1_000_000)
    with caplog.at_level(logging.INFO):
        events.on_matching_messages([Msg({"symbol": "AAA", "at": 1}), Msg({"symbol": "BBB", "at": 2})])
    assert ran == ["AAA", "BBB"]  # the failure did not stop the batch
    failed = [r for r in caplog.records if r.getMessage() == "matching check failed"]
    assert [(r.levelno, getattr(r, "symbol", None), r.exc_info[0]) for r in failed] == [
        (logging.ERROR, "AAA", RuntimeError)]
    assert [getattr(r, "symbol", None) for r in caplog.records if r.getMessage() == "matching check"] == ["BBB"]


def test_queue_handler_and_sweep_fill_crossing_orders(world, monkeypatch):
    from chalicelib.marketdata import store as md
    mm, _ = world.account()
    world.push(70000)
    p = world.pair(mm, 70005, 70100).json  # a bid above the reference: fills at the next check
    # the tick stream has not run in this test: give the symbol the state the pipeline would have written
    md.MarketState(*md.MarketState.key(SYM), last_price=D(70000), last_ts=1).save()
    checked = events.sweep()
    assert SYM in checked
    assert world.api.get(f"/api/orders/{p['buyOrderId']}", token=mm).json["status"] == "filled"
    state = md.get_state(SYM)
    assert state.match_at is not None  # the sweep claimed the slot: /api/ticker's nextMatchAt follows it
    assert events.sweep() == []  # checked a moment ago: not again
    t = world.api.get(f"/api/ticker?symbol={SYM}").json
    assert t["nextMatchAt"] >= state.match_at
    q = world.pair(mm, 70010, 70200).json
    events.on_matching_messages([Msg({"symbol": SYM, "at": 0, "reason": "tick"})])
    assert world.api.get(f"/api/orders/{q['buyOrderId']}", token=mm).json["status"] == "filled"
    assert_invariants()


def test_depth_and_best_bid_ask_from_the_book(world):
    a, _ = world.account(10**6)
    b, _ = world.account(10**6)
    assert store.best_bid_ask(SYM) == (None, None)
    world.pair(a, 69990, 70010)
    world.pair(b, 69990, 70020, qty="0.02")
    world.pair(b, 69980, 70010)
    assert store.best_bid_ask(SYM) == (D("69990"), D("70010"))
    d = store.depth(SYM, 2)
    assert d == {"bids": [[D("69990"), D("0.03")], [D("69980"), D("0.01")]],
                 "asks": [[D("70010"), D("0.02")], [D("70020"), D("0.02")]]}
    assert store.depth(SYM, 1) == {"bids": [[D("69990"), D("0.03")]], "asks": [[D("70010"), D("0.02")]]}
    r = world.api.get(f"/api/depth?symbol={SYM}&limit=5").json  # market data's endpoint over this book
    assert r["bids"][0] == [D("69990"), D("0.03")] and len(r["asks"]) == 2
    sym = [s for s in world.api.get("/api/symbols").json if s["symbol"] == SYM][0]
    assert D(str(sym["bid"])) == 69990 and D(str(sym["ask"])) == 70010


def test_unrealized_pnl_and_broker_views(world):
    tr, uid = world.account()
    world.push(70000)
    world.order(tr, "buy", "0.01")
    world.push(70100)
    assert store.unrealized_pnl_for(uid) == 1
    assert world.me(tr)["unrealizedPnl"] == 1 and D(str(world.me(tr)["equity"])) == 10001
    assert [p["symbol"] for p in store.positions_for(uid)] == [SYM]
    assert store.orders_for(uid)[0]["status"] == "filled"
    assert store.fills_for(uid)[0]["counterparty"] == "house"
    assert store.unrealized_pnl_for("nobody") == 0


def test_stream_publishers_private_channels_trades_depth(world, moto_db, monkeypatch):
    """The main table's own stream records (moto) of a pair and a fill, through the real publisher, to real
    subscriptions (orders and positions of both owners); what leaves is captured at the broadcaster's
    post_to_connection, and the handler's count is checked against it."""
    from chalicelib.marketdata import events as md_events
    from chalicelib.realtime import broadcaster, handlers
    from tests.marketdata.conftest import StreamPump
    mm, mm_id = world.account()
    tr, tr_id = world.account()
    for token, who in ((mm, "mm"), (tr, "tr")):
        handlers.on_connect(f"c-{who}")
        assert handlers.handle(f"c-{who}", json.dumps({"type": "auth", "token": token}))["type"] != "error"
        for channel in ("orders", "positions"):
            r = handlers.handle(f"c-{who}", json.dumps({"type": "subscribe", "channel": channel}))
            assert r["type"] == "subscribed", r
    main_stream = StreamPump(moto_db, "main")
    world.push(70000)
    world.pair(mm, 69990, 70010)
    world.order(tr, "buy", "0.02")  # one fill against the ask, one against the house
    records = main_stream.read()
    assert records and all(r["dynamodb"].get("NewImage") for r in records if r["eventName"] != "REMOVE")
    sent, trades, depth, volume = [], [], [], []
    monkeypatch.setattr(broadcaster, "send", lambda cid, data: sent.append((cid, json.loads(data))) or True)
    monkeypatch.setattr(md_events, "publish_trade", lambda s, t: trades.append(t))
    monkeypatch.setattr(md_events, "notify_depth", lambda s: depth.append(s))
    monkeypatch.setattr(md_events, "record_trade_volume", lambda s, q, ts: volume.append(q))
    assert private.on_main_records(records) == len(sent)
    by_channel = {}
    for cid, msg in sent:
        by_channel.setdefault(msg["type"], []).append((cid, msg["data"]))
    orders = by_channel["orders"]
    # the latest image of each order once: the maker's two liquidity orders and the trader's order
    assert sorted(c for c, _ in orders) == ["c-mm", "c-mm", "c-tr"]
    assert all(set(d) >= {"orderId", "status", "filledQuantity"} for _, d in orders)
    assert len({d["orderId"] for _, d in orders}) == 3
    positions = dict(by_channel["positions"])
    assert positions["c-tr"]["side"] == "long"
    assert positions["c-mm"]["side"] == "short"
    assert D(str(positions["c-tr"]["markPrice"])) == 70000
    # each trade once (the taker's fills), with the candles' volume
    assert sorted(t["price"] for t in trades) == [D("70000"), D("70010")] and sorted(volume) == [D("0.01")] * 2
    assert all(set(t) == {"tradeId", "symbol", "price", "quantity", "side", "liquidation", "ts"} for t in trades)
    assert depth == [SYM]  # the two liquidity orders changed: one depth request for the batch
    assert "trades" not in by_channel  # fills are not a private channel

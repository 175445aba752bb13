"""The tick pipeline on moto: the real stream handler, store and broadcast queue handler, with a fake clock."""
import json
import random
from decimal import Decimal

import pytest

from chalicelib.marketdata import events, fanout, logic, queues, store
from chalicelib.marketdata.logic import INTERVALS
from chalicelib.realtime import handlers
from tests.marketdata.oracle import expected_candles


@pytest.fixture
def symbol(moto_db):
    store.clear_cache()
    store.create_symbol(store.SymbolConfig("XAUUSD", "Gold", True, 2, 2, Decimal("0.01"), 50, "owner-1", 1))
    return "XAUUSD"


@pytest.fixture
def spy(monkeypatch):
    """Records what the pipeline enqueues (and still enqueues it for real)."""
    rec = {"flush": [], "matching": [], "chunks": []}
    real_flush, real_matching, real_chunks = queues.enqueue_flush, queues.enqueue_matching, queues.enqueue_chunks

    def flush(symbol, channel, at, delay_s):
        rec["flush"].append({"kind": "flush", "symbol": symbol, "channel": channel, "at": at, "delay_s": delay_s})
        real_flush(symbol, channel, at, delay_s)

    def matching(symbol, at, delay_s, reason="tick"):
        rec["matching"].append({"symbol": symbol, "at": at, "delay_s": delay_s, "reason": reason})
        real_matching(symbol, at, delay_s, reason)

    def chunks(topic, data, id_chunks):
        rec["chunks"] += [{"kind": "chunk", "topic": topic, "data": data, "ids": ids} for ids in id_chunks]
        real_chunks(topic, data, id_chunks)
    rec["done"] = 0
    monkeypatch.setattr(queues, "enqueue_flush", flush)
    monkeypatch.setattr(queues, "enqueue_matching", matching)
    monkeypatch.setattr(queues, "enqueue_chunks", chunks)
    return rec


def drain(spy, clock=None) -> list[dict]:
    """Deliver the flush messages enqueued since the last drain, as the broadcast queue's handler does (the
    fake clock moves to each slot, as the handler waits for it)."""
    todo = spy["flush"][spy["done"]:]
    spy["done"] = len(spy["flush"])
    for f in todo:
        if clock is not None:
            clock.t = max(clock.t, f["at"])
        events.on_broadcast_messages(as_sqs([f]))
    return todo


def connect(n, *subs):
    ids = []
    for i in range(n):
        cid = f"conn{i}="
        handlers.on_connect(cid)
        for s in subs:
            reply = handlers.handle(cid, json.dumps({"type": "subscribe", **s}))
            assert reply["type"] == "subscribed", reply
        ids.append(cid)
    return ids


def as_sqs(bodies):
    return [{"body": json.dumps(b)} for b in bodies]


def of_type(messages, kind):
    return [m for m in messages if m["type"] == kind]


def test_burst_sends_once_now_and_once_trailing(symbol, tick_stream, sent, clock, spy):
    conns = connect(3, {"channel": "ticker", "symbol": symbol}, {"channel": "kline", "symbol": symbol, "interval": "1m"})
    t0 = clock()
    prices = [Decimal(3000 + i) / 4 for i in range(50)]
    rng = random.Random(3)
    i, pumps = 0, []
    while i < 50:  # 50 pushes within one second (20 ms apart), the stream delivering random batches
        n = rng.randint(1, 7)
        for p in prices[i:i + n]:
            store.put_tick(symbol, p, clock())
            clock.advance(20)
        i += n
        pumps.append(clock())
        tick_stream.pump()
    assert clock() - t0 == 1000
    # two flush messages: one at once (the first batch), one trailing a second later
    assert [(f["channel"], f["at"] - pumps[0], f["delay_s"]) for f in spy["flush"]] == \
        [("market", 0, 0), ("market", 1000, 0)], spy["flush"]
    assert spy["flush"][1]["at"] - (t0 + 49 * 20) <= 2000  # the 50th push is carried within 2 s
    clock.t = pumps[0]
    drain(spy, clock)
    for c in conns:
        tickers = of_type(sent[c], "ticker")
        assert len(tickers) == 2 and len(of_type(sent[c], "kline")) == 2
        assert Decimal(str(tickers[-1]["price"])) == prices[-1]       # the 50th price is delivered
        assert tickers[-1]["symbol"] == symbol and tickers[-1]["bid"] is None
        k = of_type(sent[c], "kline")[-1]
        assert k["interval"] == "1m" and Decimal(str(k["close"])) == prices[-1]
    events.on_broadcast_messages(as_sqs(spy["flush"]))  # SQS delivers twice: nothing more goes out
    assert all(len(of_type(sent[c], "ticker")) == 2 for c in conns)
    # matching: one check at once, one trailing check 5 s after it, nothing else
    assert [m["delay_s"] for m in spy["matching"]] == [0, 5], spy["matching"]
    assert spy["matching"][1]["at"] - spy["matching"][0]["at"] >= 5000
    st = store.get_state(symbol)
    assert st.last_price == prices[-1] and st.match_at == spy["matching"][1]["at"]


def test_posting_gap_is_kept_when_building_is_slow(symbol, tick_stream, sent, clock, spy, monkeypatch):
    """Slots are a second apart; a slow first send must not bring the next one closer than a second."""
    conns = connect(1, {"channel": "ticker", "symbol": symbol})
    real = fanout.build_market
    posted = []

    def slow_build(sym, state):
        clock.advance(700 if not posted else 0)  # the first build takes 700 ms
        return real(sym, state)
    monkeypatch.setattr(fanout, "build_market", slow_build)
    monkeypatch.setattr(fanout.broadcaster, "send_many", lambda ids, data: posted.append(clock()) or len(ids))
    store.put_tick(symbol, Decimal("1"), clock())
    tick_stream.pump()
    clock.advance(100)
    store.put_tick(symbol, Decimal("2"), clock())
    tick_stream.pump()
    drain(spy, clock)
    assert len(posted) == 2 and posted[1] - posted[0] >= 1000, posted
    assert conns


def test_redelivered_batches_change_nothing(symbol, tick_stream, sent, clock, spy):
    conns = connect(1, {"channel": "ticker", "symbol": symbol})
    for p in ("1", "2", "3"):
        store.put_tick(symbol, Decimal(p), clock())
        clock.advance(5)
    tick_stream.pump()
    drain(spy, clock)
    view = lambda: {iv: [(c.open_time, c.open, c.high, c.low, c.close, c.ticks)  # noqa: E731
                         for c in store.query_candles(symbol, iv, None, None, 10)] for iv in INTERVALS}
    before = view()
    n_sent, n_flush = len(sent[conns[0]]), len(spy["flush"])
    clock.advance(3000)
    for batch in tick_stream.delivered:  # Lambda retries the batch
        events.on_tick_records(batch)
    drain(spy, clock)
    assert view() == before
    assert all(sum(c[5] for c in cs) == 3 for cs in before.values())
    assert len(sent[conns[0]]) == n_sent and len(spy["flush"]) == n_flush


def test_candles_exact_random_batches_and_redelivery_on_store(symbol, tick_stream, sent, clock, spy):
    """Randomised over the real store: out-of-order timestamps, random batch sizes, redelivered batches."""
    rng = random.Random(11)
    start = clock()
    written = []
    for off in rng.sample(range(8 * 60_000), 120):  # distinct timestamps, not in write order
        ts = start + off
        price = Decimal(rng.randrange(100, 100_000)).scaleb(-2)
        written.append((ts, price))
        store.put_tick(symbol, price, ts)
    records = tick_stream.read()
    assert len(records) == len(written)
    i = 0
    while i < len(records):
        n = rng.randint(1, 30)
        batch = records[i:i + n]
        events.on_tick_records(batch)
        if rng.random() < 0.4:
            events.on_tick_records(records[max(0, i - rng.randint(0, 10)):i + n])  # redelivery, overlapping
        i += n
    # the oracle from what this test wrote (timestamps distinct: the ts orders the ticks), not from the store
    expected = expected_candles((ts, ts, price) for ts, price in written)
    for iv in INTERVALS:
        got = {c.open_time: (c.open, c.high, c.low, c.close, c.ticks)
               for c in store.query_candles(symbol, iv, None, None, 1000)}
        assert got == {ot: c[:5] for (i2, ot), c in expected.items() if i2 == iv}, iv
    top = max(written)
    st = store.get_state(symbol)
    assert (st.last_price, st.last_ts) == (top[1], top[0])


def test_trade_volume_adds_without_disturbing_ticks(symbol, tick_stream, sent, clock):
    ts = clock()
    store.put_tick(symbol, Decimal("10"), ts)
    events.record_trade_volume(symbol, Decimal("0.5"), ts)      # before the tick is applied
    tick_stream.pump()
    events.record_trade_volume(symbol, "1.25", ts + 1)
    store.put_tick(symbol, Decimal("11"), ts + 2)
    tick_stream.pump()
    for iv in INTERVALS:
        c = store.query_candles(symbol, iv, None, None, 10)[-1]
        assert c.volume == Decimal("1.75") and c.ticks == 2 and c.open == 10 and c.close == 11


def test_large_audience_is_split_into_chunks(symbol, tick_stream, sent, clock, spy, monkeypatch):
    monkeypatch.setattr(fanout, "CHUNK_SIZE", 4)
    conns = connect(10, {"channel": "ticker", "symbol": symbol})
    store.put_tick(symbol, Decimal("5"), clock())
    tick_stream.pump()
    drain(spy, clock)
    assert sum(len(sent[c]) for c in conns) == 4                  # the first chunk, posted by the flush
    assert [len(c["ids"]) for c in spy["chunks"]] == [4, 2]       # the rest, for other invocations
    events.on_broadcast_messages(as_sqs(spy["chunks"]))
    assert all(len(of_type(sent[c], "ticker")) == 1 for c in conns)


def test_real_queue_receives_the_messages(symbol, tick_stream, sent, clock, moto_db):
    """The enqueued bodies are the documented formats, on the queues named by the environment."""
    import boto3
    store.put_tick(symbol, Decimal("5"), clock())
    tick_stream.pump()
    clock.advance(100)
    store.put_tick(symbol, Decimal("6"), clock())
    tick_stream.pump()
    sqs = boto3.client("sqs", region_name="us-east-1")
    got = {}
    for name in ("broadcast", "matching"):
        msgs = []
        for _ in range(4):
            msgs += sqs.receive_message(QueueUrl=moto_db.queues[name], MaxNumberOfMessages=10,
                                        WaitTimeSeconds=1).get("Messages", [])
            if len(msgs) >= 2 and name == "broadcast" or len(msgs) >= 1 and name == "matching":
                break
        got[name] = [json.loads(m["Body"]) for m in msgs]
    assert sorted(got["broadcast"], key=lambda b: b["at"]) == [
        {"kind": "flush", "symbol": symbol, "channel": "market", "at": clock() - 100},
        {"kind": "flush", "symbol": symbol, "channel": "market", "at": clock() - 100 + 1000}]
    assert got["matching"][0] == {"symbol": symbol, "at": clock() - 100, "reason": "tick"}


def test_trades_and_depth_channels(symbol, sent, clock, spy):
    conns = connect(2, {"channel": "trades", "symbol": symbol}, {"channel": "depth", "symbol": symbol})
    events.publish_trade(symbol, {"tradeId": "t1", "price": Decimal("10.5"), "quantity": Decimal("1"), "side": "buy"})
    clock.advance(100)
    events.publish_trade(symbol, {"tradeId": "t2", "price": Decimal("10.6"), "quantity": Decimal("2"), "side": "sell"})
    clock.advance(100)
    events.publish_trade(symbol, {"tradeId": "t3", "price": Decimal("10.7"), "quantity": Decimal("3"), "side": "buy"})
    assert [(f["channel"], f["delay_s"]) for f in spy["flush"]] == [("trades", 0), ("trades", 0)]
    assert spy["flush"][1]["at"] - spy["flush"][0]["at"] == 1000
    now = clock()
    clock.t = spy["flush"][0]["at"]
    events.on_broadcast_messages(as_sqs(spy["flush"][:1]))   # the first trade went out at once
    for c in conns:
        assert [[t["tradeId"] for t in m["trades"]] for m in of_type(sent[c], "trades")] == [["t1"]]
    clock.t = now
    events.on_broadcast_messages(as_sqs(spy["flush"][1:]))   # waits for its slot
    for c in conns:
        msgs = of_type(sent[c], "trades")
        assert [[t["tradeId"] for t in m["trades"]] for m in msgs] == [["t1"], ["t2", "t3"]]
        assert Decimal(str(msgs[1]["trades"][0]["price"])) == Decimal("10.6")
    events.notify_depth(symbol)
    spy["done"] = 2
    drain(spy, clock)
    for c in conns:
        d = of_type(sent[c], "depth")
        assert len(d) == 1 and d[0]["bids"] == [] and d[0]["asks"] == [] and d[0]["symbol"] == symbol


def test_ws_channel_subscriptions(symbol):
    handlers.on_connect("c1")
    h = lambda m: handlers.handle("c1", json.dumps(m))  # noqa: E731
    assert h({"type": "subscribe", "channel": "ticker", "symbol": "NOPE1"})["code"] == "UNKNOWN_SYMBOL"
    assert h({"type": "subscribe", "channel": "ticker"})["code"] == "SYMBOL_REQUIRED"
    assert h({"type": "subscribe", "channel": "kline", "symbol": symbol})["code"] == "INVALID_INTERVAL"
    assert h({"type": "subscribe", "channel": "kline", "symbol": symbol, "interval": "7m"})["code"] == "INVALID_INTERVAL"
    assert h({"type": "subscribe", "channel": "kline", "symbol": symbol, "interval": "4h"})["type"] == "subscribed"
    for ch in ("ticker", "depth", "trades"):
        assert h({"type": "subscribe", "channel": ch, "symbol": "BTCUSDT"}) == \
            {"type": "subscribed", "channel": ch, "symbol": "BTCUSDT"}
    from chalicelib.realtime import store as rt
    assert rt.subscribers("kline#XAUUSD#4h") == ["c1"] and rt.subscribers("ticker#BTCUSDT") == ["c1"]
    assert h({"type": "unsubscribe", "channel": "ticker", "symbol": "BTCUSDT"})["type"] == "unsubscribed"
    assert rt.subscribers("ticker#BTCUSDT") == []
    assert h({"type": "ping"})["type"] == "pong"  # the connection is still served after errors


def test_crash_between_writes_is_repaired_by_redelivery(symbol, tick_stream, sent, clock, monkeypatch):
    """A Lambda that dies after closing a candle but before the state write: the retry counts nothing twice."""
    b = logic.bucket(clock(), "1d") + 86_400_000
    clock.t = b + 30_000
    store.put_tick(symbol, Decimal("1"), b + 30_000)
    store.put_tick(symbol, Decimal("2"), b + 59_000)
    tick_stream.pump()
    store.put_tick(symbol, Decimal("3"), b + 61_000)        # closes the first minute
    store.put_tick(symbol, Decimal("4"), b + 59_500)        # a late tick for it (skewed writer clock)
    records = tick_stream.read()
    real = store.MarketState.update
    calls = {"n": 0}

    def dying_update(self, *a, **kw):
        if self.sk == "STATE" and calls["n"] == 0:
            calls["n"] += 1
            raise RuntimeError("Lambda timed out")
        return real(self, *a, **kw)
    monkeypatch.setattr(store.MarketState, "update", dying_update)
    with pytest.raises(RuntimeError):
        events.on_tick_records(records)
    events.on_tick_records(records)  # the retry
    events.on_tick_records(records)  # and a duplicate delivery
    m1 = store.query_candles(symbol, "1m", b, b + 120_000, 10)
    assert [(c.open_time, c.open, c.high, c.low, c.close, c.ticks) for c in m1] == [
        (b, 1, 4, 1, 4, 3), (b + 60_000, 3, 3, 3, 3, 1)]
    d1 = store.query_candles(symbol, "1d", None, None, 10)[-1]
    assert (d1.open, d1.high, d1.low, d1.close, d1.ticks) == (1, 4, 1, 3, 4)

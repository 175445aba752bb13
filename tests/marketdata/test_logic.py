"""Pure market-data logic: candles exact under batching and redelivery (randomised), throttle slots (fake time)."""
import random
from decimal import Decimal

import pytest

from chalicelib.marketdata import logic
from chalicelib.marketdata.logic import (BROADCAST_WINDOW_MS, INTERVALS, MATCH_WINDOW_MS, EARLY_MS, Candle,
                                         Tick, plan_slot)
from tests.marketdata.oracle import INTERVAL_MS, expected_candles

T0 = 1_700_000_000_000


def random_ticks(rng: random.Random, n: int, span_ms: int) -> list[Tick]:
    """Ticks in stream order (seq increasing) whose timestamps are NOT in stream order (clock skew between
    writers, equal milliseconds), with prices of up to 4 decimals."""
    out = []
    for seq in range(1, n + 1):
        ts = T0 + rng.randrange(span_ms)
        price = Decimal(rng.randrange(1, 10_000_000)).scaleb(-4)
        out.append(Tick("XAUUSD", logic.tick_key(ts, f"{rng.getrandbits(32):08x}"), price, ts, seq=1000 + seq))
    return out


class Crash(Exception):
    pass


class FakeStore:
    """The store's semantics in memory: candle items, and the state item (watermark, latest key, current
    candles) written last; `fail_rate` makes a delivery stop after a random number of its writes, as a Lambda
    that dies mid-batch (the batch is then delivered again)."""

    def __init__(self, rng: random.Random | None = None, fail_rate: float = 0.0):
        self.items: dict[tuple[str, int], Candle] = {}
        self.current: dict[str, Candle] = {}
        self.watermark = None
        self.latest: Tick | None = None
        self.rng, self.fail_rate = rng, fail_rate

    def deliver(self, batch: list[Tick]) -> None:
        keys = logic.stored_keys_needed(self.watermark, self.current, batch)
        stored = {k: self.items[k] for k in keys if k in self.items}
        plan = logic.plan_batch(self.watermark, self.latest.key if self.latest else None, self.current, stored,
                                batch)
        if plan.watermark is None:
            return
        writes = [("close", k, c, None) for k, c in plan.closes.items()] + \
                 [("late", k, c, exp) for k, (c, exp) in plan.late.items()]
        stop = len(writes) + 1
        if self.rng is not None and self.rng.random() < self.fail_rate:
            stop = self.rng.randrange(0, len(writes) + 1)  # dies before the state write
        for n, (kind, k, c, exp) in enumerate(writes):
            if n >= stop:
                raise Crash()
            if kind == "late":
                have = self.items.get(k)
                assert (have.seq if have else None) == exp  # the condition holds: one writer
            self.items[k] = c
        if stop <= len(writes):
            raise Crash()
        self.current = plan.current
        self.watermark = plan.watermark
        if plan.latest is not None:
            self.latest = plan.latest

    def candles(self) -> dict[tuple[str, int], Candle]:
        out = {}
        for iv in INTERVALS:
            items = [c for (i, _), c in self.items.items() if i == iv]
            for c in logic.overlay(items, self.current.get(iv)):
                out[(iv, c.open_time)] = c
        return out


def deliveries(rng: random.Random, ticks: list[Tick]) -> list[list[Tick]]:
    """Random batches in stream order, with redeliveries: a failed batch comes again (possibly grown, as when
    more records arrived before the retry), or an old batch is replayed."""
    out, i = [], 0
    while i < len(ticks):
        size = rng.randint(1, 25)
        batch = ticks[i:i + size]
        out.append(batch)
        r = rng.random()
        if r < 0.2:
            out.append(list(batch))                               # same batch again
        elif r < 0.3:
            out.append(ticks[max(0, i - rng.randint(0, 10)):i + size + rng.randint(0, 5)])  # overlapping
        elif r < 0.35 and out:
            out.append(rng.choice(out))                           # an old batch replayed
        i += size
    return out


def view(candles: dict) -> dict:
    """Candles as what the API shows (OHLC, ticks) and their order keys, comparable with the oracle's tuples."""
    return {k: (c.open, c.high, c.low, c.close, c.ticks, c.open_key, c.close_key) for k, c in candles.items()}


def oracle(ticks: list[Tick]) -> dict:
    """The test's own candles (tests/marketdata/oracle.py): each generated tick once, nothing from logic."""
    return expected_candles((t.key, t.ts, t.price) for t in ticks)


def test_the_oracle_knows_every_interval_and_works_out_a_hand_example():
    assert set(INTERVAL_MS) == set(INTERVALS)
    d = 86_400_000 * 19_000  # a UTC midnight
    ticks = [("b", d + 61_000, Decimal(5)), ("a", d + 60_500, Decimal(7)), ("c", d + 59_999, Decimal(3)),
             ("d", d + 119_999, Decimal(6))]
    got = expected_candles(ticks)
    assert {k: v for k, v in got.items() if k[0] == "1m"} == {("1m", d): (3, 3, 3, 3, 1, "c", "c"),
                                                             ("1m", d + 60_000): (7, 7, 5, 6, 3, "a", "d")}
    assert got[("1d", d)] == (7, 7, 3, 6, 4, "a", "d")  # open/close in order-key order, not time order


@pytest.mark.parametrize("seed", range(60))
def test_candles_exact_under_random_batches_redelivery_and_crashes(seed):
    rng = random.Random(seed)
    ticks = random_ticks(rng, rng.randint(1, 400), span_ms=rng.choice([5_000, 300_000, 3 * 86_400_000]))
    s = FakeStore(rng, fail_rate=rng.choice([0.0, 0.2]))
    for batch in deliveries(rng, ticks):
        while True:
            try:
                s.deliver(batch)
                break
            except Crash:
                continue  # Lambda retries the same batch
    got = s.candles()
    assert view(got) == oracle(ticks)
    assert sum(c.ticks for (iv, _), c in got.items() if iv == "1m") == len(ticks)
    top = max(ticks, key=lambda t: t.key)
    assert s.latest == top and s.watermark == ticks[-1].seq


def test_reference_is_not_trivially_equal():
    """The oracle notices a double-applied tick (the assertion above can fail)."""
    rng = random.Random(7)
    ticks = random_ticks(rng, 30, 60_000)
    s = FakeStore()
    s.deliver(ticks)
    s.watermark = None  # forget the watermark: a redelivery now double counts
    s.deliver(ticks[:5])
    assert view(s.candles()) != oracle(ticks)


def test_late_tick_goes_to_its_closed_candle():
    s = FakeStore()
    b = logic.bucket(T0, "1d")
    k = lambda ts, sfx: logic.tick_key(ts, sfx)  # noqa: E731
    s.deliver([Tick("X", k(b, "a"), Decimal(1), b, 1), Tick("X", k(b + 60_000, "b"), Decimal(2), b + 60_000, 2)])
    assert s.items[("1m", b)].close == 1 and s.current["1m"].open_time == b + 60_000
    s.deliver([Tick("X", k(b + 59_999, "c"), Decimal(9), b + 59_999, 3)])  # skewed clock: lands in the past
    c = s.items[("1m", b)]
    assert (c.open, c.high, c.close, c.ticks, c.seq) == (1, 9, 9, 2, 3)
    assert s.current["1m"].ticks == 1 and s.current["5m"].ticks == 3
    s.deliver([Tick("X", k(b + 59_999, "c"), Decimal(9), b + 59_999, 3)])  # redelivered: nothing changes
    assert s.items[("1m", b)].ticks == 2 and s.current["5m"].ticks == 3


def test_merge_orders_by_key_not_arrival():
    a = Tick("X", logic.tick_key(T0 + 10, "a"), Decimal("2"), T0 + 10, 1)
    b = Tick("X", logic.tick_key(T0 + 5, "b"), Decimal("1"), T0 + 5, 2)   # older, arrives later
    c = Tick("X", logic.tick_key(T0 + 7, "c"), Decimal("5"), T0 + 7, 3)
    candle = logic.merge(logic.merge(None, T0, [a]), T0, [b, c])
    assert (candle.open, candle.high, candle.low, candle.close, candle.ticks) == (1, 5, 1, 2, 3)


def test_buckets():
    ts = T0 + 123_456
    assert logic.bucket(ts, "1m") == ts - ts % 60_000
    assert all(logic.bucket(ts, iv) % ms == 0 and 0 <= ts - logic.bucket(ts, iv) < ms for iv, ms in INTERVALS.items())


def test_feed_price_and_rounding():
    assert logic.feed_price(Decimal("5"), None, None) == 5
    assert logic.feed_price(None, Decimal("100"), Decimal("101")) == Decimal("100.5")
    assert logic.feed_price(None, Decimal("100"), Decimal("100")) == 100
    with pytest.raises(logic.PriceError) as e:
        logic.feed_price(None, Decimal("101"), Decimal("100"))
    assert e.value.code == "CROSSED_QUOTE"
    with pytest.raises(logic.PriceError):
        logic.feed_price(None, Decimal("1"), None)
    assert logic.round_price(Decimal("3275.555"), 2) == Decimal("3275.56")
    assert logic.round_price(Decimal("3275.545"), 2) == Decimal("3275.54")  # banker's rounding
    with pytest.raises(logic.PriceError):
        logic.round_price(Decimal("0.004"), 2)
    assert [logic.valid_symbol(s) for s in ("BTCUSDT", "AB1", "ab1", "AB", "A" * 20, "A" * 21, "A-B1", 5)] == \
        [True, True, False, False, True, False, False, False]


# --- throttle slots ---------------------------------------------------------------------------------------

def simulate(times: list[int], window: int, early_ms: int = EARLY_MS) -> tuple[list[int], dict[int, int]]:
    """Run plan_slot over events; returns (claimed slots, event time -> time of the send that carries it).
    A send at slot s carries every event before s (it reads the latest state when it fires)."""
    slot_at, claimed, carried = None, [], {}
    for t in times:
        p = plan_slot(t, slot_at, window, early_ms=early_ms)
        if p.action == "none":
            assert slot_at > t
            carried[t] = slot_at
            continue
        assert p.slot_at >= t
        if p.action == "delay":
            arrival = t + p.delay_s * 1000       # SQS never delivers early
            assert p.slot_at - early_ms <= arrival <= p.slot_at, (t, p)  # arrives early by at most early_ms
        else:
            assert p.slot_at == t and p.delay_s == 0
        claimed.append(p.slot_at)
        slot_at = p.slot_at
        carried[t] = p.slot_at
    return claimed, carried


@pytest.mark.parametrize("window,early", [(BROADCAST_WINDOW_MS, EARLY_MS), (MATCH_WINDOW_MS, 0), (1000, 250)])
@pytest.mark.parametrize("seed", range(30))
def test_slots_spaced_and_every_event_carried_in_time(window, early, seed):
    rng = random.Random(seed)
    t, times = T0, []
    for _ in range(rng.randint(1, 300)):
        t += rng.choice([0, 1, rng.randrange(50), rng.randrange(400), rng.randrange(3000), rng.randrange(20_000)])
        times.append(t)
    claimed, carried = simulate(times, window, early)
    assert all(b - a >= window for a, b in zip(claimed, claimed[1:])), claimed
    assert all(0 <= carried[e] - e <= window for e in times)


def test_burst_of_50_in_one_second_claims_one_trailing_slot():
    times = [T0 + i * 20 for i in range(50)]  # 50 pushes within 1 s
    claimed, carried = simulate(times, BROADCAST_WINDOW_MS)
    assert claimed == [T0, T0 + 1000]          # one send at once, one trailing send a second later
    assert carried[times[-1]] - times[-1] <= 2000


def test_matching_burst_once_per_5s_and_within_6s():
    times = [T0 + i * 100 for i in range(120)]  # 12 s of pushes at 10/s
    claimed, carried = simulate(times, MATCH_WINDOW_MS, early_ms=0)
    assert claimed[0] == T0 and len(claimed) == 4, claimed  # T0, ~5.1 s, ~10.1 s, ~15.1 s (carries 10.1-11.9 s)
    assert all(5000 <= b - a <= 5100 for a, b in zip(claimed, claimed[1:])), claimed
    assert max(carried[e] - e for e in times) <= 6000


def test_plan_slot_cases():
    assert plan_slot(T0, None, 1000) == logic.SlotPlan("now", T0, 0)
    assert plan_slot(T0, T0 - 1000, 1000) == logic.SlotPlan("now", T0, 0)
    assert plan_slot(T0, T0 - 300, 1000) == logic.SlotPlan("delay", T0 + 700, 0)    # at once; the sender waits
    assert plan_slot(T0, T0 - 300, 1000, early_ms=0) == logic.SlotPlan("delay", T0 + 1000, 1)  # never early
    assert plan_slot(T0, T0 - 900, 1000, early_ms=250) == logic.SlotPlan("delay", T0 + 100, 0)
    assert plan_slot(T0, T0 + 600, 1000).action == "none"
    assert plan_slot(T0, T0 + 600, 1000, sent_at=T0 - 400).action == "none"
    assert plan_slot(T0, T0 + 1, 1000, sent_at=T0 + 1) == logic.SlotPlan("delay", T0 + 1001, 1)  # already sent
    assert plan_slot(T0, T0, 1000) == logic.SlotPlan("delay", T0 + 1000, 1)
    assert plan_slot(T0, T0 - 1, 5000, early_ms=0) == logic.SlotPlan("delay", T0 + 5000, 5)
    assert logic.next_match_at(T0, None) == T0
    assert logic.next_match_at(T0, T0 + 3000) == T0 + 3000
    assert logic.next_match_at(T0, T0 - 2000) == T0 + 3000
    assert logic.next_match_at(T0, T0 - 9000) == T0

"""Book integrity on DynamoDB Local (moto's transactions copy the whole table: too slow for a session): every depth message of a randomised session (liquidity pairs of several accounts
placed, repriced and cancelled through the real API, depth broadcasts through the real throttle and broadcast
queue handler) carries a Kraken CRC32 checksum that an independent implementation here agrees with, and
per-symbol sequence numbers without gaps; a subscribe is answered by a snapshot first; GET /api/depth carries
the sequence of the latest broadcast.

The test keeps its own model of the book (the pairs it knows are pending) and builds the checksum strings from
that model itself: nothing of chalicelib's formatting or checksum code is used for the expected values.
"""
import json
import random
import zlib
from collections import defaultdict
from decimal import Decimal as D

import pytest

from chalicelib.common import jsonutil
from chalicelib.marketdata import events, queues
from chalicelib.marketdata import store as md
from chalicelib.realtime import broadcaster, handlers
from tests.helpers import Api
from tests.trading.conftest import SYM, World

PRICE_DP, QTY_DP = 2, 4  # BTCUSDT's pricePrecision / quantityPrecision


def kraken_checksum(asks: list[tuple[D, D]], bids: list[tuple[D, D]]) -> int:
    """Kraken's scheme, written from its documentation: 10 best asks (low to high) then 10 best bids (high to
    low); per level price then quantity at the symbol's precision, '.' removed, leading zeros stripped."""
    def part(value: D, dp: int) -> str:
        text = format(value, f".{dp}f")
        return text.replace(".", "").lstrip("0")
    s = "".join(part(p, PRICE_DP) + part(q, QTY_DP) for p, q in asks[:10] + bids[:10])
    return zlib.crc32(s.encode("ascii")) & 0xFFFFFFFF


def test_reference_vector():
    # asks 0.05005 x 0.00000500, bids 0.05000 x 0.00000500 (precisions 5 and 8, as in Kraken's guide)
    s = "5005" + "500" + "5000" + "500"
    assert zlib.crc32(s.encode()) & 0xFFFFFFFF == zlib.crc32(b"50055005000500")
    from chalicelib.marketdata import logic
    levels = logic.format_levels([[D("0.05"), D("0.000005")]], 5, 8)
    assert [str(v) for v in levels[0]] == ["0.05000", "0.00000500"]
    assert logic.depth_checksum([[D("0.05000"), D("0.00000500")]], [[D("0.05005"), D("0.00000500")]]) == \
        zlib.crc32(b"50055005000500")


class Model:
    """The test's own book: pending pairs it placed -> (bid, ask, qty)."""

    def __init__(self):
        self.pairs: dict[str, tuple[str, D, D, D]] = {}

    def levels(self):
        bids, asks = defaultdict(D), defaultdict(D)
        for _, bid, ask, qty in self.pairs.values():
            bids[bid] += qty
            asks[ask] += qty
        return (sorted(bids.items(), key=lambda kv: -kv[0]), sorted(asks.items()))


@pytest.fixture
def captured(monkeypatch):
    """Every message posted to a connection, parsed with decimals kept exact: connection id -> [message]."""
    out = defaultdict(list)

    def send(connection_id, message):
        text = message if isinstance(message, str) else jsonutil.dumps(message)
        out[connection_id].append(json.loads(text, parse_float=D))
        return True
    monkeypatch.setattr(broadcaster, "send", send)
    return out


@pytest.fixture
def flushes(monkeypatch):
    pending = []
    monkeypatch.setattr(queues, "enqueue_flush",
                        lambda symbol, channel, at, delay_s: pending.append(
                            {"kind": "flush", "symbol": symbol, "channel": channel, "at": at}))
    return pending


def subscribe(cid):
    handlers.on_connect(cid)
    handlers.on_message(cid, json.dumps({"type": "subscribe", "channel": "depth", "symbol": SYM}))


def deliver(flushes, clock):
    """The broadcast queue handler for every flush enqueued so far (the clock moves to each slot)."""
    todo = flushes[:]
    flushes.clear()
    for f in todo:
        clock.t = max(clock.t, f["at"])
        events.on_broadcast_messages([{"body": json.dumps(f)}])


def as_levels(rows):
    return [(D(p), D(q)) for p, q in rows]


def test_random_session_checksums_and_gap_free_sequences(ddb_client, clock, captured, flushes):
    md.clear_cache()
    world = World(Api(ddb_client))
    rng = random.Random(1313)
    tokens = [world.account(10_000_000)[0] for _ in range(2)]
    model = Model()
    expected_by_seq: dict[int, tuple] = {}
    subscribe("early=")
    seen, late_joined_at = len(captured["early="]), None
    for step in range(36):
        for _ in range(rng.randint(1, 2)):  # a few book changes, then the throttled broadcast
            action = rng.random()
            if action < (0.9 if step < 14 else 0.45) or not model.pairs:
                token = rng.choice(tokens)
                bid = D(rng.randint(6990000, 6999900)) / 100
                ask = D(rng.randint(7000100, 7010000)) / 100
                qty = D(rng.randint(1, 500)) / 10000
                r = world.pair(token, bid, ask, qty=qty)
                assert r.status == 201, r
                model.pairs[r.json["pairId"]] = (token, bid, ask, qty)
            elif action < 0.85:
                pid = rng.choice(sorted(model.pairs))
                token = model.pairs.pop(pid)[0]
                r = world.api.post("/api/liquidity/cancel", {"pairId": pid}, token=token)
                assert r.status == 200, r
            else:
                pid = rng.choice(sorted(model.pairs))
                token, bid, ask, qty = model.pairs.pop(pid)
                nb, na = bid - D("0.5"), ask + D("0.25")
                r = world.api.post("/api/liquidity/reprice",
                                   {"pairId": pid, "newBidPrice": nb, "newAskPrice": na}, token=token)
                assert r.status == 200, r
                model.pairs[r.json["pairId"]] = (token, nb, na, qty)
            events.notify_depth(SYM)
        clock.advance(rng.choice([50, 400, 1200]))
        deliver(flushes, clock)
        for m in captured["early="][seen:]:  # every message of this step shows the book as it is now
            expected_by_seq[m["seq"]] = model.levels()
        seen = len(captured["early="])
        if step == 24:
            subscribe("late=")
            late_joined_at = len(captured["early="])
    deliver(flushes, clock)

    early = captured["early="]
    assert early[0]["type"] == "subscribed" and early[1]["type"] == "depth" and early[1]["snapshot"] is True
    depth = [m for m in early if m["type"] == "depth"]
    seqs = [m["seq"] for m in depth]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs  # snapshot seq, then +1 per message
    assert len(depth) > 25
    checked = 0
    for m in depth[1:]:
        bids, asks = expected_by_seq[m["seq"]]
        assert as_levels(m["bids"]) == bids[:20] and as_levels(m["asks"]) == asks[:20]
        assert m["checksum"] == kraken_checksum(asks, bids), m["seq"]
        checked += len(bids) > 10 and len(asks) > 10
    assert checked > 5  # the checksum's 10-level cut was exercised

    late = [m for m in captured["late="] if m["type"] != "subscribed"]
    assert captured["late="][0]["type"] == "subscribed" and late[0]["snapshot"] is True
    snap_seq = late[0]["seq"]
    assert snap_seq == early[late_joined_at - 1]["seq"]  # the latest broadcast's sequence
    bids, asks = expected_by_seq[snap_seq]
    assert late[0]["checksum"] == kraken_checksum(asks, bids)
    assert [m["seq"] for m in late[1:]] == list(range(snap_seq + 1, snap_seq + len(late)))
    assert all("snapshot" not in m for m in late[1:])

    r = world.api.get(f"/api/depth?symbol={SYM}&limit=5")
    assert r.status == 200
    bids, asks = model.levels()
    assert r.json["seq"] == seqs[-1]
    assert r.json["checksum"] == kraken_checksum(asks, bids)  # of the 10 best, even with limit=5
    assert len(r.json["bids"]) == 5 and {"symbol", "bids", "asks", "ts"} <= set(r.json)


def test_empty_book_snapshot_and_get(client, captured):
    md.clear_cache()
    subscribe("c=")
    snap = captured["c="][1]
    assert snap == {**snap, "type": "depth", "bids": [], "asks": [], "seq": 0, "snapshot": True,
                    "checksum": zlib.crc32(b"")}
    r = Api(client).get(f"/api/depth?symbol={SYM}")
    assert r.json["seq"] == 0 and r.json["checksum"] == 0 and r.json["bids"] == []

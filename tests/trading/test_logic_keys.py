"""Sortable price encodings and the crossing range of the price-sorted index (chalicelib/trading/keys.py)."""
import random
from decimal import Decimal as D

import pytest

from chalicelib.trading.keys import (book_key, crossing_bound, decode_price, encode_price, encode_price_desc,
                                     liquidation_key)
from chalicelib.trading.positions import LONG, SHORT, Position, liquidation_price, should_liquidate


def random_price(rng: random.Random) -> D:
    kind = rng.random()
    if kind < 0.05:
        return D(0)
    if kind < 0.25:  # near neighbours: shared prefixes, trailing zeros, one digit apart
        base = rng.choice(["1.5", "1.53", "1.50", "15", "150", "0.15", "70000", "70000.01", "69999.99", "9.99", "10"])
        return abs(D(base) + D(rng.randint(-2, 2)).scaleb(-rng.randint(0, 10))) if rng.random() < 0.5 else D(base)
    digits = rng.randint(1, 30)
    return D(rng.randint(1, 10 ** digits)).scaleb(rng.randint(-40, 20))


def test_examples():
    assert encode_price(D("1.5")) == "150015" == encode_price(D("1.50")) == encode_price(D("15E-1"))
    assert encode_price(D("70000")) == "15047" and encode_price(D("0.001")) == "14971"
    assert encode_price(D(0)) == "0" == encode_price(D("0.000"))
    assert encode_price_desc(D("1.5")) == "849984~"
    for bad in (D("-1"), D("NaN"), D("Infinity"), D("1e600"), D("1e-600")):
        with pytest.raises(ValueError):
            encode_price(bad)


def test_random_values_keep_their_order_both_ways():
    rng = random.Random(1234)
    values = [random_price(rng) for _ in range(5000)]
    for v in values:
        assert decode_price(encode_price(v)) == v and decode_price(encode_price_desc(v)) == v
    asc = sorted(values, key=encode_price)
    desc = sorted(values, key=encode_price_desc)
    assert all(a <= b for a, b in zip(asc, asc[1:]))
    assert all(a >= b for a, b in zip(desc, desc[1:]))
    for _ in range(20000):  # pairwise: string comparison == numeric comparison, equality included
        a, b = rng.choice(values), rng.choice(values)
        assert (encode_price(a) < encode_price(b)) == (a < b)
        assert (encode_price(a) == encode_price(b)) == (a == b)
        assert (encode_price_desc(a) < encode_price_desc(b)) == (a > b)


def test_book_keys_order_best_price_then_oldest():
    bids = [("b1", D("100"), 5), ("b2", D("100.5"), 9), ("b3", D("100"), 1), ("b4", D("99.99"), 0)]
    asks = [("a1", D("101"), 5), ("a2", D("100.75"), 9), ("a3", D("101"), 1), ("a4", D("101.0001"), 0)]
    assert [i for i, *_ in sorted(bids, key=lambda b: book_key("buy", b[1], b[2], b[0]))] == ["b2", "b3", "b1", "b4"]
    assert [i for i, *_ in sorted(asks, key=lambda a: book_key("sell", a[1], a[2], a[0]))] == ["a2", "a3", "a1", "a4"]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_crossing_bound_selects_exactly_the_crossing_orders(side):
    """The storage layer's key condition `sk < crossing_bound(side, P)`, checked against brute force:
    buy side price >= P, sell side price <= P; and the selected keys are a prefix of the sorted index."""
    rng = random.Random(99 if side == "buy" else 98)
    orders = [(f"o{i}", random_price(rng), rng.randint(0, 10 ** 13)) for i in range(3000)]
    keys = sorted((book_key(side, p, t, i), p) for i, p, t in orders)
    for _ in range(300):
        ref = rng.choice([p for _, p in keys] + [random_price(rng)])
        if ref == 0:
            continue
        bound = crossing_bound(side, ref)
        selected = [p for k, p in keys if k < bound]
        expected = [p for _, p in keys if (p >= ref if side == "buy" else p <= ref)]
        assert selected == expected
        assert [p for _, p in keys[:len(selected)]] == selected  # a range from the start of the index


def test_liquidation_index_is_a_superset_of_should_liquidate():
    rng = random.Random(5)
    positions = []
    for i in range(500):
        q = D(rng.randint(1, 1000)).scaleb(-3)
        price = D(rng.randint(1000, 100000)).scaleb(-2)
        lev = rng.randint(1, 100)
        margin = (q * price / lev).quantize(D("1e-8"))
        positions.append((f"acct{i}", Position.opened(rng.choice([LONG, SHORT]), q, price, margin, lev)))
    index = {"buy": [], "sell": []}
    for acct, pos in positions:
        side, key = liquidation_key(pos, acct)
        index[side].append((key, acct, pos))
    for _ in range(200):
        mark = D(rng.randint(1, 200000)).scaleb(-2)
        found = {acct for side in ("buy", "sell") for key, acct, _ in index[side] if key < crossing_bound(side, mark)}
        must = {acct for acct, pos in positions if should_liquidate(pos, mark)}
        assert must <= found
        # the superset is only the rounding of the stored price
        for acct in found - must:
            pos = dict(positions)[acct]
            assert liquidation_price(pos) == mark


def test_flat_position_has_no_liquidation_key():
    with pytest.raises(ValueError):
        liquidation_key(Position(), "acct")

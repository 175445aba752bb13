"""Order state machine, fills and cancellations (chalicelib/trading/orders.py)."""
from decimal import Decimal as D

import pytest

from chalicelib.trading.margin import order_margin
from chalicelib.trading.orders import (CANCELLED, FILLED, LIMIT, PENDING, REJECTED, TRADER, InvalidTransition, Order,
                                       cancel_order, check_transition, fill_order)


def limit(qty="3", price="100", lev=1, **kw) -> Order:
    q, p = D(qty), D(price)
    return Order("o1", "acct", "BTCUSDT", "buy", LIMIT, TRADER, q, p, lev, 1, order_margin(q, p, lev), **kw)


@pytest.mark.parametrize("old, new", [(None, PENDING), (None, FILLED), (None, CANCELLED), (None, REJECTED),
                                      (PENDING, PENDING), (PENDING, FILLED), (PENDING, CANCELLED)])
def test_allowed_transitions(old, new):
    check_transition(old, new)


@pytest.mark.parametrize("old, new", [(PENDING, REJECTED), (FILLED, CANCELLED), (FILLED, PENDING),
                                      (CANCELLED, PENDING), (CANCELLED, FILLED), (REJECTED, PENDING),
                                      (FILLED, FILLED), (PENDING, "open")])
def test_forbidden_transitions(old, new):
    with pytest.raises(InvalidTransition):
        check_transition(old, new)


def test_partial_fill_keeps_pending_and_releases_its_margin_share():
    o = limit("3", "100", 3)  # margin 100
    c, m = fill_order(o, D("1"), D("100"))
    assert c.after.status == PENDING and c.after.filled_quantity == 1 and c.after.avg_fill_price == D("100")
    assert m == D("33.33333333") and c.after.frozen_margin == D("66.66666667") and c.frozen_delta == -m
    c2, m2 = fill_order(c.after, D("1"), D("99"))
    assert c2.after.avg_fill_price == D("99.5") and m2 == D("33.33333333")
    c3, m3 = fill_order(c2.after, D("1"), D("98"))
    assert c3.after.status == FILLED and c3.after.frozen_margin == 0 and m + m2 + m3 == o.margin
    assert c3.after.avg_fill_price == D("99")
    with pytest.raises(InvalidTransition):
        fill_order(c3.after, D("1"), D("98"))


def test_fill_with_close_rest_cancels_the_remainder():
    o = limit("3", "100")
    c, m = fill_order(o, D("1"), D("100"), close_rest=True)
    assert c.after.status == CANCELLED and c.after.filled_quantity == 1 and c.after.frozen_margin == 0
    assert m == D("100") and c.frozen_delta == D("-300")
    c, m = fill_order(o, D("3"), D("100"), close_rest=True)
    assert c.after.status == FILLED


def test_fill_quantity_bounds():
    o = limit()
    for q in ("0", "-1", "3.1"):
        with pytest.raises(ValueError):
            fill_order(o, D(q), D("100"))


def test_cancel_releases_remaining_frozen_margin():
    o = limit("3", "100")
    partly = fill_order(o, D("1"), D("100"))[0].after
    c = cancel_order(partly)
    assert c.after.status == CANCELLED and c.frozen_delta == D("-200") and c.after.filled_quantity == 1
    with pytest.raises(InvalidTransition):
        cancel_order(c.after)


def test_order_defaults_and_priority():
    o = limit()
    assert o.frozen_margin == o.margin and o.remaining == 3 and o.is_open
    bids = [Order(i, "a", "S", "buy", LIMIT, TRADER, D(1), D(p), 1, t)
            for i, p, t in (("x", "99", 1), ("y", "100", 2), ("z", "100", 1))]
    assert [b.order_id for b in sorted(bids, key=Order.priority)] == ["z", "y", "x"]
    asks = [Order(i, "a", "S", "sell", LIMIT, TRADER, D(1), D(p), 1, t)
            for i, p, t in (("x", "99", 3), ("y", "100", 1))]
    assert [a.order_id for a in sorted(asks, key=Order.priority)] == ["x", "y"]

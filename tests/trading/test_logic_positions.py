"""Net positions: open, add, reduce, close, flip, PnL, liquidation (chalicelib/trading/positions.py)."""
import random
from decimal import Decimal as D

import pytest

from chalicelib.trading.margin import order_margin
from chalicelib.trading.positions import (FLAT, LONG, SHORT, Position, apply_fill, liquidate, liquidation_price,
                                          position_view, should_liquidate, unrealized_pnl)

FLAT_POS = Position()


def test_open_long_and_short():
    c = apply_fill(FLAT_POS, "buy", D("0.01"), D("70000"), D("700"), 1)
    assert c.after == Position(LONG, D("0.01"), D("700.00"), D("700"), 1)
    assert (c.realized_pnl, c.margin_added, c.margin_released) == (0, D("700"), 0)
    assert c.after.entry_price == D("70000")
    c = apply_fill(FLAT_POS, "sell", D("2"), D("10"), D("2"), 10)
    assert (c.after.side, c.after.quantity, c.after.entry_price, c.after.leverage) == (SHORT, 2, D("10"), 10)


def test_add_averages_entry_exactly():
    p = apply_fill(FLAT_POS, "buy", D("1"), D("100"), D("10"), 10).after
    c = apply_fill(p, "buy", D("2"), D("101"), D("20.2"), 5)
    assert c.after.quantity == 3 and c.after.cost == D("302") and c.after.margin == D("30.2")
    assert c.after.entry_price == D("100.66666667")  # shown to 8 dp
    assert c.after.leverage == 5  # the leverage of the last order that opened or added
    # exact cost basis: closing at the displayed entry is not exactly zero PnL, closing at cost/qty is
    close = apply_fill(c.after, "sell", D("3"), D("302") / 3)
    assert close.after == FLAT_POS


def test_reduce_long_realizes_pnl_and_releases_margin_proportionally():
    p = Position.opened(LONG, D("2"), D("100"), D("20"), 10)
    c = apply_fill(p, "sell", D("0.5"), D("110"), D("5.5"))
    assert c.realized_pnl == D("5")  # (110 - 100) × 0.5
    assert c.margin_released == D("5") and c.margin_added == 0  # the fill's own margin opens nothing
    assert c.after == Position(LONG, D("1.5"), D("150"), D("15"), 10)
    assert c.account_delta.balance == D("5") and c.account_delta.position_margin == D("-5")


def test_reduce_short_pnl_is_reversed():
    p = Position.opened(SHORT, D("2"), D("100"), D("20"), 10)
    c = apply_fill(p, "buy", D("1"), D("95"))
    assert c.realized_pnl == D("5") and c.after.quantity == 1 and c.after.entry_price == 100
    c = apply_fill(p, "buy", D("1"), D("105"))
    assert c.realized_pnl == D("-5")


def test_close_exactly_releases_everything():
    p = apply_fill(FLAT_POS, "buy", D("1"), D("100"), D("33.33333334"), 3).after
    p = apply_fill(p, "buy", D("2"), D("100.01"), D("66.67333334"), 3).after
    c = apply_fill(p, "sell", D("3"), D("99"))
    assert c.after == FLAT_POS and c.margin_released == p.margin
    assert c.realized_pnl == D("3") * D("99") - p.cost


def test_flip_closes_and_opens_the_rest_on_the_other_side():
    p = Position.opened(LONG, D("1"), D("100"), D("10"), 10)
    fill_margin = order_margin(D("3"), D("110"), 5)  # 66 frozen by the sell order
    c = apply_fill(p, "sell", D("3"), D("110"), fill_margin, 5)
    assert c.realized_pnl == D("10")
    assert c.after == Position(SHORT, D("2"), D("220"), D("44"), 5)
    assert c.margin_added == D("44") and c.margin_released == D("10")  # 22 of the fill's 66 goes back to available


def test_flip_margin_share_rounds_up():
    p = Position.opened(LONG, D("1"), D("10"), D("10"), 1)
    c = apply_fill(p, "sell", D("3"), D("10"), D("1"), 1)
    assert c.margin_added == D("0.66666667")


def test_loss_is_capped_at_margin_the_rest_absorbed():
    p = Position.opened(LONG, D("1"), D("100"), D("10"), 10)
    c = apply_fill(p, "sell", D("1"), D("85"))
    assert (c.realized_pnl, c.absorbed_loss, c.margin_released) == (D("-10"), D("5"), D("10"))
    assert c.account_delta.available == 0  # balance -10, positionMargin -10: availableBalance never drops
    half = apply_fill(p, "sell", D("0.5"), D("85"))
    assert (half.realized_pnl, half.absorbed_loss) == (D("-5"), D("2.5"))


def test_unrealized_and_liquidation_long():
    p = Position.opened(LONG, D("1"), D("100"), D("10"), 10)
    assert unrealized_pnl(p, D("95")) == D("-5") and unrealized_pnl(FLAT_POS, D("1")) == 0
    assert liquidation_price(p) == D("90")  # entry - margin/qty
    assert should_liquidate(p, D("90")) and should_liquidate(p, D("50"))
    assert not should_liquidate(p, D("90.00000001"))
    c = liquidate(p, D("89"))
    assert c.after == FLAT_POS and c.realized_pnl == D("-10") and c.absorbed_loss == D("1")


def test_unrealized_and_liquidation_short():
    p = Position.opened(SHORT, D("2"), D("100"), D("20"), 10)
    assert unrealized_pnl(p, D("95")) == D("10")
    assert liquidation_price(p) == D("110")
    assert should_liquidate(p, D("110")) and not should_liquidate(p, D("109.99"))
    assert liquidate(p, D("110")).realized_pnl == D("-20")


def test_liquidation_price_rounds_towards_the_mark_and_is_never_negative():
    p = Position.opened(LONG, D("3"), D("10"), D("1"), 30)  # 10 - 1/3
    lp = liquidation_price(p)
    assert lp == D("9.66666667") and lp >= D("29") / 3
    assert should_liquidate(p, D("9.66666666")) and not should_liquidate(p, lp)  # the index gives a superset
    s = Position.opened(SHORT, D("3"), D("10"), D("1"), 30)
    assert liquidation_price(s) == D("10.33333333") and not should_liquidate(s, liquidation_price(s))
    lev1 = Position.opened(LONG, D("0.01"), D("70000"), order_margin(D("0.01"), D("70000"), 1))
    assert liquidation_price(lev1) == 0 and not should_liquidate(lev1, D("0.01"))
    assert liquidation_price(FLAT_POS) is None and not should_liquidate(FLAT_POS, D("1"))


def test_position_view():
    p = Position.opened(LONG, D("1"), D("100"), D("10"), 10)
    v = position_view(p, D("101.123456789"))
    assert v == {"side": LONG, "quantity": 1, "entryPrice": D("100"), "markPrice": D("101.123456789"),
                 "leverage": 10, "margin": D("10"), "unrealizedPnl": D("1.12345679"), "liquidationPrice": D("90")}
    assert position_view(FLAT_POS, None)["side"] == FLAT


def test_invalid_fills_rejected():
    for q, p, m in (("0", "1", "0"), ("1", "0", "0"), ("1", "1", "-1")):
        with pytest.raises(ValueError):
            apply_fill(FLAT_POS, "buy", D(q), D(p), D(m))


def test_changes_chain():
    a = apply_fill(FLAT_POS, "buy", D("1"), D("100"), D("10"))
    b = apply_fill(a.after, "sell", D("2"), D("110"), D("22"))
    ab = a.then(b)
    assert ab.before == FLAT_POS and ab.after == b.after and ab.realized_pnl == D("10")
    assert ab.margin_added == D("21") and ab.margin_released == D("10")
    with pytest.raises(ValueError):
        b.then(a)


def test_random_fills_conserve_pnl():
    """Realized + absorbed + unrealized == mark-to-market value of all cash flows, exactly, after every fill;
    margins never negative; the side always follows the sign of the net quantity (flips included)."""
    rng = random.Random(20240604)
    flips = capped = 0
    for _ in range(200):
        pos, cash, net, realized, absorbed = FLAT_POS, D(0), D(0), D(0), D(0)
        for _ in range(rng.randint(1, 40)):
            side = rng.choice(["buy", "sell"])
            qty = D(rng.randint(1, 500_000)).scaleb(-rng.randint(0, 5))
            price = D(rng.randint(1, 10_000_000)).scaleb(-rng.randint(0, 4))
            lev = rng.randint(1, 100)
            c = apply_fill(pos, side, qty, price, order_margin(qty, price, lev), lev)
            assert c.before == pos
            flips += (pos.side != FLAT and c.after.side not in (FLAT, pos.side))
            pos = c.after
            cash += -qty * price if side == "buy" else qty * price
            net += qty if side == "buy" else -qty
            realized += c.realized_pnl
            absorbed += c.absorbed_loss
            capped += c.absorbed_loss > 0
            assert pos.margin >= 0 and c.margin_added >= 0 and c.margin_released >= 0 and c.absorbed_loss >= 0
            assert pos.quantity == abs(net) and pos.side == (LONG if net > 0 else SHORT if net < 0 else FLAT)
            assert (pos.cost == 0 and pos.margin == 0) if pos.side == FLAT else pos.cost > 0
            for mark in (price, D(rng.randint(1, 10_000_000)).scaleb(-rng.randint(0, 4))):
                assert realized - absorbed + unrealized_pnl(pos, mark) == cash + net * mark
    assert flips > 100 and capped > 10  # the property covered flips and losses beyond the margin


def test_random_flips_happen_and_keep_entry_at_fill_price():
    rng = random.Random(7)
    flips = 0
    pos = FLAT_POS
    for _ in range(2000):
        side, qty, price = rng.choice(["buy", "sell"]), D(rng.randint(1, 9)), D(rng.randint(90, 110))
        if rng.random() < 0.3:
            qty += pos.quantity  # enough to close and go the other way when it opposes the position
        c = apply_fill(pos, side, qty, price, order_margin(qty, price, 10), 10)
        if pos.side != FLAT and c.after.side not in (FLAT, pos.side):
            flips += 1
            assert c.after.entry_price == price and c.after.quantity == qty - pos.quantity
            assert c.margin_released == pos.margin
        pos = c.after
    assert flips > 100

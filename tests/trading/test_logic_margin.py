"""Margin arithmetic and order-parameter validation (chalicelib/trading/margin.py)."""
from decimal import ROUND_UP, Decimal as D

import pytest

from chalicelib.common.errors import Rejected
from chalicelib.trading.margin import (AccountDelta, SymbolSpec, check_available, order_margin, share,
                                       validate_leverage, validate_price, validate_quantity)

BTC = SymbolSpec("BTCUSDT", price_precision=2, quantity_precision=5, min_quantity=D("0.0001"), max_leverage=100)


def test_guide_example_700_per_side_1400_per_pair():
    side = order_margin(D("0.01"), D("70000"), 1)
    assert side == D("700") and side + order_margin(D("0.01"), D("70000"), 1) == D("1400")


@pytest.mark.parametrize("qty, price, lev, expected", [
    ("0.01", "70000", 10, "70"),
    ("1", "1", 3, "0.33333334"),  # 0.333... rounded UP: the platform never under-holds
    ("0.00001", "0.01", 1, "0.0000001"),
    ("0.00001", "0.001", 1, "0.00000001"),
    ("0.00001", "0.0001", 1, "0.00000001"),  # 1e-9 rounds up to the smallest unit
    ("123456789.12345", "99999.99", 7, "1763668239682.44410936"),
])
def test_order_margin_rounds_up_to_8_dp(qty, price, lev, expected):
    m = order_margin(D(qty), D(price), lev)
    assert m == D(expected) and m.as_tuple().exponent == -8
    assert 0 <= m - D(qty) * D(price) / lev < D("1e-8")


def test_order_margin_is_exact_beyond_the_default_28_digits():
    q = D("999999999999999.99999999")
    assert order_margin(q, q, 1) == D("999999999999999999999980000000.00000001")  # ROUND_UP of ...0000000001


def test_share_down_and_last_part_takes_the_rest():
    assert share(D("1"), D("1"), D("3")) == D("0.33333333")
    parts = [share(D("1"), D("1"), D("3")), share(D("0.66666667"), D("1"), D("2"))]
    last = D("1") - sum(parts)
    assert share(last, D("1"), D("1")) == last and sum(parts) + last == D("1")
    assert share(D("1"), D("1"), D("3"), ROUND_UP) == D("0.33333334")
    assert share(D("5"), D("0"), D("2")) == 0
    with pytest.raises(ValueError):
        share(D("5"), D("3"), D("2"))


def test_account_delta_adds_and_available():
    d = AccountDelta(D("10"), D("3"), D("2")) + AccountDelta(D("-1"), D("1"), D("0"))
    assert d == AccountDelta(D("9"), D("4"), D("2")) and d.available == D("3")
    assert AccountDelta().is_zero() and not d.is_zero()


def err(fn, *a, **kw) -> Rejected:
    with pytest.raises(Rejected) as e:  # a domain refusal, no HTTP in the pure module
        fn(*a, **kw)
    assert e.value.as_api_error().status == 400 and e.value.message
    return e.value


def test_validate_price():
    assert validate_price(D("70000.12"), BTC) == D("70000.12")
    assert validate_price(D("70000.1200"), BTC) == D("70000.12")  # trailing zeros are not extra decimals
    assert validate_price(D("7E+4"), BTC) == D("70000")
    assert validate_price(5, BTC) == 5
    e = err(validate_price, D("70000.123"), BTC)
    assert e.code == "INVALID_PRICE" and "more than 2 decimals" in e.error and "BTCUSDT" in e.error
    assert validate_price("70000.12", BTC) == D("70000.12")  # a decimal string: the one number parser, same Decimal
    for bad in (D("0"), D("-1"), D("NaN"), D("Infinity"), "7e4", " 70000", "0x10", "", "-1", None, True, [1]):
        assert err(validate_price, bad, BTC).code == "INVALID_PRICE"
    assert "newBidPrice" in err(validate_price, D("0"), BTC, "newBidPrice").error
    assert err(validate_price, D("1e16")).code == "INVALID_PRICE"
    with pytest.raises(TypeError):
        validate_price(70000.5, BTC)  # never float


def test_validate_quantity():
    assert validate_quantity(D("0.01"), BTC) == D("0.01")
    assert validate_quantity(D("0.0001"), BTC) == D("0.0001")
    e = err(validate_quantity, D("0.00009"), BTC)
    assert e.code == "INVALID_QUANTITY" and "minQuantity 0.0001" in e.error
    e = err(validate_quantity, D("0.000011"), BTC)
    assert "more than 5 decimals" in e.error
    assert validate_quantity("0.01", BTC) == D("0.01")  # a decimal string reads as the same Decimal
    for bad in (D("0"), D("-0.01"), D("sNaN"), "1e-2", "0.01 ", None, False):
        assert err(validate_quantity, bad, BTC).code == "INVALID_QUANTITY"


def test_validate_leverage():
    assert validate_leverage(1, 100) == 1
    assert validate_leverage(D("100"), 100) == 100
    assert validate_leverage(D("5.0"), 100) == 5
    assert validate_leverage("5", 100) == 5
    for bad in (0, 101, D("2.5"), D("-1"), "2.5", "5e0", None, True):
        e = err(validate_leverage, bad, 100)
        assert e.code == "INVALID_LEVERAGE" and "1 to 100" in e.error


def test_check_available_uses_the_guide_string():
    check_available(D("1400"), D("1400"))
    e = err(check_available, D("1399.99999999"), D("1400"))
    assert (e.code, e.error) == ("INSUFFICIENT_MARGIN", "可用保证金不足")

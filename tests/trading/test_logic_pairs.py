"""Liquidity pairs: place, reprice, cancel plans and the guide's exact errors (chalicelib/trading/pairs.py)."""
from decimal import Decimal as D

import pytest

from chalicelib.common.errors import Rejected
from chalicelib.trading.margin import SymbolSpec
from chalicelib.trading.orders import CANCELLED, FILLED, LIQUIDITY, PENDING, Order, cancel_order, fill_order
from chalicelib.trading.pairs import (INSUFFICIENT_MARGIN, INVERTED_SPREAD, MISSING_FIELDS, RepriceRequest, api_error,
                                      pair_incomplete, pair_not_pending, parse_reprice, plan_pair, plan_pair_cancel,
                                      plan_reprice, reprice_margin)
from tests.helpers import spec_file

BTC = SymbolSpec("BTCUSDT", 2, 5, D("0.0001"), 100)


def place(available="1400", qty="0.01", bid="70000", ask="70000.5", lev=1, pair_id="P1"):
    return plan_pair(account_id="mm", spec=BTC, pair_id=pair_id, bid_price=D(bid), ask_price=D(ask), quantity=D(qty),
                     leverage=lev, available=D(available), buy_order_id="B1", sell_order_id="S1", now=1000)


def api_err(fn, *a, **kw) -> Rejected:
    with pytest.raises(Rejected) as e:
        fn(*a, **kw)
    return e.value


def test_exact_guide_strings():
    assert MISSING_FIELDS == (400, "MISSING_FIELDS", "pairId, newBidPrice, newAskPrice 必填",
                              "pairId, newBidPrice and newAskPrice are required")
    assert INVERTED_SPREAD[:3] == (400, "INVERTED_SPREAD", "newBidPrice 必須小於 newAskPrice")
    assert INSUFFICIENT_MARGIN[:3] == (400, "INSUFFICIENT_MARGIN", "可用保证金不足")
    assert pair_not_pending("abc")[:3] == (400, "PAIR_NOT_PENDING", "找不到 pairId=abc 的 pending 流動性訂單")
    assert pair_incomplete("abc")[:3] == (400, "PAIR_INCOMPLETE", "pairId=abc 的訂單不完整")
    e = api_error(pair_not_pending("x"))
    assert e.body() == {"error": "找不到 pairId=x 的 pending 流動性訂單", "code": "PAIR_NOT_PENDING",
                        "message": pair_not_pending("x")[3]}


def test_strings_match_the_contract_table_byte_for_byte():
    table = {}
    for line in spec_file("api-contract.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip().strip("`") for c in line.split("|")]
        if len(cells) > 4 and cells[1] == "400" and cells[3].isupper():
            table[cells[3]] = cells[2]
    assert table["MISSING_FIELDS"] == MISSING_FIELDS[2]
    assert table["INVERTED_SPREAD"] == INVERTED_SPREAD[2]
    assert table["INSUFFICIENT_MARGIN"] == INSUFFICIENT_MARGIN[2]
    assert table["PAIR_NOT_PENDING"].replace("<pairId>", "Q") == pair_not_pending("Q")[2]
    assert table["PAIR_INCOMPLETE"].replace("<pairId>", "Q") == pair_incomplete("Q")[2]


def test_place_pair_guide_example_freezes_700_per_side_1400_total():
    p = place(bid="70000", ask="70000.01", available="1400.0001")  # 0.01 at ~70,000, leverage 1
    assert (p.buy.margin, p.sell.margin, p.frozen_margin) == (D("700"), D("700.0001"), D("1400.0001"))
    assert p.account_delta.frozen_margin == D("1400.0001")
    assert p.response() == {"pairId": "P1", "buyOrderId": "B1", "sellOrderId": "S1", "frozenMargin": D("1400.0001")}
    assert (p.buy.kind, p.buy.side, p.buy.pair_id, p.buy.status, p.buy.frozen_margin, p.buy.created_at) == (
        LIQUIDITY, "buy", "P1", PENDING, D("700"), 1000)
    assert (p.sell.side, p.sell.price, p.sell.quantity, p.sell.leverage) == ("sell", D("70000.01"), D("0.01"), 1)
    assert [c.before for c in p.orders] == [None, None]
    assert place(bid="70000", ask="70000.01", lev=10, available="140.00001").frozen_margin == D("140.00001")


def test_place_pair_validation():
    assert api_err(place, available="1400.00999999", ask="70001").code == "INSUFFICIENT_MARGIN"
    assert place(available="1400.01", ask="70001").frozen_margin == D("1400.01")
    assert api_err(place, bid="70001", ask="70001").code == "INVERTED_SPREAD"
    assert api_err(place, bid="70000.001").code == "INVALID_PRICE"
    assert api_err(place, qty="0.00001").code == "INVALID_QUANTITY"
    assert api_err(place, lev=101).code == "INVALID_LEVERAGE"
    assert api_err(place, pair_id="").code == "INVALID_PAIR_ID"


def test_parse_reprice_checks_in_the_guide_order():
    ok = parse_reprice({"pairId": "P1", "newBidPrice": D("69999"), "newAskPrice": D("70001"), "newPairId": "P2"})
    assert ok == RepriceRequest("P1", D("69999"), D("70001"), "P2")
    for body in ({}, {"pairId": "P1", "newBidPrice": D(1)}, {"pairId": "", "newBidPrice": D(1), "newAskPrice": D(2)},
                 {"pairId": "P1", "newBidPrice": None, "newAskPrice": D(2)},
                 {"newBidPrice": D(3), "newAskPrice": D(2)}):  # missing wins over an inverted spread
        e = api_err(parse_reprice, body)
        assert (e.as_api_error().status, e.code, e.error) == (400, "MISSING_FIELDS", "pairId, newBidPrice, newAskPrice 必填")
    for bid, ask in ((D(2), D(2)), (D(3), D(2))):
        e = api_err(parse_reprice, {"pairId": "P1", "newBidPrice": bid, "newAskPrice": ask})
        assert (e.code, e.error) == ("INVERTED_SPREAD", "newBidPrice 必須小於 newAskPrice")
    assert api_err(parse_reprice, {"pairId": "P1", "newBidPrice": D(0), "newAskPrice": D(2)}).code == "INVALID_PRICE"
    assert parse_reprice({"pairId": "P1", "newBidPrice": "1", "newAskPrice": D(2)}).new_bid == 1  # decimal string
    assert api_err(parse_reprice, {"pairId": "P1", "newBidPrice": "1e0", "newAskPrice": D(2)}).code == "INVALID_PRICE"
    assert api_err(parse_reprice, {"pairId": 5, "newBidPrice": D(1), "newAskPrice": D(2)}).code == "INVALID_PAIR_ID"
    assert api_err(parse_reprice, [1]).code == "BAD_REQUEST"


def test_reprice_margin():
    m = reprice_margin(D("0.01"), 1, D("1400.01"), D("70010"), D("70011"))
    assert (m.released, m.bid_margin, m.ask_margin, m.new, m.net) == (D("1400.01"), D("700.1"), D("700.11"),
                                                                      D("1400.21"), D("0.2"))
    assert m.fits(D("0.2")) and not m.fits(D("0.19999999"))


def reprice(orders, available="0", new_pair_id="P2", bid="70010", ask="70011", account="mm", given=None, spec=None):
    return plan_reprice(account_id=account, request=RepriceRequest("P", D(bid), D(ask), given), orders=orders,
                        available=D(available), new_pair_id=new_pair_id, buy_order_id="B2", sell_order_id="S2",
                        now=2000, spec=spec)


def old_pair():
    p = plan_pair(account_id="mm", spec=BTC, pair_id="P", bid_price=D("70000"), ask_price=D("70001"),
                  quantity=D("0.01"), leverage=2, available=D("1000"), buy_order_id="B", sell_order_id="S", now=1)
    return [p.buy, p.sell]


def test_reprice_counts_the_released_margin():
    orders = old_pair()  # frozen 350 + 350.005
    plan = reprice(orders, available="0.1")  # new 350.05 + 350.055: needs 0.1 more
    assert plan.released_margin == D("700.005") and plan.frozen_margin == D("700.105")
    assert plan.account_delta.frozen_margin == D("0.1")
    assert [(c.before.order_id, c.after.status, c.frozen_delta) for c in plan.cancelled] == [
        ("B", CANCELLED, D("-350")), ("S", CANCELLED, D("-350.005"))]
    assert (plan.buy.order_id, plan.buy.pair_id, plan.buy.price, plan.buy.quantity, plan.buy.leverage,
            plan.buy.created_at) == ("B2", "P2", D("70010"), D("0.01"), 2, 2000)
    assert plan.response() == {"pairId": "P2", "oldPairId": "P", "buyOrderId": "B2", "sellOrderId": "S2",
                               "releasedMargin": D("700.005"), "frozenMargin": D("700.105")}
    assert [c.after.order_id for c in plan.orders] == ["B", "S", "B2", "S2"]
    e = api_err(reprice, orders, available="0.09999999")
    assert (e.code, e.error) == ("INSUFFICIENT_MARGIN", "可用保证金不足")


def test_reprice_honours_new_pair_id_and_rejects_reuse():
    assert reprice(old_pair(), available="1", given="MINE").pair_id == "MINE"
    assert api_err(reprice, old_pair(), available="1", given="P").as_api_error().status == 409


def test_reprice_of_a_filled_cancelled_unknown_or_foreign_pair_is_not_pending():
    buy, sell = old_pair()
    filled = fill_order(sell, sell.quantity, sell.price, close_rest=True)[0].after
    assert filled.status == FILLED
    ended = [cancel_order(buy).after, filled]
    for orders, account in ((ended, "mm"), ([], "mm"), ([buy, sell], "someone-else")):
        e = api_err(reprice, orders, available="1000", account=account)
        assert (e.code, e.error) == ("PAIR_NOT_PENDING", "找不到 pairId=P 的 pending 流動性訂單")


def test_reprice_of_one_sided_pair_is_incomplete():
    buy, sell = old_pair()
    for orders in ([buy], [sell], [buy, buy]):
        e = api_err(reprice, orders, available="1000")
        assert (e.code, e.error) == ("PAIR_INCOMPLETE", "pairId=P 的訂單不完整")


def test_reprice_checks_symbol_precision_when_given():
    assert api_err(reprice, old_pair(), available="1000", bid="70010.001", spec=BTC).code == "INVALID_PRICE"


def test_cancel_pair():
    buy, sell = old_pair()
    c = plan_pair_cancel(account_id="mm", pair_id="P", orders=[sell, buy])
    assert c.account_delta.frozen_margin == D("-700.005")
    assert c.response() == {"pairId": "P", "cancelledOrderIds": ["B", "S"]}
    done = [ch.after for ch in c.cancelled]
    assert api_err(plan_pair_cancel, account_id="mm", pair_id="P", orders=done).code == "PAIR_NOT_PENDING"
    assert api_err(plan_pair_cancel, account_id="x", pair_id="P", orders=[buy, sell]).code == "PAIR_NOT_PENDING"


def test_thirty_plans_from_one_read_carry_the_before_image_so_a_compare_and_swap_applies_only_one():
    """Sequential, pure logic: thirty reprice plans made from the same read each carry the `before` image that the
    storage layer conditions on. Replaying them in order through a compare-and-swap written here (standing in for
    DynamoDB's condition): exactly one applies. The real concurrent race is in test_race_reprice.py."""
    stored = {o.order_id: o for o in old_pair()}
    plans = [reprice(list(stored.values()), available="1", new_pair_id=f"N{i}") for i in range(30)]
    applied = 0
    for plan in plans:
        if all(stored.get(c.after.order_id) == c.before for c in plan.orders):
            for c in plan.orders:
                stored[c.after.order_id] = c.after
            applied += 1
    assert applied == 1
    # and planned afterwards, against the new state, every late reprice is PAIR_NOT_PENDING
    assert api_err(reprice, list(stored.values()), available="1").code == "PAIR_NOT_PENDING"


def test_orders_are_plain_values():
    o = old_pair()[0]
    assert isinstance(o, Order) and o.frozen_margin == o.margin == D("350")

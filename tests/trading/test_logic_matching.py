"""The matching model (chalicelib/trading/matching.py): placement, matching checks, liquidation, depth."""
import random
from decimal import Decimal as D

import pytest

from chalicelib.common.errors import Rejected
from chalicelib.trading.margin import ZERO, AccountDelta, SymbolSpec, check_available, order_margin
from chalicelib.trading.matching import (HOUSE, MissingState, Needs, aggregate_depth, best_bid_ask, check_needs,
                                         crossing_orders, order_needs, plan_check, plan_order)
from chalicelib.trading.orders import (CANCELLED, FILLED, LIMIT, LIQUIDITY, MARKET, PENDING, REJECTED, TRADER, Order,
                                       cancel_order)
from chalicelib.trading.pairs import RepriceRequest, plan_pair, plan_pair_cancel, plan_reprice
from chalicelib.trading.positions import FLAT, LONG, SHORT, Position, should_liquidate

SYM = "BTCUSDT"


def liq(order_id, side, price, t, acct, pair, qty="0.01", lev=1) -> Order:
    q, p = D(qty), D(price)
    return Order(order_id, acct, SYM, side, LIMIT, LIQUIDITY, q, p, lev, t, order_margin(q, p, lev), pair_id=pair)


def pair(n, bid, ask, t, acct, qty="0.01", lev=1):
    return [liq(f"b{n}", "buy", bid, t, acct, f"p{n}", qty, lev), liq(f"a{n}", "sell", ask, t, acct, f"p{n}", qty, lev)]


def trader(order_id, side, qty, price=None, lev=1, acct="tr", t=10, **kw) -> Order:
    typ = LIMIT if price is not None else MARKET
    q = D(qty)
    p = D(price) if price is not None else None
    return Order(order_id, acct, SYM, side, typ, TRADER, q, p, lev, t,
                 order_margin(q, p, lev) if p is not None else ZERO, **kw)


BOOK = pair(1, "69000", "70010", 2, "mm1") + pair(2, "69500", "70000", 3, "mm2") + pair(3, "69400", "70000", 1, "mm3")
FLATS = {a: Position() for a in ("tr", "mm1", "mm2", "mm3")}


def statuses(settlement):
    return {c.after.order_id: c.after.status for c in settlement.orders}


def test_market_buy_takes_best_price_then_oldest_then_reference():
    plan = plan_order(trader("t1", "buy", "0.05"), BOOK, D("69990"), FLATS)
    s = plan.settlement
    taker = [(f.price, f.quantity, f.counterparty, f.counterparty_order_id) for f in s.fills if f.order_id == "t1"]
    assert taker == [(D("70000"), D("0.01"), "liquidity", "a3"), (D("70000"), D("0.01"), "liquidity", "a2"),
                     (D("70010"), D("0.01"), "liquidity", "a1"), (D("69990"), D("0.02"), HOUSE, None)]
    # margin of a market order: quantity × best opposite price / leverage
    assert plan.order.margin == D("3500") and plan.required_margin == D("3500")
    assert plan.order.status == FILLED and plan.order.avg_fill_price == D("69998")
    # each maker fill ends its pair: the other side is cancelled and its margin released
    assert statuses(s) == {"t1": FILLED, "a3": FILLED, "b3": CANCELLED, "a2": FILLED, "b2": CANCELLED,
                           "a1": FILLED, "b1": CANCELLED}
    assert s.accounts["mm3"] == AccountDelta(frozen_margin=D("-1394"), position_margin=D("700"))
    assert s.positions["mm3"].after == Position(SHORT, D("0.01"), D("700"), D("700"), 1)
    assert s.positions["tr"].after.side == LONG and s.positions["tr"].after.quantity == D("0.05")
    assert s.accounts["tr"] == AccountDelta(position_margin=D("3500"))
    assert [f.order_id for f in s.fills if f.order_kind == LIQUIDITY] == ["a3", "a2", "a1"]
    assert s.orders[0].before is None and s.orders[0].after is plan.order


def test_market_order_margin_at_reference_without_liquidity():
    plan = plan_order(trader("t1", "sell", "0.01", lev=5), [], D("70000"), {"tr": Position()})
    assert plan.order.margin == D("140") and plan.order.status == FILLED
    assert plan.settlement.fills[0].counterparty == HOUSE and plan.settlement.fills[0].price == D("70000")
    assert plan.settlement.positions["tr"].after.margin == D("140")


def test_limit_buy_takes_asks_at_or_below_then_reference_if_it_satisfies_the_limit():
    plan = plan_order(trader("t1", "buy", "0.05", "70000"), BOOK, D("69990"), FLATS)
    fills = [(f.counterparty_order_id, f.price, f.quantity) for f in plan.settlement.fills if f.order_id == "t1"]
    assert fills == [("a3", D("70000"), D("0.01")), ("a2", D("70000"), D("0.01")), (None, D("69990"), D("0.03"))]
    assert plan.order.status == FILLED and plan.order.margin == D("3500")  # limit price × quantity
    assert "a1" not in statuses(plan.settlement)


def test_limit_rest_waits_when_the_reference_does_not_satisfy_it():
    plan = plan_order(trader("t1", "buy", "0.05", "70000"), BOOK, D("70500"), FLATS)
    o = plan.order
    assert o.status == PENDING and o.filled_quantity == D("0.02") and o.remaining == D("0.03")
    assert o.frozen_margin == D("2100")  # the rest's margin stays frozen
    assert plan.required_margin == D("3500")
    assert plan.settlement.accounts["tr"] == AccountDelta(frozen_margin=D("2100"), position_margin=D("1400"))
    # no reference price at all: the rest waits too
    assert plan_order(trader("t1", "buy", "0.05", "70000"), BOOK, None, FLATS).order.status == PENDING


def test_limit_sell_takes_bids_at_or_above():
    plan = plan_order(trader("t1", "sell", "0.03", "69400"), BOOK, None, FLATS)
    fills = [(f.counterparty_order_id, f.price) for f in plan.settlement.fills if f.order_id == "t1"]
    assert fills == [("b2", D("69500")), ("b3", D("69400"))]
    assert plan.order.status == PENDING and plan.order.remaining == D("0.01")
    # the sell limit at 69400 also fills its rest at a reference price >= 69400
    plan = plan_order(trader("t1", "sell", "0.03", "69400"), BOOK, D("69450"), FLATS)
    assert plan.order.status == FILLED and plan.settlement.fills[-1].price == D("69450")


def test_partial_maker_fill_cancels_the_rest_of_both_sides():
    book = pair(9, "99", "101", 1, "mm1", qty="5")
    plan = plan_order(trader("t1", "buy", "2"), book, None, {"tr": Position(), "mm1": Position()})
    a9 = next(c.after for c in plan.settlement.orders if c.after.order_id == "a9")
    assert a9.status == CANCELLED and a9.filled_quantity == 2 and a9.frozen_margin == 0
    assert statuses(plan.settlement)["b9"] == CANCELLED
    # the maker keeps 2/5 of the ask's margin in the position; everything else returns to available
    assert plan.settlement.accounts["mm1"] == AccountDelta(frozen_margin=-(D("495") + D("505")),
                                                           position_margin=D("202"))


def test_self_trade_is_skipped():
    book = pair(1, "99", "100", 1, "tr") + pair(2, "98", "101", 2, "mm1")
    plan = plan_order(trader("t1", "buy", "0.01", "101"), book, None, {"tr": Position(), "mm1": Position()})
    assert [f.counterparty_order_id for f in plan.settlement.fills if f.order_id == "t1"] == ["a2"]


def test_market_order_without_any_price_is_rejected():
    plan = plan_order(trader("t1", "buy", "1"), [], None, {"tr": Position()})
    assert plan.order.status == REJECTED and plan.error.code == "NO_PRICE" and plan.error.as_api_error().status == 400
    assert not plan.settlement.orders and plan.required_margin == 0


def test_market_order_rest_is_cancelled_without_reference():
    plan = plan_order(trader("t1", "buy", "0.05"), BOOK, None, FLATS)
    assert plan.order.status == CANCELLED and plan.order.filled_quantity == D("0.03") and plan.order.frozen_margin == 0
    # margin basis is the best ask (70000): each fill moves its share, 0.03 × 70000 into the position
    assert plan.required_margin == plan.settlement.accounts["tr"].position_margin == D("2100")


def test_max_liquidity_fills_caps_the_makers_and_the_rest_goes_to_the_reference():
    plan = plan_order(trader("t1", "buy", "0.05"), BOOK, D("69990"), FLATS, max_liquidity_fills=1)
    assert [f.counterparty_order_id for f in plan.settlement.fills if f.order_id == "t1"] == ["a3", None]
    plan = plan_order(trader("t1", "buy", "0.05"), BOOK, None, FLATS, max_liquidity_fills=0)
    assert plan.order.status == REJECTED and plan.error.code == "NO_LIQUIDITY"


def test_reducing_part_needs_no_margin_and_flip_needs_the_opening_part():
    long1 = Position.opened(LONG, D("1"), D("100"), D("100"), 1)
    plan = plan_order(trader("t1", "sell", "3"), [], D("110"), {"tr": long1})
    pc = plan.settlement.positions["tr"]
    assert plan.order.margin == D("330") and plan.required_margin == D("220")  # 2/3 of the fill opens a short
    assert pc.realized_pnl == D("10") and pc.after == Position(SHORT, D("2"), D("220"), D("220"), 1)
    assert plan.settlement.accounts["tr"] == AccountDelta(balance=D("10"), position_margin=D("120"))
    # a pure reduction requires nothing
    assert plan_order(trader("t1", "sell", "1"), [], D("90"), {"tr": long1}).required_margin == 0


def test_reduce_only_close_freezes_nothing_and_never_flips():
    long1 = Position.opened(LONG, D("1"), D("100"), D("100"), 1)
    close = trader("c1", "sell", "5", reduce_only=True)
    plan = plan_order(close, [], D("90"), {"tr": long1})
    assert plan.order.quantity == 1 and plan.order.margin == 0 and plan.required_margin == 0
    assert plan.settlement.positions["tr"].after.side == FLAT and plan.settlement.positions["tr"].realized_pnl == -10
    assert plan.settlement.accounts["tr"] == AccountDelta(balance=D("-10"), position_margin=D("-100"))
    wrong = plan_order(trader("c1", "buy", "1", reduce_only=True), [], D("90"), {"tr": long1})
    assert wrong.order.status == REJECTED and wrong.error.code == "NO_POSITION"


def test_missing_state_is_reported_not_guessed():
    with pytest.raises(MissingState) as e:
        plan_order(trader("t1", "buy", "0.02"), BOOK, None, {"tr": Position()})
    assert e.value.needs == Needs(frozenset({"mm2", "mm3"}), frozenset())
    assert order_needs(trader("t1", "buy", "0.02"), BOOK) == Needs(frozenset({"tr", "mm2", "mm3"}),
                                                                    frozenset({"p2", "p3"}))
    asks_only = [o for o in BOOK if o.side == "sell"]
    with pytest.raises(MissingState) as e:
        plan_order(trader("t1", "buy", "0.02"), asks_only, None, FLATS)
    assert e.value.needs.pair_ids == {"p2", "p3"}
    plan = plan_order(trader("t1", "buy", "0.02"), asks_only, None, FLATS, require_partners=False)
    assert plan.order.status == FILLED


# ---- matching checks ------------------------------------------------------------------------------------


CHECK_ORDERS = [trader("tb", "buy", "1", "100", t=1), trader("ts", "sell", "1", "120", t=2, acct="tr2"),
                *pair(1, "95", "125", 3, "mm1", qty="1"), *pair(2, "105", "130", 4, "mm2", qty="1")]
CHECK_POS = {a: Position() for a in ("tr", "tr2", "mm1", "mm2")}


def test_check_fills_crossing_orders_at_their_own_price():
    plan = plan_check(D("100"), CHECK_ORDERS, CHECK_POS)
    assert [s.kind for s in plan] == ["fill", "fill"]
    fills = [(f.order_id, f.price, f.quantity, f.counterparty) for s in plan for f in s.fills]
    assert fills == [("tb", D("100"), D("1"), HOUSE), ("b2", D("105"), D("1"), HOUSE)]
    assert statuses(plan[1]) == {"b2": FILLED, "a2": CANCELLED}
    assert plan[1].accounts["mm2"] == AccountDelta(frozen_margin=D("-235"), position_margin=D("105"))
    assert [o.order_id for o in crossing_orders(D("100"), CHECK_ORDERS)] == ["tb", "b2"]


def test_check_rules_at_the_edges():
    # buy: P <= limit; sell: P >= limit; liquidity bid: P <= bid; ask: P >= ask
    ids = lambda p: [o.order_id for o in crossing_orders(D(p), CHECK_ORDERS)]  # noqa: E731
    assert ids("100") == ["tb", "b2"]
    assert ids("100.01") == ["b2"]
    assert ids("105") == ["b2"]
    assert ids("119.99") == []
    assert ids("120") == ["ts"]
    assert ids("125") == ["ts", "a1"]
    assert ids("130") == ["ts", "a1", "a2"]
    assert ids("95") == ["tb", "b1", "b2"]


def test_check_needs():
    assert check_needs(D("125"), CHECK_ORDERS) == Needs(frozenset({"tr2", "mm1"}), frozenset({"p1"}))
    with pytest.raises(MissingState):
        plan_check(D("125"), CHECK_ORDERS, {"tr2": Position()})


def test_check_liquidates_positions_whose_loss_reaches_margin():
    positions = {"x": Position.opened(LONG, D("1"), D("100"), D("10"), 10),
                 "y": Position.opened(SHORT, D("1"), D("100"), D("10"), 10),
                 "z": Position.opened(LONG, D("1"), D("95"), D("10"), 10)}
    plan = plan_check(D("90"), [], positions)
    assert [(s.kind, list(s.positions)) for s in plan] == [("liquidation", ["x"])]
    s = plan[0]
    assert s.fills[0].liquidation and s.fills[0].side == "sell" and s.fills[0].price == D("90")
    assert s.fills[0].order_id is None and s.fills[0].counterparty == HOUSE
    assert s.accounts["x"] == AccountDelta(balance=D("-10"), position_margin=D("-10"))
    assert [list(s.positions) for s in plan_check(D("110"), [], positions)] == [["y"]]
    assert plan_check(D("100"), [], positions) == []


def test_check_liquidates_after_the_fills_of_the_same_check():
    # mm's bid at 100 (leverage 50: margin 2) fills at P = 98: long 1 @ 100 whose loss (2) reaches its margin
    orders = pair(1, "100", "140", 1, "mm", qty="1", lev=50)
    plan = plan_check(D("98"), orders, {"mm": Position()})
    assert [s.kind for s in plan] == ["fill", "liquidation"]
    opened = plan[0].positions["mm"].after
    assert opened == Position(LONG, D("1"), D("100"), D("2"), 50) and plan[1].positions["mm"].before == opened
    assert plan[1].positions["mm"].after.side == FLAT and plan[1].accounts["mm"].balance == D("-2")
    # and a fill can also save a position: adding at 91 spreads the loss over more margin
    saved = plan_check(D("90"), [liq("b", "buy", "91", 1, "tr", "p", qty="1", lev=10),
                                 liq("a", "sell", "140", 1, "tr", "p", qty="1", lev=10)],
                       {"tr": Position.opened(LONG, D("1"), D("100"), D("10"), 10)})
    assert [s.kind for s in saved] == ["fill"]


def test_both_sides_of_an_inverted_pair_fill_only_once():
    orders = [liq("b", "buy", "101", 1, "mm", "p"), liq("a", "sell", "99", 2, "mm", "p")]  # bad data: bid > ask
    plan = plan_check(D("100"), orders, {"mm": Position()})
    assert len(plan) == 1 and statuses(plan[0]) == {"b": FILLED, "a": CANCELLED}


# ---- depth ----------------------------------------------------------------------------------------------


def test_depth_aggregates_pending_liquidity_by_price():
    orders = [*pair(1, "99", "101", 1, "a", qty="1"), *pair(2, "99.0", "102", 2, "b", qty="2"),
              *pair(3, "98", "101", 3, "c", qty="0.5"), trader("t", "buy", "7", "100"),
              cancel_order(liq("x", "buy", "99.5", 1, "d", "px")).after]
    assert aggregate_depth(orders) == {"bids": [[D("99"), D("3")], [D("98"), D("0.5")]],
                                       "asks": [[D("101"), D("1.5")], [D("102"), D("2")]]}
    assert aggregate_depth(orders, 1) == {"bids": [[D("99"), D("3")]], "asks": [[D("101"), D("1.5")]]}
    assert best_bid_ask(orders) == (D("99"), D("101")) and best_bid_ask([]) == (None, None)


# ---- randomised: an in-memory store that applies plans the way the storage layer will ---------------------


class Store:
    """Applies settlements with optimistic checks (before == stored), like a DynamoDB transaction would."""

    def __init__(self, accounts, cash=D("500")):
        self.cash = cash
        self.balance = {a: cash for a in accounts}
        self.balance[HOUSE] = D(0)
        self.frozen = {a: D(0) for a in accounts}
        self.pmargin = {a: D(0) for a in accounts}
        self.orders: dict[str, Order] = {}
        self.positions = {a: Position() for a in accounts}
        self.absorbed = D(0)

    def available(self, a):
        return self.balance[a] - self.frozen[a] - self.pmargin[a]

    def apply_orders(self, changes):
        for c in changes:
            assert self.orders.get(c.after.order_id) == c.before
            self.orders[c.after.order_id] = c.after

    def apply(self, s):
        self.apply_orders(s.orders)
        for a, pc in s.positions.items():
            assert self.positions[a] == pc.before
            self.positions[a] = pc.after
            self.balance[HOUSE] -= pc.realized_pnl  # the ledger's counter-entry: entries of a txn sum to zero
            self.absorbed += pc.absorbed_loss
        for a, d in s.accounts.items():
            self.balance[a] += d.balance
            self.frozen[a] += d.frozen_margin
            self.pmargin[a] += d.position_margin

    def check(self):
        for a in self.frozen:
            open_frozen = sum((o.frozen_margin for o in self.orders.values() if o.account_id == a and o.is_open), D(0))
            assert self.frozen[a] == open_frozen  # frozen margin == the sum over open orders
            assert all(o.frozen_margin == 0 for o in self.orders.values() if not o.is_open)
            assert self.pmargin[a] == self.positions[a].margin >= 0
            assert self.available(a) >= 0, a
        assert sum(self.balance.values()) == self.cash * len(self.frozen)  # money is neither created nor lost


def test_random_orders_pairs_reprices_checks_and_liquidations_keep_the_books():
    rng = random.Random(424242)
    accounts = [f"u{i}" for i in range(6)]
    spec = SymbolSpec(SYM, 2, 3, D("0.001"), 50)
    kinds = dict.fromkeys(("liquidation", "fill", "order", "reprice", "absorbed", "insufficient"), 0)
    for _ in range(30):
        st = Store(accounts)
        ref, seq = D("100"), 0
        for step in range(120):
            seq += 1
            a = rng.choice(accounts)
            r = rng.random()
            open_orders = [o for o in st.orders.values() if o.is_open]
            try:
                if r < 0.3:  # a liquidity pair
                    bid = ref - D(rng.randint(1, 300)).scaleb(-2)
                    ask = ref + D(rng.randint(1, 300)).scaleb(-2)
                    p = plan_pair(account_id=a, spec=spec, pair_id=f"p{seq}", bid_price=bid, ask_price=ask,
                                  quantity=D(rng.randint(1, 3000)).scaleb(-3), leverage=rng.randint(1, 50),
                                  available=st.available(a), buy_order_id=f"b{seq}", sell_order_id=f"s{seq}", now=seq)
                    st.apply_orders(p.orders)
                    st.frozen[a] += p.account_delta.frozen_margin
                elif r < 0.45:  # a reprice of one of a's pairs
                    mine = sorted({o.pair_id for o in open_orders if o.account_id == a and o.kind == LIQUIDITY})
                    if not mine:
                        continue
                    pid = rng.choice(mine)
                    bid = ref - D(rng.randint(1, 300)).scaleb(-2)
                    ask = bid + D(rng.randint(1, 500)).scaleb(-2)
                    p = plan_reprice(account_id=a, request=RepriceRequest(pid, bid, ask),
                                     orders=open_orders, available=st.available(a), new_pair_id=f"p{seq}",
                                     buy_order_id=f"b{seq}", sell_order_id=f"s{seq}", now=seq)
                    st.apply_orders(p.orders)
                    st.frozen[a] += p.account_delta.frozen_margin
                    kinds["reprice"] += 1
                elif r < 0.5:  # cancel a pair
                    mine = sorted({o.pair_id for o in open_orders if o.account_id == a and o.kind == LIQUIDITY})
                    if not mine:
                        continue
                    c = plan_pair_cancel(account_id=a, pair_id=rng.choice(mine), orders=open_orders)
                    st.apply_orders(c.cancelled)
                    st.frozen[a] += c.account_delta.frozen_margin
                elif r < 0.8:  # a trader order
                    side = rng.choice(["buy", "sell"])
                    qty = D(rng.randint(1, 2000)).scaleb(-3)
                    price = None if rng.random() < 0.4 else ref + D(rng.randint(-200, 200)).scaleb(-2)
                    o = trader(f"t{seq}", side, qty, price, lev=rng.randint(1, 50), acct=a, t=seq,
                               reduce_only=rng.random() < 0.1)
                    book = [x for x in open_orders if x.kind == LIQUIDITY]
                    plan = plan_order(o, book, ref if rng.random() < 0.9 else None, st.positions,
                                      max_liquidity_fills=rng.choice([None, 2]))
                    if plan.error:
                        continue
                    check_available(st.available(a), plan.required_margin)
                    st.apply(plan.settlement)
                    kinds["order"] += 1
                else:  # the price moves and a matching check runs
                    ref = max(D("1"), ref * (1 + D(rng.randint(-800, 800)) / 10000)).quantize(D("0.01"))
                    for s in plan_check(ref, open_orders, st.positions):
                        st.apply(s)
                        kinds[s.kind] += 1
                    assert not any(should_liquidate(p, ref) for p in st.positions.values())
            except Rejected as e:
                assert e.code == "INSUFFICIENT_MARGIN", e.code
                kinds["insufficient"] += 1
            st.check()
        kinds["absorbed"] += st.absorbed > 0
    assert all(kinds.values()), kinds  # every path was exercised

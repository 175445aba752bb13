"""A randomised run (fixed seed) of pairs, reprices, cancels, trader orders, closes, price moves, matching checks
and liquidations on DynamoDB Local, checking after every step group: the ledger sums to zero and matches every
balance, no availableBalance is negative, frozen margin == Σ open orders' frozen margin, position margin ==
Σ positions' margin, and pairs agree with their orders."""
import random
from collections import Counter
from decimal import Decimal as D

from chalicelib.common.errors import ApiError
from chalicelib.trading import service, store
from tests.helpers import Api
from tests.trading.conftest import SYM, assert_invariants

EXPECTED = {"INSUFFICIENT_MARGIN", "PAIR_NOT_PENDING", "ORDER_NOT_PENDING", "NO_PRICE", "NOT_FOUND",
            "NO_LIQUIDITY", "NO_POSITION"}


def test_random_trading_keeps_every_invariant(ddb_client):
    rng = random.Random(20240501)
    api = Api(ddb_client)
    admin = api.admin_token()
    makers, traders = [], []
    for group, n, amount in ((makers, 3, 20000), (traders, 5, 1500)):
        for _ in range(n):
            token, uid = api.register()
            api.credit(admin, uid, amount)
            group.append(uid)
    price = D(70000)

    def push(p):
        r = api.post("/api/broker/price-feed", {"symbol": SYM, "price": p}, token=admin)
        assert r.status == 200, r

    push(price)
    stats, errors = Counter(), Counter()

    def q(lo, hi):  # a quantity with the symbol's 4 decimals
        return D(rng.randint(lo, hi)) / 10000

    def p(x):  # a price with 2 decimals
        return D(x).quantize(D("0.01"))

    def pending_pairs(uid):
        return [x.pair_id for x in store.list_pairs(uid, status="pending", limit=100)[0]]

    def pending_orders(uid):
        return [x.order_id for x in store.list_orders(uid, status="pending", kind="trader", limit=100)[0]]

    for step in range(260):
        op = rng.choices(["pair", "reprice", "cancel_pair", "delete_liq", "market", "limit", "cancel", "close",
                          "move"], weights=[14, 14, 4, 2, 14, 10, 4, 5, 12])[0]
        try:
            if op == "pair":
                uid = rng.choice(makers)
                half = p(price * D(rng.randint(5, 200)) / 10000)
                mid = p(price * (1 + D(rng.randint(-30, 30)) / 10000))
                service.place_pair(uid, symbol=SYM, bid_price=mid - half, ask_price=mid + half,
                                   quantity=q(10, 300), leverage=rng.choice([1, 2, 5, 10]))
            elif op == "reprice":
                uid = rng.choice(makers)
                ids = pending_pairs(uid)
                if ids:
                    half = p(price * D(rng.randint(5, 200)) / 10000)
                    mid = p(price * (1 + D(rng.randint(-30, 30)) / 10000))
                    service.reprice(uid, {"pairId": rng.choice(ids), "newBidPrice": mid - half,
                                          "newAskPrice": mid + half})
            elif op == "cancel_pair":
                uid = rng.choice(makers)
                ids = pending_pairs(uid)
                if ids:
                    service.cancel_pair(uid, rng.choice(ids))
            elif op == "delete_liq":
                uid = rng.choice(makers)
                items = store.list_orders(uid, status="pending", kind="liquidity", limit=20)[0]
                if items:
                    service.cancel_trader_or_pair_order(uid, rng.choice(items).order_id)
            elif op == "market":
                service.place_order(rng.choice(traders), symbol=SYM, side=rng.choice(["buy", "sell"]),
                                    type="market", quantity=q(10, 400), leverage=rng.choice([1, 5, 20, 50]))
            elif op == "limit":
                side = rng.choice(["buy", "sell"])
                off = D(rng.randint(-40, 150)) / 10000
                limit = p(price * (1 - off) if side == "buy" else price * (1 + off))
                service.place_order(rng.choice(traders), symbol=SYM, side=side, type="limit", quantity=q(10, 300),
                                    price=limit, leverage=rng.choice([1, 5, 20, 50]))
            elif op == "cancel":
                uid = rng.choice(traders)
                ids = pending_orders(uid)
                if ids:
                    service.cancel_trader_or_pair_order(uid, rng.choice(ids))
            elif op == "close":
                uid = rng.choice(traders + makers)
                pos = store.open_positions(uid)
                if pos:
                    service.close_position(uid, rng.choice(pos).position_id)
            elif op == "move":
                jump = rng.random() < 0.2
                change = D(rng.randint(-600, 600) if jump else rng.randint(-60, 60)) / 10000
                price = p(max(D(1000), price * (1 + change)))
                push(price)
                r = service.run_matching_check(SYM)
                stats["fills"] += r.fills
                stats["liquidations"] += r.liquidations
                stats["lost"] += r.lost
            stats[op] += 1
        except ApiError as e:
            assert e.code in EXPECTED, (op, e.status, e.code, e.error)
            errors[e.code] += 1
        if step % 65 == 64:
            assert_invariants()
    v = assert_invariants()
    print(dict(stats), dict(errors), v["sum"], v["system"])
    assert stats["fills"] > 5 and stats["liquidations"] >= 1, (stats, errors)
    assert stats["reprice"] > 10 and stats["market"] > 10

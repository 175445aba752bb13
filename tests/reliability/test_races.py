"""Races on DynamoDB Local (AWS's own engine) that the capability suites do not already run. Requests go through
Chalice's LocalGateway from many threads at once, as the local stack serves them.

Already covered elsewhere (not repeated here; docs/reliability.md lists them):
- tests/trading/test_race_reprice.py: 30 concurrent reprices of one pair (exactly one wins); takers, reprices,
  cancels and matching checks all at once (books exact);
- tests/broker/test_concurrency_ddb_local.py: racing v1 deposits never overdraw the broker; parallel retries of
  one deposit with one Idempotency-Key apply once;
- tests/withdrawals/test_races_ddb_local.py: ten brokers lock one withdrawal (one wins); a lock and the user's
  cancel (one wins).

Added here: one chain transaction hash settling one withdrawal from many pollers and two withdrawals at once
(settled once), one admin credit retried in parallel with one Idempotency-Key (applied once, with the key now
riding in the money transaction), concurrent cancels of one order and closes of one position (released once),
withdrawals racing orders for the same available balance (no double spend across capabilities), and orders
placed while matching checks run (each order filled at most once, the books exact).
"""
import threading
import time
import types
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from chalicelib.common import jsonutil
from tests.reliability.test_faults import V1, WALLET_B, WALLET_U, W
from tests.trading.conftest import assert_invariants

pytestmark = pytest.mark.timeout(300)
RACES = {"races": 0}


@pytest.fixture
def gateway(ddb_client):
    from chalice.config import Config
    from chalice.local import LocalGateway

    from app import app
    from local.stack import _per_thread_request_state
    if not getattr(type(app), "_broker_tests_per_thread", False):
        _per_thread_request_state(app)
        type(app)._broker_tests_per_thread = True
    gw = LocalGateway(app, Config())

    def call(method, path, body=None, token=None, key=None, headers=None):
        h = {"Content-Type": "application/json", **(headers or {})}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if key:
            h["X-API-Key"] = key
        r = gw.handle_request(method=method, path=path, headers=h,
                              body=jsonutil.dumps(body).encode() if body is not None else b"")
        return r["statusCode"], (jsonutil.loads(r["body"]) if r["body"] else None)
    return call


@pytest.fixture
def w(ddb_client):
    return W(ddb_client)


def race(fns):
    RACES["races"] += 1
    barrier = threading.Barrier(len(fns))

    def run(fn):
        barrier.wait()
        return fn()
    with ThreadPoolExecutor(len(fns)) as pool:
        return list(pool.map(run, fns))


def _no_5xx(results):
    assert all(s < 500 for s, _ in results), results


def _locked_withdrawal(w, b, amount=50):
    tok, uid = w.account(300)
    r = w.api.post("/api/withdrawals", {"amount": Decimal(amount), "walletAddress": WALLET_U}, token=tok)
    assert r.status == 201, r
    wid = r.json["id"]
    assert w.api.post(f"{V1}/withdrawal/{wid}/lock", key=b.key).status == 200
    return uid, wid


def test_one_transaction_hash_settles_once_from_many_pollers(w):
    from chalicelib.ledger import check
    from chalicelib.withdrawals import flows, poller, store as wd_store
    b = w.broker(credit=0, wallet=WALLET_B)
    _, w1 = _locked_withdrawal(w, b)
    _, w2 = _locked_withdrawal(w, b)
    log = types.SimpleNamespace(tx_hash="0x" + uuid.uuid4().hex * 2, log_index=0, block_number=9,
                                amount=Decimal("49.5"))
    facts = [poller.lock_facts(wd_store.get(x, consistent=True)) for x in (w1, w2)]
    results = race([lambda f=facts[i % 2]: flows.settle(f, log) for i in range(8)])
    assert results.count(True) == 1, results  # one hash, one settlement, whichever withdrawal it was
    statuses = sorted(wd_store.get(x, consistent=True).status for x in (w1, w2))
    assert statuses == ["broker_completed", "broker_locked"], statuses
    v = check.verify()
    assert v["ok"], v["problems"]
    broker = w.api.me(b.token)
    assert Decimal(str(broker["balance"])) == Decimal("49.5")  # credited once: the net amount it paid on chain
    assert_invariants()


def test_parallel_credit_retries_with_one_key_apply_once(w, gateway):
    _, uid = w.account(0)
    headers = {"Idempotency-Key": "credit-" + uuid.uuid4().hex}

    def retrying():
        for _ in range(200):
            s, body = gateway("POST", f"/api/admin/accounts/{uid}/credit", {"amount": 7}, token=w.admin,
                              headers=headers)
            if not (s == 409 and body["code"] == "IDEMPOTENCY_IN_PROGRESS"):
                return s, body
            time.sleep(0.02)
        return "gave up", None
    results = race([retrying] * 10)
    assert [s for s, _ in results] == [201] * 10, results
    assert len({b["txnId"] for _, b in results}) == 1
    from chalicelib.accounts import store
    assert store.get(uid, consistent=True).balance == 7
    assert_invariants()


def test_concurrent_cancels_of_one_order_release_once(w, gateway):
    sym = w.symbol()
    w.push(sym, 100)
    tok, uid = w.account(1000)
    oid = w.order(tok, sym, "buy", "2", 90).json["orderId"]
    results = race([lambda: gateway("DELETE", f"/api/orders/{oid}", token=tok)] * 10)
    _no_5xx(results)
    assert [s for s, _ in results].count(200) == 1, results
    me = w.api.me(tok)
    assert Decimal(str(me["frozenMargin"])) == 0 and Decimal(str(me["availableBalance"])) == 1000
    assert_invariants()


def test_concurrent_closes_of_one_position_close_once(w, gateway):
    sym = w.symbol()
    w.push(sym, 100)
    mm, _ = w.account(5000)
    w.pair(mm, sym, 99, 101, qty="1")
    w.pair(mm, sym, 98, 102, qty="1")
    tok, uid = w.account(1000)
    assert w.order(tok, sym, "buy", "0.5").status == 201
    pid = w.api.get("/api/positions", token=tok).json[0]["positionId"]
    results = race([lambda: gateway("POST", f"/api/positions/{pid}/close", token=tok)] * 8)
    _no_5xx(results)
    assert [s for s, _ in results].count(200) == 1, results
    assert w.api.get("/api/positions", token=tok).json == []
    assert Decimal(str(w.api.me(tok)["positionMargin"])) == 0
    assert_invariants()


def test_withdrawals_and_orders_race_for_one_balance(w, gateway):
    sym = w.symbol()
    w.push(sym, 100)
    tok, uid = w.account(100)  # room for exactly one of: a 60 withdrawal, a 60-margin order
    wd = lambda: gateway("POST", "/api/withdrawals", {"amount": 60, "walletAddress": WALLET_U}, token=tok)  # noqa
    od = lambda: gateway("POST", "/api/orders", {"symbol": sym, "side": "buy", "type": "limit",  # noqa: E731
                                                 "quantity": Decimal("0.6"), "price": 100, "leverage": 1},
                         token=tok)
    results = race([wd, od] * 5)
    _no_5xx(results)
    wins = [s for s, _ in results if s in (200, 201)]
    assert len(wins) == 1, results
    me = w.api.me(tok)
    assert Decimal(str(me["availableBalance"])) == 40
    assert_invariants()


def test_orders_placed_while_matching_checks_run(w, gateway):
    from chalicelib.trading import service
    from chalicelib.trading.models import OrderItem
    sym = w.symbol()
    w.push(sym, 100)
    mm, _ = w.account(20000)
    for i in range(4):
        w.pair(mm, sym, 95 - i, 105 + i, qty="1")
    traders = [w.account(5000) for _ in range(4)]
    stop = threading.Event()

    def checker():
        n = 0
        while not stop.is_set():
            service.run_matching_check(sym)
            n += 1
        return 200, n

    def trader(tok, seed):
        out = []
        for j in range(5):
            side = "buy" if (seed + j) % 2 else "sell"
            price = 100 + (j - 2) if j % 2 else None
            body = {"symbol": sym, "side": side, "type": "limit" if price else "market",
                    "quantity": Decimal("0.2"), "leverage": 2}
            if price:
                body["price"] = price
            out.append(gateway("POST", "/api/orders", body, token=tok))
            if j == 2:
                w.push(sym, 100 + seed - 2)
        return out

    def pricer():
        for p in (97, 103, 99, 101, 100):
            w.push(sym, p)
            time.sleep(0.01)
        return 200, None

    with ThreadPoolExecutor(2) as pool:
        checks = [pool.submit(checker), pool.submit(checker)]
        results = race([lambda t=t, i=i: trader(t[0], i) for i, t in enumerate(traders)] + [pricer])
        stop.set()
        assert all(c.result()[1] >= 1 for c in checks)
    flat = [r for rs in results[:-1] for r in rs]
    _no_5xx(flat)
    service.run_matching_check(sym)
    orders = list(OrderItem.scan(OrderItem.pk.startswith("ORDER#") & (OrderItem.symbol == sym)))
    assert len(orders) >= 8 + 10  # the 4 pairs' orders and the traders' accepted orders
    for o in orders:
        assert Decimal(0) <= o.filled_quantity <= o.quantity, (o.order_id, o.filled_quantity, o.quantity)
        assert (o.status == "filled") == (o.filled_quantity == o.quantity) or o.status == "cancelled", o.order_id
    assert_invariants()


def test_zz_print_race_figures():
    print(f"\nRACE FIGURES: races={RACES['races']}")

"""A Hypothesis rule-based state machine over the real app (moto, chalice test client): credits, v1 deposits,
price ticks, trader orders (limit and market), liquidity pairs, reprices, cancels, matching checks, closes, and
withdrawals (request, cancel, lock, unlock, the cooling timer and the platform's completion).

After every step: the ledger sums to zero per transaction and overall, each balance equals its entries, no
available balance, frozen or position margin is negative, frozen margin equals what open orders hold and position
margin what open positions hold, pairs agree with their orders (tests/reliability/test_faults.table_invariants,
the one-scan form of tests/trading/conftest.assert_invariants), and no answer is a 5xx.

CI size: STATEFUL_EXAMPLES (default 3) runs of STATEFUL_STEPS (default 15) steps; a long run:
`STATEFUL_EXAMPLES=50 STATEFUL_STEPS=60 pytest tests/reliability/test_stateful.py`.
"""
import os
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, \
    run_state_machine_as_test

from chalicelib.common import clock
from tests.reliability.test_faults import V1, WALLET_B, WALLET_U, W, table_invariants
from tests.trading.conftest import assert_invariants

pytestmark = pytest.mark.timeout(600)
EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "3"))
STEPS = int(os.environ.get("STATEFUL_STEPS", "15"))
STATS = {"steps": 0, "invariant_checks": 0, "answers": {}}
_world: dict = {}

prices = st.integers(min_value=90, max_value=110).map(Decimal)
qtys = st.sampled_from([Decimal("0.1"), Decimal("0.5"), Decimal("1")])
amounts = st.sampled_from([Decimal("5"), Decimal("20.5"), Decimal("100"), Decimal("2000")])


def _ok(r):
    STATS["answers"][r.status] = STATS["answers"].get(r.status, 0) + 1
    assert r.status < 500, r
    if r.status >= 400:
        assert isinstance(r.json, dict) and r.json.get("code") and r.json.get("error"), r
    return r.status < 300


class Platform(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        w = self.w = _world["w"]
        self.sym = w.symbol()
        w.push(self.sym, 100)
        self.traders = [w.account(5000) for _ in range(2)]  # (token, uid)
        self.mm = w.account(5000)
        self.broker = w.broker(credit=3000, wallet=WALLET_B)
        self.client = w.client_of(self.broker, 500)
        self.orders: list[tuple[str, str]] = []  # (token, order id)
        self.pairs: list[str] = []
        self.withdrawals: list[tuple[str, str]] = []  # (token, id)

    # ---- money in ---------------------------------------------------------------------------------------
    @rule(i=st.integers(0, 1), amount=amounts)
    def credit(self, i, amount):
        _ok(self.w.api.post(f"/api/admin/accounts/{self.traders[i][1]}/credit", {"amount": amount},
                            token=self.w.admin))

    @rule(amount=amounts)
    def deposit(self, amount):
        _ok(self.w.api.post(f"{V1}/clients/{self.client['user_id']}/deposit", {"amount": amount},
                            key=self.broker.key, headers={"Idempotency-Key": uuid.uuid4().hex}))

    # ---- market -----------------------------------------------------------------------------------------
    @rule(price=prices)
    def tick(self, price):
        self.w.push(self.sym, price)

    @rule()
    def check(self):
        from chalicelib.trading import service
        service.run_matching_check(self.sym)

    @rule(i=st.integers(0, 1), side=st.sampled_from(["buy", "sell"]), qty=qtys,
          price=st.one_of(st.none(), prices), lev=st.sampled_from([1, 5, 20]))
    def order(self, i, side, qty, price, lev):
        tok = self.traders[i][0]
        body = {"symbol": self.sym, "side": side, "type": "market" if price is None else "limit",
                "quantity": qty, "leverage": lev}
        if price is not None:
            body["price"] = price
        r = self.w.api.post("/api/orders", body, token=tok)
        if _ok(r) and r.json.get("status") == "pending":
            self.orders.append((tok, r.json["orderId"]))

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def cancel_order(self, data):
        tok, oid = data.draw(st.sampled_from(self.orders))
        _ok(self.w.api.delete(f"/api/orders/{oid}", token=tok))

    @rule(bid=prices, spread=st.integers(1, 5), qty=qtys)
    def pair(self, bid, spread, qty):
        r = self.w.api.post("/api/liquidity/pairs", {"symbol": self.sym, "bidPrice": bid,
                                                     "askPrice": bid + spread, "quantity": qty, "leverage": 2},
                            token=self.mm[0])
        if _ok(r):
            self.pairs.append(r.json["pairId"])

    @precondition(lambda self: self.pairs)
    @rule(data=st.data(), bid=prices, spread=st.integers(1, 5))
    def reprice(self, data, bid, spread):
        pid = data.draw(st.sampled_from(self.pairs))
        _ok(self.w.api.post("/api/liquidity/reprice", {"pairId": pid, "newBidPrice": bid,
                                                       "newAskPrice": bid + spread}, token=self.mm[0]))

    @precondition(lambda self: self.pairs)
    @rule(data=st.data())
    def cancel_pair(self, data):
        pid = data.draw(st.sampled_from(self.pairs))
        _ok(self.w.api.post("/api/liquidity/cancel", {"pairId": pid}, token=self.mm[0]))

    @rule(i=st.integers(0, 1))
    def close(self, i):
        tok = self.traders[i][0]
        r = self.w.api.get("/api/positions", token=tok)
        assert r.status == 200, r
        for p in r.json[:1]:
            _ok(self.w.api.post(f"/api/positions/{p['positionId']}/close", token=tok))

    # ---- withdrawals ------------------------------------------------------------------------------------
    @rule(i=st.integers(0, 1), amount=amounts)
    def withdraw(self, i, amount):
        tok = self.traders[i][0]
        r = self.w.api.post("/api/withdrawals", {"amount": amount, "walletAddress": WALLET_U}, token=tok)
        if _ok(r):
            self.withdrawals.append((tok, r.json["id"]))

    @rule(amount=amounts)
    def v1_withdraw(self, amount):
        _ok(self.w.api.post(f"{V1}/clients/{self.client['user_id']}/withdraw", {"amount": amount},
                            key=self.broker.key))

    @precondition(lambda self: self.withdrawals)
    @rule(data=st.data())
    def withdraw_cancel(self, data):
        tok, wid = data.draw(st.sampled_from(self.withdrawals))
        _ok(self.w.api.post(f"/api/withdrawals/{wid}/cancel", token=tok))

    @precondition(lambda self: self.withdrawals)
    @rule(data=st.data())
    def lock(self, data):
        _, wid = data.draw(st.sampled_from(self.withdrawals))
        _ok(self.w.api.post(f"{V1}/withdrawal/{wid}/lock", key=self.broker.key))

    @precondition(lambda self: self.withdrawals)
    @rule(data=st.data())
    def unlock(self, data):
        _, wid = data.draw(st.sampled_from(self.withdrawals))
        _ok(self.w.api.post(f"{V1}/withdrawal/{wid}/unlock", key=self.broker.key))

    @precondition(lambda self: self.withdrawals)
    @rule(data=st.data())
    def cool_and_complete(self, data):
        from chalicelib.withdrawals import flows
        _, wid = data.draw(st.sampled_from(self.withdrawals))
        clock.advance(300_001)
        flows.run_timers()
        _ok(self.w.api.post(f"/api/admin/withdrawals/{wid}/complete", {"txHash": "0x" + uuid.uuid4().hex * 2},
                            token=self.w.admin))

    @invariant()
    def books_balance(self):
        if not hasattr(self, "w"):
            return
        STATS["steps"] += 1
        table_invariants()
        STATS["invariant_checks"] += 1

    def teardown(self):
        clock.reset()


def test_platform_state_machine_keeps_the_books(client):
    _world["w"] = W(client)
    try:
        run_state_machine_as_test(Platform, settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=not os.environ.get(
                "STATEFUL_RANDOM"), suppress_health_check=list(HealthCheck), database=None))
        assert_invariants()  # the shared pynamodb-based check once at the end
    finally:
        clock.reset()
        print(f"\nSTATEFUL FIGURES: examples={EXAMPLES} step_count={STEPS} steps_checked={STATS['steps']} "
              f"invariant_checks={STATS['invariant_checks']} answers={dict(sorted(STATS['answers'].items()))}")
    assert STATS["invariant_checks"] >= EXAMPLES

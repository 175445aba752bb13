"""Sandbox controls over the real app on moto: POST /api/sandbox/reset and the X-Sim-Fault header, on and off."""
from decimal import Decimal as D

import pytest

from chalicelib.realtime import handlers
from chalicelib.realtime import store as rt
from chalicelib.sandbox import routes as sandbox_routes
from chalicelib.sandbox import service
from chalicelib.storage.models import Account
from tests.helpers import Api
from tests.trading.conftest import SYM, World, assert_invariants


@pytest.fixture
def sandbox_on(monkeypatch):
    monkeypatch.setenv("SANDBOX", "on")
    monkeypatch.setenv("SANDBOX_START_BALANCE", "10000")


@pytest.fixture
def world(client):
    from chalicelib.marketdata import store as md
    md.clear_cache()
    return World(Api(client))


def fault(value):
    return {"X-Sim-Fault": value}


def test_reset_cancels_closes_restores_and_archives(sandbox_on, world):
    mm, mm_id = world.account(20000)
    other, other_id = world.account(5000)
    world.push(70000)
    assert world.pair(mm, 69990, 70010).status == 201
    assert world.pair(mm, 69980, 70020, qty="0.02").status == 201
    assert world.order(mm, "buy", "0.01", price=60000).status == 201          # a pending trader order
    filled = world.order(mm, "buy", "0.01")                                     # a position (house at 70,000)
    assert filled.status == 201 and filled.json["status"] == "filled", filled
    assert world.pair(other, 3490, 3510, qty="0.1", symbol="ETHUSDT").status == 201  # out of the close's way
    assert world.order(other, "buy", "0.01", price=60000).status == 201
    other_orders = world.api.get("/api/orders", token=other).json
    me = world.me(mm)
    assert D(str(me["frozenMargin"])) > 0 and world.api.get("/api/positions", token=mm).json

    r = world.api.post("/api/sandbox/reset", token=mm)
    assert r.status == 200, r
    assert r.json["ok"] is True and r.json["epoch"] == 1 and r.json["positionsLeft"] == []
    assert (r.json["cancelledPairs"], r.json["cancelledOrders"], r.json["closedPositions"]) == (2, 1, 1)
    me = world.me(mm)
    assert D(str(me["balance"])) == 10000 and D(str(me["availableBalance"])) == 10000
    assert D(str(me["frozenMargin"])) == 0
    assert world.api.get("/api/orders?status=pending", token=mm).json == []
    assert world.api.get("/api/liquidity/pairs?status=pending", token=mm).json == []
    assert world.api.get("/api/positions", token=mm).json == []
    # the old epoch's history is archived: not listed any more
    assert world.api.get("/api/orders", token=mm).json == []
    assert world.api.get("/api/trades", token=mm).json == []
    assert world.api.get("/api/liquidity/pairs", token=mm).json == []
    assert r.json["archived"]["orders"] == 7 and r.json["archived"]["fills"] == 2  # 2 pairs, limit, market, close
    assert_invariants()  # ledger sums to zero, balances = entries, margins = open orders/positions
    # the other account is untouched
    assert world.api.get("/api/orders", token=other).json == other_orders
    assert D(str(world.me(other)["balance"])) == 5000
    # a new epoch starts clean and a second reset gives it back again (above the start: money taken out)
    world.api.post(f"/api/admin/accounts/{mm_id}/credit", {"amount": D(7), "reference": "t"}, token=world.admin)
    assert world.pair(mm, 69990, 70010).status == 201
    assert len(world.api.get("/api/orders", token=mm).json) == 2
    r2 = world.api.post("/api/sandbox/reset", token=mm)
    assert r2.status == 200 and r2.json["epoch"] == 2 and D(str(r2.json["balanceAdjustment"])) == -7
    assert D(str(world.me(mm)["balance"])) == 10000 and world.api.get("/api/orders", token=mm).json == []
    assert_invariants()


def test_reset_needs_a_session(sandbox_on, world):
    r = world.api.post("/api/sandbox/reset")
    assert r.status == 401 and r.json["code"] == "SESSION_INVALID"


def test_status_faults_in_the_envelope_and_nothing_runs(sandbox_on, world):
    tr, _ = world.account(1000)
    world.push(70000)
    r = world.api.post("/api/orders", {"symbol": SYM, "side": "buy", "type": "market", "quantity": D("0.01")},
                       token=tr, headers=fault("status=500"))
    assert r.status == 500 and r.json["code"] == "SIMULATED_FAULT" and set(r.json) >= {"error", "code"}
    assert r.headers["X-Sim-Fault-Applied"] == "status=500"
    assert world.api.get("/api/orders", token=tr).json == []  # the route did not run
    r = world.api.get("/api/symbols", headers=fault("status=429"))
    assert r.status == 429 and r.headers["Retry-After"] == "1" and r.json["code"] == "SIMULATED_FAULT"
    r = world.api.get("/api/symbols", headers=fault("status=503, retry-after=7"))
    assert r.status == 503 and r.headers["Retry-After"] == "7"
    r = world.api.get("/api/symbols", headers=fault("status=400"))
    assert r.status == 400 and "Retry-After" not in r.headers
    # only the request that carries the header: the same caller without it is served normally
    assert world.api.get("/api/symbols").status == 200
    assert world.api.get("/api/orders", token=tr).status == 200


def test_malformed_fault_is_400_and_changes_nothing(sandbox_on, world):
    tr, _ = world.account(1000)
    for bad in ("status=200", "status=600", "latency=10001", "latency=-1", "latency=x", "explode", "drop-ws=1",
                "", " ", "status=500,,latency=1", "retry-after=99999"):
        r = world.api.post("/api/orders", {"symbol": SYM, "side": "buy", "type": "limit", "price": D(100),
                                           "quantity": D("0.01")}, token=tr, headers=fault(bad))
        assert r.status == 400 and r.json["code"] == "INVALID_SIM_FAULT", (bad, r)
    assert world.api.get("/api/orders", token=tr).json == []
    assert D(str(world.me(tr)["availableBalance"])) == 1000


def test_latency_fault_waits_then_answers(sandbox_on, world, monkeypatch):
    slept = []
    monkeypatch.setattr(sandbox_routes.time, "sleep", slept.append)
    r = world.api.get("/api/symbols", headers=fault("latency=250"))
    assert r.status == 200 and slept == [0.25] and r.headers["X-Sim-Fault-Applied"] == "latency=250"
    r = world.api.get("/api/symbols", headers=fault("latency=10000,status=503"))
    assert r.status == 503 and slept == [0.25, 10.0]
    assert world.api.get("/api/symbols").status == 200 and slept == [0.25, 10.0]  # no header, no wait


class FakeManagement:
    class exceptions:
        class GoneException(Exception):
            pass

    def __init__(self):
        self.deleted = []

    def delete_connection(self, ConnectionId):
        self.deleted.append(ConnectionId)


def test_drop_ws_drops_only_the_callers_connections(sandbox_on, world, monkeypatch):
    a, a_id = world.account(0)
    b, b_id = world.account(0)
    for cid, user in (("a1=", a_id), ("a2=", a_id), ("b1=", b_id), ("anon=", None)):
        handlers.on_connect(cid)
        if user:
            rt.set_user(cid, user)
    api = FakeManagement()
    monkeypatch.setattr(service.broadcaster, "_client", lambda: api)
    r = world.api.get("/api/accounts/me", token=a, headers=fault("drop-ws"))
    assert r.status == 200 and a_id in str(r.json)  # the request itself runs
    assert sorted(api.deleted) == ["a1=", "a2="] and r.headers["X-Sim-Dropped-Connections"] == "2"
    assert rt.get_connection("a1=") is None and rt.get_connection("a2=") is None
    assert rt.get_connection("b1=") is not None and rt.get_connection("anon=") is not None
    r = world.api.get("/api/symbols", headers=fault("drop-ws"))  # whose? no session: 401, nothing dropped
    assert r.status == 401 and r.json["code"] == "SESSION_INVALID" and sorted(api.deleted) == ["a1=", "a2="]


def test_sandbox_off_404_and_header_ignored(world, monkeypatch):
    monkeypatch.delenv("SANDBOX", raising=False)
    tr, _ = world.account(1000)
    for token in (None, tr):
        r = world.api.post("/api/sandbox/reset", token=token)
        assert r.status == 404 and r.json["code"] == "NOT_FOUND" and "error" in r.json
    assert D(str(world.me(tr)["balance"])) == 1000
    for value in ("status=500", "latency=10000", "drop-ws", "nonsense"):
        r = world.api.get("/api/symbols", headers=fault(value))
        assert r.status == 200 and "X-Sim-Fault-Applied" not in r.headers, value
    monkeypatch.setenv("SANDBOX", "off")
    assert world.api.post("/api/sandbox/reset", token=tr).status == 404


def test_start_balance_setting_and_system_accounts_untouched(sandbox_on, world, monkeypatch):
    monkeypatch.setenv("SANDBOX_START_BALANCE", "2500.5")
    tr, tr_id = world.account(0)
    r = world.api.post("/api/sandbox/reset", token=tr)
    assert r.status == 200 and D(str(r.json["balance"])) == D("2500.5")
    assert D(str(r.json["balanceAdjustment"])) == D("2500.5")
    assert Account.get(*Account.key(tr_id)).balance == D("2500.5")
    assert_invariants()

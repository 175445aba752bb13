"""Races on DynamoDB Local (AWS's own engine), requests through Chalice's LocalGateway from many threads at once as
the local stack serves them: 10 brokers lock one withdrawal (exactly one wins, the rest 409 with the guide's
string); a lock and the user's cancel race (exactly one wins, the money is where the winner says)."""
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from chalicelib.common import jsonutil
from tests.withdrawals.conftest import V1, ledger_ok

pytestmark = pytest.mark.timeout(300)
WALLET_U = "0x" + "1a" * 20


@pytest.fixture
def gateway(ddb_otc):
    from chalice.config import Config
    from chalice.local import LocalGateway

    from app import app
    from local.stack import _per_thread_request_state
    if not getattr(type(app), "_broker_tests_per_thread", False):
        _per_thread_request_state(app)
        type(app)._broker_tests_per_thread = True
    gw = LocalGateway(app, Config())

    def call(method, path, body=None, headers=None):
        h = {"Content-Type": "application/json", **(headers or {})}
        r = gw.handle_request(method=method, path=path, headers=h,
                              body=jsonutil.dumps(body).encode() if body is not None else b"")
        return r["statusCode"], (jsonutil.loads(r["body"]) if r["body"] else None)
    return call


def _race(fns):
    barrier = threading.Barrier(len(fns))

    def run(fn):
        barrier.wait()
        return fn()
    with ThreadPoolExecutor(len(fns)) as pool:
        return list(pool.map(run, fns))


def test_ten_brokers_lock_at_once_exactly_one_wins(ddb_otc, gateway):
    w = ddb_otc
    home = w.broker_with_wallet(None, credit=1000)
    client = w.funded_client(home, WALLET_U, 500)
    wd = w.withdraw(home, client, 100)
    brokers = [w.broker_with_wallet("0x" + f"{i + 16:02x}" * 20) for i in range(10)]
    results = _race([lambda b=b: gateway("POST", f"{V1}/withdrawal/{wd['id']}/lock", headers={"X-API-Key": b.key})
                     for b in brokers])
    wins = [i for i, (st, _) in enumerate(results) if st == 200]
    losses = [body for st, body in results if st != 200]
    assert len(wins) == 1, results
    assert [st for st, _ in results].count(409) == 9, results
    assert all(b["error"].startswith("此申請已被其他交易商搶定") and b["code"] == "WITHDRAWAL_ALREADY_LOCKED"
               for b in losses)
    from chalicelib.withdrawals import store
    got = store.get(wd["id"], consistent=True)
    assert got.status == "broker_locked" and got.locked_by == brokers[wins[0]].uid
    assert results[wins[0]][1]["userWalletAddress"].lower() == WALLET_U
    ledger_ok()


def test_lock_and_user_cancel_race_exactly_one_wins(ddb_otc, gateway):
    w = ddb_otc
    broker = w.broker_with_wallet("0x" + "2b" * 20)
    token, uid = w.api.register()
    w.api.credit(w.admin, uid, 1000)
    outcomes = []
    for _ in range(6):
        st, wd = gateway("POST", "/api/withdrawals", {"amount": 100, "walletAddress": WALLET_U},
                         {"Authorization": f"Bearer {token}"})
        assert st == 201, wd
        lock, cancel = _race([
            lambda: gateway("POST", f"{V1}/withdrawal/{wd['id']}/lock", headers={"X-API-Key": broker.key}),
            lambda: gateway("POST", f"/api/withdrawals/{wd['id']}/cancel", headers={"Authorization": f"Bearer {token}"}),
        ])
        assert sorted([lock[0] == 200, cancel[0] == 200]) == [False, True], (lock, cancel)
        from chalicelib.withdrawals import store
        final = store.get(wd["id"], consistent=True).status
        if lock[0] == 200:
            assert final == "broker_locked" and cancel[0] == 409
        else:
            assert final == "cancelled" and lock[0] == 409 and lock[1]["code"] == "INVALID_WITHDRAWAL_STATE"
        outcomes.append(final)
    rep = ledger_ok()
    locked = outcomes.count("broker_locked")
    assert rep["system"].get("system:withdrawals", 0) == Decimal(100) * locked  # escrow holds the locked ones only
    from chalicelib.accounts import store as accounts
    assert accounts.get(uid, consistent=True).balance == 1000 - 100 * locked

"""The withdrawal life cycle over the real app (moto): user request/list/cancel, the broker wallet, lock answers and
errors (exact strings), unlock, the 24 h release and the cooling transition driven by the controllable clock
(chalicelib.common.clock.advance) through the app's own schedule handler, the platform's payout; the ledger sums to
zero after every flow, the escrow account holds exactly the open requests."""
from decimal import Decimal

import pytest

from chalicelib.common import clock
from tests.withdrawals.conftest import V1, ledger_ok

pytestmark = pytest.mark.timeout(120)
WALLET_U = "0x" + "1a" * 20
WALLET_B = "0x" + "2b" * 20
HOUR = 3600 * 1000


def _timers(otc):
    """The app's schedule handler, invoked with an EventBridge event as Lambda would."""
    ev = {"version": "0", "id": "t", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
          "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": ["arn:aws:events:::rule/t"],
          "detail": {}}
    otc.client.lambda_.invoke("withdrawal_timers", ev)


@pytest.fixture
def trader(otc):
    token, uid = otc.api.register()
    otc.api.credit(otc.admin, uid, 200)
    return token, uid


def test_user_request_list_cancel(otc, trader):
    token, uid = trader
    r = otc.api.post("/api/withdrawals", {"amount": "50"}, token=token)
    assert r.status == 400 and r.json["code"] == "WALLET_REQUIRED"
    r = otc.api.post("/api/withdrawals", {"amount": "50", "walletAddress": WALLET_U}, token=token)
    assert r.status == 201, r
    w = r.json
    assert w["status"] == "pending" and w["amount"] == Decimal(50) and w["fee"] == Decimal("0.5")
    assert w["netAmount"] == Decimal("49.5") and w["walletAddress"].lower() == WALLET_U
    assert w["coolingEndsAt"] - w["createdAt"] == 300_000
    me = otc.api.me(token)
    assert Decimal(str(me["availableBalance"])) == 150 and Decimal(str(me["balance"])) == 150
    assert ledger_ok()["system"]["system:withdrawals"] == 50
    lst = otc.api.get("/api/withdrawals", token=token).json
    assert [x["id"] for x in lst["withdrawals"]] == [w["id"]]
    other, _ = otc.api.register()
    assert otc.api.post(f"/api/withdrawals/{w['id']}/cancel", token=other).status == 404
    r = otc.api.post(f"/api/withdrawals/{w['id']}/cancel", token=token)
    assert r.status == 200 and r.json["status"] == "cancelled"
    assert otc.api.post(f"/api/withdrawals/{w['id']}/cancel", token=token).status == 409
    assert Decimal(str(otc.api.me(token)["availableBalance"])) == 200
    assert ledger_ok()["system"]["system:withdrawals"] == 0
    r = otc.api.post("/api/withdrawals", {"amount": "500", "walletAddress": WALLET_U}, token=token)
    assert r.status == 400 and r.json["code"] == "INSUFFICIENT_BALANCE"


def test_lock_errors_and_answer(otc):
    home = otc.broker_with_wallet(None, credit=1000)
    c = otc.funded_client(home, WALLET_U, 300)
    w = otc.withdraw(home, c, 100)
    nowallet = otc.broker_with_wallet(None)
    r = otc.lock(nowallet, w["id"])
    assert r.status == 400 and r.json["error"].startswith("交易商帳號尚未綁定錢包地址")
    assert r.json["code"] == "BROKER_WALLET_NOT_BOUND"
    b1, b2 = otc.broker_with_wallet(WALLET_B), otc.broker_with_wallet("0x" + "3c" * 20)
    # the pool: amounts and deadlines, no identity or wallet
    pool = otc.api.get(f"{V1}/withdrawals/pending", key=b1.key).json["withdrawals"]
    mine = [p for p in pool if p["id"] == w["id"]][0]
    assert "walletAddress" not in mine and "userId" not in mine and "user_id" not in mine
    assert mine["netAmount"] == Decimal(99) and mine["coolingEndsAt"] == w["coolingEndsAt"]
    r = otc.lock(b1, w["id"])
    assert r.status == 200
    assert {k: r.json[k] for k in ("ok", "status", "timeoutHours")} == {"ok": True, "status": "broker_locked",
                                                                         "timeoutHours": 24}
    assert r.json["userWalletAddress"].lower() == WALLET_U and r.json["amount"] == Decimal(99)
    r = otc.lock(b2, w["id"])
    assert r.status == 409 and r.json["error"].startswith("此申請已被其他交易商搶定")
    assert r.json["code"] == "WITHDRAWAL_ALREADY_LOCKED"
    # the wallet is revealed to the lock holder only
    assert otc.api.get(f"{V1}/withdrawal/{w['id']}", key=b1.key).json["walletAddress"].lower() == WALLET_U
    assert otc.api.get(f"{V1}/withdrawal/{w['id']}", key=b2.key).status == 404
    assert otc.api.get(f"{V1}/withdrawals/pending", key=b2.key).json["withdrawals"] == []
    # no cancel while locked
    from chalicelib.withdrawals import flows
    with pytest.raises(Exception) as e:
        flows.cancel(c["account_id"], w["id"])
    assert e.value.status == 409 and e.value.code == "INVALID_WITHDRAWAL_STATE"
    # unlock: only the locker
    r = otc.api.post(f"{V1}/withdrawal/{w['id']}/unlock", key=b2.key)
    assert r.status == 409 and r.json["code"] == "NOT_LOCK_HOLDER"
    r = otc.api.post(f"{V1}/withdrawal/{w['id']}/unlock", key=b1.key)
    assert r.status == 200 and r.json["status"] == "pending"
    assert otc.status(w["id"]) == "pending"
    # after the cooling period: the platform took over (even before the timer ran)
    clock.advance(300_001)
    r = otc.lock(b2, w["id"])
    assert r.status == 400 and r.json["error"].startswith("冷靜期已結束")
    assert r.json["code"] == "COOLING_PERIOD_ENDED"
    ledger_ok()


def test_cooling_transition_and_platform_payout(otc):
    home = otc.broker_with_wallet(None, credit=1000)
    c = otc.funded_client(home, WALLET_U, 300)
    w = otc.withdraw(home, c, 100)
    clock.advance(299_000)
    _timers(otc)
    assert otc.status(w["id"]) == "pending"  # still cooling
    clock.advance(2_000)
    _timers(otc)
    assert otc.status(w["id"]) == "processing"
    q = otc.api.get("/api/admin/withdrawals?status=processing", token=otc.admin).json["withdrawals"]
    assert w["id"] in [x["id"] for x in q]
    assert otc.api.get("/api/admin/withdrawals", token=home.token).status == 403
    r = otc.api.post(f"/api/admin/withdrawals/{w['id']}/complete", {"txHash": "0x" + "ab" * 32}, token=otc.admin)
    assert r.status == 200 and r.json["status"] == "completed" and r.json["txHash"] == "0x" + "ab" * 32
    r = otc.api.post(f"/api/admin/withdrawals/{w['id']}/complete", {"txHash": "0x1"}, token=otc.admin)
    assert r.status == 409
    rep = ledger_ok()
    assert rep["system"]["system:withdrawals"] == 0 and rep["system"]["system:fees"] == 1
    assert rep["system"]["system:external"] <= -99  # 99 left the platform (credits came in from it)


def test_lock_released_after_24h_then_cooling_rule_applies(otc):
    home = otc.broker_with_wallet(None, credit=1000)
    c = otc.funded_client(home, WALLET_U, 300)
    w = otc.withdraw(home, c, 100)
    b = otc.broker_with_wallet(WALLET_B)
    assert otc.lock(b, w["id"]).status == 200
    clock.advance(23 * HOUR)
    _timers(otc)
    assert otc.status(w["id"]) == "broker_locked"  # not before 24 h, and never to processing while locked
    clock.advance(HOUR + 1000)
    _timers(otc)
    # released to pending; its cooling period is long over, so the same timer run hands it to the platform
    assert otc.status(w["id"]) in ("pending", "processing")
    _timers(otc)
    assert otc.status(w["id"]) == "processing"
    from chalicelib.withdrawals import store
    assert store.get(w["id"], consistent=True).locked_by is None
    ledger_ok()


def test_lock_released_within_cooling_goes_back_to_the_pool(otc, monkeypatch):
    monkeypatch.setenv("WITHDRAWAL_COOLING_SECONDS", str(48 * 3600))  # a long cooling period
    monkeypatch.setenv("WITHDRAWAL_LOCK_HOURS", "1")
    home = otc.broker_with_wallet(None, credit=1000)
    c = otc.funded_client(home, WALLET_U, 300)
    w = otc.withdraw(home, c, 100)
    b = otc.broker_with_wallet(WALLET_B)
    assert otc.lock(b, w["id"]).json["timeoutHours"] == 1
    clock.advance(HOUR + 1)
    _timers(otc)
    assert otc.status(w["id"]) == "pending"
    pool = otc.api.get(f"{V1}/withdrawals/pending", key=b.key).json["withdrawals"]
    assert w["id"] in [p["id"] for p in pool]
    assert otc.lock(b, w["id"]).status == 200  # lockable again
    ledger_ok()


def test_withdraw_for_a_client_keeps_its_transfer_record(otc):
    home = otc.broker_with_wallet(None, credit=1000)
    c = otc.funded_client(home, WALLET_U, 300)
    w = otc.withdraw(home, c, 100)
    assert w["transfer_id"] and w["status"] == "pending"
    hist = otc.api.get(f"{V1}/transfer/history?client_id={c['user_id']}&type=withdraw", key=home.key).json
    assert [t["withdrawal_id"] for t in hist["transfers"]] == [w["id"]]
    ledger_ok()

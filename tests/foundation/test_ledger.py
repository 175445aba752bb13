"""The double-entry ledger: conservation, atomicity of Tx, insufficient funds, idempotent replays."""
import random
from decimal import Decimal

import pytest

from chalicelib.accounts import store as accounts
from chalicelib.ledger import check, logic
from chalicelib.ledger.store import ConditionFailed, InsufficientFunds, Tx
from chalicelib.storage.models import Account, LedgerEntry, Unique
from tests.helpers import Api, run_together


def make_account(balance=Decimal(0)):
    acct = accounts.new_account(username="acct_" + str(random.random())[2:12], role="trader", password_hash=None)
    accounts.create(acct)
    if balance:
        Tx().post(logic.transfer(logic.SYSTEM_EXTERNAL, acct.user_id, Decimal(balance)), kind="credit").commit()
    return acct.user_id


def bal(uid):
    a = accounts.get(uid, consistent=True)
    return a.balance, a.available_balance, a.frozen_margin


def test_postings_must_balance():
    with pytest.raises(logic.UnbalancedTransaction):
        Tx().post([logic.Posting("a", Decimal(1)), logic.Posting("b", Decimal("-0.9"))], kind="x")
    with pytest.raises(ValueError):
        logic.transfer("a", "b", Decimal(0))
    with pytest.raises(ValueError):
        logic.transfer("a", "a", Decimal(1))


def test_debit_beyond_available_cancels_everything(moto_db):
    a, b = make_account(100), make_account()
    Tx().freeze(a, Decimal(60)).commit()
    tx = Tx().post(logic.transfer(a, b, Decimal(41)), kind="transfer")
    tx.put(Unique(*Unique.key("probe", "x"), kind="probe", value="x", owner_id=a))
    with pytest.raises(InsufficientFunds) as e:
        tx.commit()
    assert e.value.account_id == a
    assert bal(a) == (100, 40, 60) and bal(b) == (0, 0, 0)
    assert accounts.get_unique("probe", "x") is None  # the other item of the transaction was not written either
    Tx().post(logic.transfer(a, b, Decimal(40)), kind="transfer").commit()
    assert bal(a) == (60, 0, 60) and bal(b) == (40, 40, 0)
    assert check.verify()["ok"]


def test_failed_condition_on_another_item_rolls_back_money(moto_db):
    a, b = make_account(10), make_account()
    Unique(*Unique.key("probe", "taken"), kind="probe", value="taken", owner_id="x").save()
    tx = Tx().post(logic.transfer(a, b, Decimal(5)), kind="transfer")
    tx.put(Unique(*Unique.key("probe", "taken"), kind="probe", value="taken", owner_id=a),
           condition=Unique.pk.does_not_exist(), tag="claim")
    with pytest.raises(ConditionFailed) as e:
        tx.commit()
    assert e.value.tag == "claim"
    assert bal(a) == (10, 10, 0) and bal(b) == (0, 0, 0)
    assert sum(1 for _ in LedgerEntry.scan(LedgerEntry.pk.startswith("LEDGER#"))) == 2  # only the initial credit's two entries
    assert check.verify()["ok"]


def test_release_more_than_frozen_is_refused(moto_db):
    a = make_account(10)
    Tx().freeze(a, Decimal(3)).commit()
    with pytest.raises(InsufficientFunds):
        Tx().release(a, Decimal(4)).commit()
    assert bal(a) == (10, 7, 3)


def test_random_movements_conserve_money(moto_db):
    """Random transfers, freezes and releases against an in-test model of every account: each operation commits
    exactly when the model says the money is there (else InsufficientFunds, and nothing moves), and afterwards
    every balance, the system accounts' ledger sums and the entry count equal the model's."""
    rng = random.Random(7)
    Z = Decimal(0)
    start = [rng.randint(0, 50) for _ in range(6)]
    ids = [make_account(b) for b in start]
    model = {uid: {"balance": Decimal(b), "available": Decimal(b), "frozen": Z} for uid, b in zip(ids, start)}
    system = {logic.SYSTEM_EXTERNAL: -Decimal(sum(start)), logic.SYSTEM_FEES: Z, logic.SYSTEM_HOUSE: Z}
    entries = 2 * sum(1 for b in start if b)  # each initial credit: two entries
    committed = refused = 0
    for _ in range(120):
        src, dst = rng.sample(ids + [logic.SYSTEM_FEES, logic.SYSTEM_HOUSE], 2)
        amount = Decimal(rng.randint(1, 3000)) / 100
        op = rng.random()
        if op < 0.6:
            kind, tx = "transfer", lambda: Tx().post(logic.transfer(src, dst, amount), kind="transfer")
            possible = src in system or model[src]["available"] >= amount
        elif src in system:
            continue
        elif op < 0.8:
            kind, tx, possible = "freeze", lambda: Tx().freeze(src, amount), model[src]["available"] >= amount
        else:
            kind, tx, possible = "release", lambda: Tx().release(src, amount), model[src]["frozen"] >= amount
        try:
            tx().commit()
        except InsufficientFunds as e:
            assert not possible and e.account_id == src, (kind, src, amount, model.get(src))
            refused += 1
            continue
        assert possible, (kind, src, amount, model.get(src))
        committed += 1
        if kind == "transfer":
            entries += 2
            for acct, delta in ((src, -amount), (dst, amount)):
                if acct in system:
                    system[acct] += delta
                else:
                    model[acct]["balance"] += delta
                    model[acct]["available"] += delta
        else:
            sign = 1 if kind == "freeze" else -1
            model[src]["available"] -= sign * amount
            model[src]["frozen"] += sign * amount
    assert committed >= 50 and refused >= 10, (committed, refused)  # both paths really ran
    result = check.verify()
    assert result["ok"], result["problems"]
    assert result["sum"] == 0 and result["entries"] == entries
    assert {k: result["system"].get(k, Z) for k in system} == system
    for uid in ids:
        a = accounts.get(uid, consistent=True)
        assert (a.balance, a.available_balance, a.frozen_margin) == tuple(model[uid].values()), uid


def test_ledger_check_detects_tampering(moto_db):
    a = make_account(10)
    Account(*Account.key(a)).update(actions=[Account.balance.add(Decimal(1)), Account.available_balance.add(1)])
    result = check.verify()
    assert not result["ok"] and any(a in p for p in result["problems"])


def test_credit_idempotency_replay(client, moto_db):
    api = Api(client)
    admin = api.admin_token()
    token, uid = api.register()
    headers = {"Idempotency-Key": "credit-1"}
    first = api.post(f"/api/admin/accounts/{uid}/credit", {"amount": 25, "reference": "r"}, token=admin,
                     headers=headers)
    again = api.post(f"/api/admin/accounts/{uid}/credit", {"amount": 25, "reference": "r"}, token=admin,
                     headers=headers)
    assert first.status == again.status == 201 and first.json == again.json
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    other = api.post(f"/api/admin/accounts/{uid}/credit", {"amount": 26, "reference": "r"}, token=admin,
                     headers=headers)
    assert other.status == 422 and other.json["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert api.me(token)["balance"] == 25
    fresh = api.post(f"/api/admin/accounts/{uid}/credit", {"amount": 25, "reference": "r"}, token=admin,
                     headers={"Idempotency-Key": "credit-2"})
    assert fresh.status == 201 and api.me(token)["balance"] == 50
    assert check.verify()["ok"]


def test_concurrent_transfers_on_dynamodb_local(ddb_local):
    """AWS's own engine: 20 racing debits of 10 from a balance of 100, released together by a barrier: exactly 10
    succeed, none overdraws. Every thread's outcome is collected (an unexpected error or a hung thread fails)."""
    a, b = make_account(100), make_account()

    def debit():
        for attempt in range(20):
            try:
                Tx().post(logic.transfer(a, b, Decimal(10)), kind="transfer").commit()
                return "ok"
            except InsufficientFunds:
                return "short"
            except Exception as e:  # TransactionConflict: retry like a client would
                if "Conflict" not in type(e).__name__ and "Conflict" not in str(e):
                    raise
        return "gave up"

    results = run_together([debit] * 20, timeout=120)
    assert results.count("ok") == 10 and results.count("short") == 10, results
    assert bal(a) == (0, 0, 0) and bal(b) == (100, 100, 0)
    assert check.verify()["ok"]


def test_margin_back_to_zero_then_more_adds(moto_db):
    """8-decimal margins that return to exactly zero keep working (a moto emulator bug; see local/moto_patches.py)."""
    a = make_account(1000)
    for _ in range(3):
        Tx().freeze(a, Decimal("0.00000001")).commit()
        Tx().freeze(a, Decimal("700.12345678")).commit()
        Tx().release(a, Decimal("700.12345679")).commit()
    assert bal(a) == (1000, 1000, 0)

"""Broker API v1: deposits (one transaction with its ledger entries), withdraw requests, transfer history,
withdrawal reads and the OTC pool."""
import time
from decimal import Decimal

import pytest

from chalicelib.ledger import check
from chalicelib.storage.models import LedgerEntry
from chalicelib.withdrawals import store as wd_store

V1 = "/api/v1/broker"
WALLET = "0x" + "ab" * 20
CHECKSUMMED = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"


def bal(api, key, client="c"):
    return api.get(f"{V1}/clients/{client}/balance", key=key).json["balance"]


def test_deposit_moves_dct_with_ledger_entries(world):
    api = world.api
    a = world.broker(credit=100)
    world.client_of(a, "c")
    r = api.post(f"{V1}/clients/c/deposit", {"amount": "30.25", "reference": "order-77"}, key=a.key)
    assert r.status == 201, r
    t = r.json
    assert t["type"] == "deposit" and t["status"] == "completed" and t["amount"] == Decimal("30.25")
    assert t["reference"] == "order-77" and t["broker_id"] == a.uid and t["user_id"] == "c"
    assert t["id"].startswith("tr_") and t["created_at"].endswith("Z")
    assert api.get(f"{V1}/balance", key=a.key).json["balance"] == Decimal("69.75")
    assert bal(api, a.key) == Decimal("30.25")
    entries = [e for e in LedgerEntry.scan() if e.kind == "deposit"]
    assert sorted((e.account_id, e.amount) for e in entries) == sorted(
        [(a.uid, Decimal("-30.25")), (t["account_id"], Decimal("30.25"))])
    assert len({e.txn_id for e in entries}) == 1 and entries[0].reference == t["id"]
    assert check.verify()["ok"]


def test_insufficient_balance_is_400_and_changes_nothing(world):
    api = world.api
    a = world.broker(credit=10)
    world.client_of(a, "c")
    r = api.post(f"{V1}/clients/c/deposit", {"amount": "10.000001"}, key=a.key)
    assert r.status == 400 and r.json["code"] == "INSUFFICIENT_BALANCE"
    assert api.get(f"{V1}/balance", key=a.key).json["balance"] == 10 and bal(api, a.key) == 0
    assert api.get(f"{V1}/transfer/history", key=a.key).json["transfers"] == []
    assert api.post(f"{V1}/clients/c/deposit", {"amount": 10}, key=a.key).status == 201
    assert api.get(f"{V1}/balance", key=a.key).json["balance"] == 0


@pytest.mark.parametrize("amount", [0, -1, "abc", "1e-7", "0.0000001", True, None, "NaN", "Infinity", 1e13, "1e13"])
def test_invalid_amounts(world, amount):
    a = world.broker(credit=100)
    world.client_of(a, "c")
    r = world.api.post(f"{V1}/clients/c/deposit", {"amount": amount}, key=a.key)
    assert r.status == 400 and r.json["code"] in ("VALIDATION_ERROR", "INVALID_AMOUNT"), r
    r = world.api.post(f"{V1}/clients/c/withdraw", {"amount": amount, "wallet_address": WALLET}, key=a.key)
    assert r.status == 400, r
    assert world.api.get(f"{V1}/balance", key=a.key).json["balance"] == 100


def test_deposit_idempotency_key(world):
    api = world.api
    a = world.broker(credit=100)
    world.client_of(a, "c")
    h = {"Idempotency-Key": "dep-1"}
    first = api.post(f"{V1}/clients/c/deposit", {"amount": 7}, key=a.key, headers=h)
    again = api.post(f"{V1}/clients/c/deposit", {"amount": 7}, key=a.key, headers=h)
    assert first.status == again.status == 201 and first.json == again.json
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = api.post(f"{V1}/clients/c/deposit", {"amount": 8}, key=a.key, headers=h)
    assert other.status == 422 and other.json["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert bal(api, a.key) == 7
    # the same key on another client's deposit is another request (the path is part of it)
    world.client_of(a, "d")
    assert api.post(f"{V1}/clients/d/deposit", {"amount": 7}, key=a.key, headers=h).status == 422
    assert check.verify()["ok"]


def test_withdraw_creates_a_pending_request(world, monkeypatch):
    api = world.api
    a = world.broker(credit=1000)
    world.client_of(a, "c")
    api.post(f"{V1}/clients/c/deposit", {"amount": 500}, key=a.key)
    before = int(time.time() * 1000)
    r = api.post(f"{V1}/clients/c/withdraw", {"amount": 200, "wallet_address": WALLET}, key=a.key,
                 headers={"Idempotency-Key": "w-1"})
    assert r.status == 201, r
    w = r.json
    assert w["status"] == "pending" and w["amount"] == 200 and w["fee"] == 2 and w["netAmount"] == 198
    assert w["walletAddress"] == CHECKSUMMED and w["user_id"] == "c" and w["transfer_id"].startswith("tr_")
    assert before + 300_000 <= w["coolingEndsAt"] <= int(time.time() * 1000) + 300_000
    b = api.get(f"{V1}/clients/c/balance", key=a.key).json
    assert b["balance"] == 300 and b["available_balance"] == 300  # left at once
    replay = api.post(f"{V1}/clients/c/withdraw", {"amount": 200, "wallet_address": WALLET}, key=a.key,
                      headers={"Idempotency-Key": "w-1"})
    assert replay.json == w and bal(api, a.key) == 300
    assert wd_store.get(w["id"]).ancestors == [a.uid]
    listed = api.get(f"{V1}/clients/c/withdrawals", key=a.key).json["withdrawals"]
    assert [x["id"] for x in listed] == [w["id"]]
    one = api.get(f"{V1}/withdrawal/{w['id']}", key=a.key).json
    assert one["walletAddress"] == CHECKSUMMED and one["netAmount"] == 198 and one["status"] == "pending"
    v = check.verify()
    assert v["ok"] and v["system"]["system:withdrawals"] == 200
    # the fee rate is configuration (WITHDRAWAL_FEE_RATE; .chalice/config.json sets it for every request)
    from chalicelib.accounts import store as accounts
    monkeypatch.setenv("WITHDRAWAL_FEE_RATE", "0.025")
    w2 = wd_store.new_request(accounts.get(w["userId"]), Decimal(100), CHECKSUMMED, requested_by=a.uid)
    assert w2.fee == Decimal("2.5") and w2.net_amount == Decimal("97.5") and w2.fee_rate == Decimal("0.025")


def test_withdraw_errors(world):
    api = world.api
    a = world.broker(credit=100)
    world.client_of(a, "c")
    api.post(f"{V1}/clients/c/deposit", {"amount": 50}, key=a.key)
    r = api.post(f"{V1}/clients/c/withdraw", {"amount": 10}, key=a.key)
    assert r.status == 400 and r.json["code"] == "WALLET_REQUIRED"
    r = api.post(f"{V1}/clients/c/withdraw", {"amount": 10, "wallet_address": "0xnothex"}, key=a.key)
    assert r.status == 400 and r.json["code"] == "INVALID_WALLET"
    r = api.post(f"{V1}/clients/c/withdraw", {"amount": 51, "wallet_address": WALLET}, key=a.key)
    assert r.status == 400 and r.json["code"] == "INSUFFICIENT_BALANCE"
    r = api.post(f"{V1}/clients/c/withdraw", {"amount": "0.000001", "wallet_address": WALLET}, key=a.key)
    assert r.status == 201 and r.json["fee"] == 0  # 1% of 0.000001 rounds to 0 at 6 decimals
    assert bal(api, a.key) == Decimal("49.999999")
    # the client's bound wallet is the default
    world.client_of(a, "walleted", wallet_address=WALLET)
    api.post(f"{V1}/clients/walleted/deposit", {"amount": 5}, key=a.key)
    r = api.post(f"{V1}/clients/walleted/withdraw", {"amount": 5}, key=a.key)
    assert r.status == 201 and r.json["walletAddress"] == CHECKSUMMED
    assert check.verify()["ok"]


def test_withdrawal_read_pool_and_404(world, monkeypatch):
    api = world.api
    a, b = world.broker(credit=100), world.broker()
    world.client_of(a, "c")
    api.post(f"{V1}/clients/c/deposit", {"amount": 100}, key=a.key)
    w = api.post(f"{V1}/clients/c/withdraw", {"amount": 10, "wallet_address": WALLET}, key=a.key).json
    # in its cooling period it is in the OTC pool: any broker sees it, without identity or wallet
    pool = api.get(f"{V1}/withdrawals/pending", key=b.key).json
    assert [x["id"] for x in pool["withdrawals"]] == [w["id"]]
    item = pool["withdrawals"][0]
    assert set(item) == {"id", "status", "amount", "fee", "netAmount", "currency", "coolingEndsAt", "createdAt"}
    seen = api.get(f"{V1}/withdrawal/{w['id']}", key=b.key).json
    assert "walletAddress" not in seen and "userId" not in seen and "user_id" not in seen
    # out of the cooling period: gone from the pool, 404 for B, still readable by A
    monkeypatch.setenv("WITHDRAWAL_COOLING_SECONDS", "0")
    w0 = api.post(f"{V1}/clients/c/withdraw", {"amount": 10, "wallet_address": WALLET}, key=a.key).json
    assert w0["id"] not in [x["id"] for x in api.get(f"{V1}/withdrawals/pending", key=b.key).json["withdrawals"]]
    assert api.get(f"{V1}/withdrawal/{w0['id']}", key=b.key).status == 404
    assert api.get(f"{V1}/withdrawal/{w0['id']}", key=a.key).json["walletAddress"] == CHECKSUMMED
    assert api.get(f"{V1}/withdrawal/nope", key=a.key).status == 404


def test_pool_pagination(world):
    api = world.api
    a = world.broker(credit=100)
    world.client_of(a, "c")
    api.post(f"{V1}/clients/c/deposit", {"amount": 100}, key=a.key)
    ids = [api.post(f"{V1}/clients/c/withdraw", {"amount": 1, "wallet_address": WALLET}, key=a.key).json["id"]
           for _ in range(5)]
    got, cursor = [], None
    while True:
        r = api.get(f"{V1}/withdrawals/pending?limit=2" + (f"&cursor={cursor}" if cursor else ""), key=a.key).json
        got += [x["id"] for x in r["withdrawals"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert got == ids  # the soonest cooling end first
    page = api.get(f"{V1}/clients/c/withdrawals?limit=2", key=a.key).json
    assert [x["id"] for x in page["withdrawals"]] == ids[::-1][:2] and page["next_cursor"]


def test_transfer_history_filters_and_pagination(world):
    api = world.api
    a = world.broker(credit=1000)
    for uid in ("c", "d"):
        world.client_of(a, uid)
    ids = []
    for i in range(4):
        ids.append(api.post(f"{V1}/clients/c/deposit", {"amount": i + 1}, key=a.key).json["id"])
    ids.append(api.post(f"{V1}/clients/d/deposit", {"amount": 100}, key=a.key).json["id"])
    w = api.post(f"{V1}/clients/d/withdraw", {"amount": 50, "wallet_address": WALLET}, key=a.key).json
    ids.append(w["transfer_id"])
    everything = api.get(f"{V1}/transfer/history?limit=500", key=a.key).json
    assert [t["id"] for t in everything["transfers"]] == ids[::-1] and everything["next_cursor"] is None
    got, cursor = [], None
    while True:
        r = api.get(f"{V1}/transfer/history?limit=4" + (f"&cursor={cursor}" if cursor else ""), key=a.key).json
        got += [t["id"] for t in r["transfers"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert got == ids[::-1]
    only_c = api.get(f"{V1}/transfer/history?client_id=c&limit=3", key=a.key).json
    assert [t["amount"] for t in only_c["transfers"]] == [4, 3, 2] and only_c["next_cursor"]
    rest = api.get(f"{V1}/transfer/history?client_id=c&limit=3&cursor={only_c['next_cursor']}", key=a.key).json
    assert [t["amount"] for t in rest["transfers"]] == [1] and rest["next_cursor"] is None
    wd = api.get(f"{V1}/transfer/history?type=withdraw", key=a.key).json["transfers"]
    assert [(t["type"], t["withdrawal_id"], t["status"]) for t in wd] == [("withdraw", w["id"], "pending")]
    dep_d = api.get(f"{V1}/transfer/history?type=deposit&client_id=d", key=a.key).json["transfers"]
    assert [t["amount"] for t in dep_d] == [100]
    page = api.get(f"{V1}/transfer/history?type=deposit&limit=2", key=a.key).json  # a filter and pages
    assert len(page["transfers"]) == 2 and page["next_cursor"]
    assert api.get(f"{V1}/transfer/history?type=bogus", key=a.key).status == 400
    assert api.get(f"{V1}/transfer/history?client_id=nobody", key=a.key).status == 404


def test_history_visibility_in_the_hierarchy(world):
    """A broker sees a client's transfers made by itself or by a broker below it, not those from above."""
    api = world.api
    a = world.broker(credit=100)
    s = world.sub_broker(a, credit=100)
    c = world.client_of(s, "sc")
    api.post(f"{V1}/clients/sc/deposit", {"amount": 3}, key=s.key)  # by S
    api.post(f"{V1}/clients/{c['account_id']}/deposit", {"amount": 4}, key=a.key)  # by A
    seen_by_a = api.get(f"{V1}/transfer/history?client_id={c['account_id']}", key=a.key).json["transfers"]
    assert sorted(t["amount"] for t in seen_by_a) == [3, 4]
    seen_by_s = api.get(f"{V1}/transfer/history?client_id=sc", key=s.key).json["transfers"]
    assert [t["amount"] for t in seen_by_s] == [3]
    assert bal(api, s.key, "sc") == 7

"""Deposits under concurrency against DynamoDB Local (AWS's own engine): racing deposits never overdraw the
broker; parallel retries with one Idempotency-Key apply once. Requests run through Chalice's LocalGateway from
many threads at once, as the local stack serves them."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from chalicelib.broker import store
from chalicelib.common import jsonutil
from chalicelib.ledger import check
from chalicelib.storage.models import LedgerEntry

V1 = "/api/v1/broker"
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def gateway(ddb_world):
    from chalice.config import Config
    from chalice.local import LocalGateway

    from app import app
    from local.stack import _per_thread_request_state
    if not getattr(type(app), "_broker_tests_per_thread", False):
        _per_thread_request_state(app)  # one app object, many threads: per-thread current_request
        type(app)._broker_tests_per_thread = True
    gw = LocalGateway(app, Config())

    def call(method, path, body=None, headers=None):
        h = {"Content-Type": "application/json", **(headers or {})}
        r = gw.handle_request(method=method, path=path, headers=h,
                              body=jsonutil.dumps(body).encode() if body is not None else b"")
        payload = jsonutil.loads(r["body"]) if r["body"] else None
        return r["statusCode"], payload, r["headers"]
    return call


def _balance(uid) -> Decimal:
    from chalicelib.accounts import store as accounts
    return accounts.get(uid, consistent=True).balance


def test_racing_deposits_never_overdraw_the_broker(ddb_world, gateway):
    w = ddb_world
    a = w.broker(credit=150)
    clients = [w.client_of(a, f"race{i}")["account_id"] for i in range(4)]
    stop, low = threading.Event(), []

    def watch():  # the broker's balance as others see it, all through the race
        while not stop.is_set():
            low.append(_balance(a.uid))

    watcher = threading.Thread(target=watch)
    watcher.start()

    def deposit(i):
        return gateway("POST", f"{V1}/clients/race{i % 4}/deposit", {"amount": 10}, {"X-API-Key": a.key})[:2]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(deposit, range(20)))
    stop.set()
    watcher.join()
    codes = sorted(s for s, _ in results)
    assert codes == [201] * 15 + [400] * 5, results
    assert all(body["code"] == "INSUFFICIENT_BALANCE" for s, body in results if s == 400)
    assert _balance(a.uid) == 0 and min(low) >= 0 and len(low) > 3
    assert sum(_balance(c) for c in clients) == 150
    transfers = list(store.Transfer.scan(store.Transfer.pk.startswith("XFER#")))
    assert len(transfers) == 15
    deposits = [e for e in LedgerEntry.scan() if e.kind == "deposit"]
    assert len(deposits) == 30 and sum(e.amount for e in deposits) == 0
    v = check.verify()
    assert v["ok"], v["problems"]


def test_parallel_retries_with_one_idempotency_key_apply_once(ddb_world, gateway):
    w = ddb_world
    a = w.broker(credit=100)
    c = w.client_of(a, "retry")
    headers = {"X-API-Key": a.key, "Idempotency-Key": "deposit-retry-1"}

    def client_with_retries(_):
        for _ in range(200):  # a client retrying while the first request is still in progress
            status, body, h = gateway("POST", f"{V1}/clients/retry/deposit", {"amount": 25}, headers)
            if not (status == 409 and body["code"] == "IDEMPOTENCY_IN_PROGRESS"):
                return status, body, h.get("Idempotent-Replayed")
            time.sleep(0.02)
        return "gave up", None, None

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(client_with_retries, range(10)))
    assert [s for s, _, _ in results] == [201] * 10, results
    assert len({jsonutil.dumps(b) for _, b, _ in results}) == 1  # one transfer, the same answer for all
    assert [r for _, _, r in results].count(None) == 1  # exactly one was executed, nine were replays
    assert _balance(c["account_id"]) == 25 and _balance(a.uid) == 75
    assert len(list(store.Transfer.scan(store.Transfer.pk.startswith("XFER#")))) == 1
    v = check.verify()
    assert v["ok"], v["problems"]

"""Fault injection on every write path of every money-moving operation (moto, through the real app).

For each operation a clean run first counts its DynamoDB calls (N) and records the state it leads to. Then, for
each call k = 1..N, a fresh instance of the same scenario runs with a fault injected at its k-th DynamoDB call
(inside botocore: `BaseClient._make_api_call`, which every client goes through, pynamodb's included; the fault is
what botocore raises once its own retries are spent). The fault kinds rotate over the calls (throttling,
conflicts, internal errors, connect/read timeouts); every TransactWriteItems also gets a read timeout *after* the
write landed (the answer lost). After each faulted run:

- the answer is a 2xx (a service retried) or a clean error envelope {"error", "code"}, never 500 INTERNAL_ERROR;
  throttling/conflict answers are 503 with Retry-After;
- the invariants hold (tests/trading/conftest.assert_invariants: ledger sums to zero and matches balances, nothing
  negative, frozen/position margin == what open orders and positions hold, pairs consistent);
- the scenario's state is either exactly the state before or exactly the clean run's state after (no partial state);
- a retry (same Idempotency-Key where the endpoint takes one) leads to exactly the clean run's state: no double
  spend, nothing lost.

CI runs, per operation, a lost answer after its transaction (the case that once let a retry apply a credit twice),
and for four of them (CI_BEFORE) also a fault before it; RELIABILITY_FULL=1 runs every DynamoDB call of every operation (about 150 cases, several minutes on moto).
The figures (faults injected, invariant checks) are printed at the end of the session (-s) for docs/reliability.md.
"""
import itertools
import os
import types
import uuid
from decimal import Decimal

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from tests.helpers import Api
from tests.trading.conftest import assert_invariants

V1 = "/api/v1/broker"
WALLET_U = "0x" + "1a" * 20
WALLET_B = "0x" + "2b" * 20
FULL = os.environ.get("RELIABILITY_FULL") == "1"
CI_BEFORE = {"credit", "place_market_fill", "reprice", "withdraw_lock"}  # CI: a fault before the commit here too  # every call of every operation (make bench-like long runs)
STATS = {"faults": 0, "invariant_checks": 0, "cases": 0, "retried_ok": 0, "answers": {}}


# ---- the injector ----------------------------------------------------------------------------------------

def _client_error(code: str, op: str, status: int = 400, **extra) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"injected {code}"},
                        "ResponseMetadata": {"HTTPStatusCode": status}, **extra}, op)


def _conflict(op: str, params: dict) -> ClientError:
    if op == "TransactWriteItems":
        n = len(params.get("TransactItems") or [1])
        return _client_error("TransactionCanceledException", op,
                             CancellationReasons=[{"Code": "TransactionConflict"}] * n)
    return _client_error("TransactionConflictException", op)


KINDS = {
    "throttle": lambda op, p: _client_error("ProvisionedThroughputExceededException", op),
    "throttling": lambda op, p: _client_error("ThrottlingException", op),
    "request_limit": lambda op, p: _client_error("RequestLimitExceeded", op),
    "conflict": _conflict,
    "internal": lambda op, p: _client_error("InternalServerError", op, 500),
    "connect_timeout": lambda op, p: ConnectTimeoutError(endpoint_url="http://dynamodb"),
    "read_timeout": lambda op, p: ReadTimeoutError(endpoint_url="http://dynamodb"),
}
ROTATION = list(KINDS)
RETRY_AFTER_KINDS = {"throttle", "throttling", "request_limit", "conflict"}


class Injector:
    def __init__(self):
        self.armed = False
        self.at = None
        self.kind = None
        self.after = False
        self.calls: list[str] = []
        self.fired = None

    def arm(self, at=None, kind=None, after=False):
        self.armed, self.at, self.kind, self.after, self.calls, self.fired = True, at, kind, after, [], None

    def disarm(self):
        self.armed = False


@pytest.fixture
def inject(monkeypatch):
    real = BaseClient._make_api_call
    inj = Injector()

    def spy(self, operation_name, api_params):
        if not inj.armed or self.meta.service_model.service_name != "dynamodb":
            return real(self, operation_name, api_params)
        inj.calls.append(operation_name)
        if len(inj.calls) != inj.at:
            return real(self, operation_name, api_params)
        inj.fired = (operation_name, inj.kind, inj.after)
        if inj.after:
            real(self, operation_name, api_params)  # it landed; the answer is lost
            raise ReadTimeoutError(endpoint_url="http://dynamodb")
        raise KINDS[inj.kind](operation_name, api_params)
    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    return inj


# ---- a small world ---------------------------------------------------------------------------------------

class W:
    def __init__(self, client):
        from chalicelib.marketdata import store as md
        md.clear_cache()
        self.api = Api(client)
        self.client = client
        self.admin = self.api.admin_token()
        self._broker = None

    def account(self, amount=10000):
        token, uid = self.api.register()
        if amount:
            self.api.credit(self.admin, uid, amount)
        return token, uid

    def symbol(self) -> str:
        sym = "F" + uuid.uuid4().hex[:6].upper() + "USDT"  # a book of its own per scenario instance
        r = self.api.post("/api/broker/symbols", {"symbol": sym, "pricePrecision": 2, "quantityPrecision": 4},
                          token=self.admin)
        assert r.status in (200, 201), r
        return sym

    def push(self, sym, price):
        r = self.api.post("/api/broker/price-feed", {"symbol": sym, "price": Decimal(str(price))}, token=self.admin)
        assert r.status == 200, r

    def pair(self, token, sym, bid, ask, qty="0.01"):
        r = self.api.post("/api/liquidity/pairs", {"symbol": sym, "bidPrice": Decimal(str(bid)), "askPrice": Decimal(str(ask)),
                                                   "quantity": Decimal(qty), "leverage": 1}, token=token)
        assert r.status == 201, r
        return r.json

    def order(self, token, sym, side, qty, price=None, key=None):
        body = {"symbol": sym, "side": side, "type": "limit" if price is not None else "market", "quantity": Decimal(qty),
                "leverage": 1}
        if price is not None:
            body["price"] = Decimal(str(price))
        return self.api.post("/api/orders", body, token=token, headers={"Idempotency-Key": key} if key else None)

    def broker(self, credit=5000, wallet=None):
        token, uid = self.api.create_broker(self.admin)
        if credit:
            self.api.credit(self.admin, uid, credit)
        r = self.api.post("/api/broker/api-keys", {"name": "k", "scopes": _all_scopes()}, token=token)
        assert r.status == 201, r
        if wallet:
            assert self.api.put("/api/broker/wallet", {"walletAddress": wallet}, token=token).status == 200
        return types.SimpleNamespace(token=token, uid=uid, key=r.json["key"])

    def client_of(self, b, amount=300):
        r = self.api.post(f"{V1}/clients", {"user_id": "c_" + uuid.uuid4().hex[:8], "wallet_address": WALLET_U},
                          key=b.key)
        assert r.status == 201, r
        if amount:
            self.api.credit(self.admin, r.json["account_id"], amount)
        return r.json


def _all_scopes():
    from chalicelib.broker.scopes import ALL_SCOPES
    return list(ALL_SCOPES)


def _hdr(key):
    return {"Idempotency-Key": key} if key else None


# ---- the operations: setup(w) -> (run(key) -> Resp, accounts whose state is compared, keyed) ---------------

def op_credit(w):
    _, uid = w.account(0)
    return (lambda key: w.api.post(f"/api/admin/accounts/{uid}/credit", {"amount": Decimal("10.5"), "reference": "f"},
                                   token=w.admin, headers=_hdr(key))), [uid], True


def op_deposit(w):
    b = w.broker()
    c = w.client_of(b, 0)
    return (lambda key: w.api.post(f"{V1}/clients/{c['user_id']}/deposit", {"amount": Decimal("25")}, key=b.key,
                                   headers=_hdr(key))), [b.uid, c["account_id"]], True


def op_place_limit(w):
    sym = w.symbol()
    w.push(sym, 100)
    tok, uid = w.account(1000)
    return (lambda key: w.order(tok, sym, "buy", "1", 90, key=key)), [uid], True


def op_place_market_fill(w):
    sym = w.symbol()
    w.push(sym, 100)
    mm, mm_id = w.account(1000)
    w.pair(mm, sym, 99, 101, qty="1")
    tok, uid = w.account(1000)
    return (lambda key: w.order(tok, sym, "buy", "0.5", key=key)), [uid, mm_id], True


def op_place_pair(w):
    sym = w.symbol()
    w.push(sym, 100)
    mm, mm_id = w.account(1000)
    pid = "p" + uuid.uuid4().hex[:8]
    body = {"symbol": sym, "pairId": pid, "bidPrice": 99, "askPrice": 101, "quantity": 1, "leverage": 1}
    return (lambda key: w.api.post("/api/liquidity/pairs", body, token=mm, headers=_hdr(key))), [mm_id], True


def op_reprice(w):
    sym = w.symbol()
    w.push(sym, 100)
    mm, mm_id = w.account(1000)
    p = w.pair(mm, sym, 99, 101, qty="1")
    body = {"pairId": p["pairId"], "newBidPrice": Decimal("98"), "newAskPrice": Decimal("102")}
    return (lambda key: w.api.post("/api/liquidity/reprice", body, token=mm, headers=_hdr(key))), [mm_id], True


def op_cancel_order(w):
    sym = w.symbol()
    w.push(sym, 100)
    tok, uid = w.account(1000)
    oid = w.order(tok, sym, "buy", "1", 90).json["orderId"]
    return (lambda key: w.api.delete(f"/api/orders/{oid}", token=tok)), [uid], False


def op_cancel_pair(w):
    sym = w.symbol()
    w.push(sym, 100)
    mm, mm_id = w.account(1000)
    p = w.pair(mm, sym, 99, 101, qty="1")
    return (lambda key: w.api.post("/api/liquidity/cancel", {"pairId": p["pairId"]}, token=mm)), [mm_id], False


def op_close_position(w):
    sym = w.symbol()
    w.push(sym, 100)
    mm, mm_id = w.account(1000)
    w.pair(mm, sym, 99, 101, qty="1")
    tok, uid = w.account(1000)
    assert w.order(tok, sym, "buy", "0.5").status == 201
    pos = w.api.get("/api/positions", token=tok).json
    pid = pos[0]["positionId"]
    return (lambda key: w.api.post(f"/api/positions/{pid}/close", token=tok, headers=_hdr(key))), \
        [uid, mm_id], True


def op_matching_check(w):
    """Not an HTTP request: the check's service function as the queue/stream handler calls it. Its fault
    propagates (Lambda retries the batch); a re-run converges."""
    from chalicelib.trading import service
    sym = w.symbol()
    w.push(sym, 100)
    tok, uid = w.account(1000)
    tok2, uid2 = w.account(1000)
    assert w.order(tok, sym, "buy", "1", 95).status == 201
    assert w.order(tok2, sym, "sell", "1", 105).status == 201
    w.push(sym, 94)  # the buy crosses (fills against the house at its limit)

    def run(key):
        try:
            rep = service.run_matching_check(sym)
            return types.SimpleNamespace(status=200, json={"fills": rep.fills}, headers={})
        except Exception as e:  # what the Lambda would raise: a storage fault, never a wrong result
            from chalicelib.common.faults import classify
            assert classify(e) is not None, repr(e)
            return types.SimpleNamespace(status=503, json={"error": str(e), "code": "LAMBDA_RETRY"},
                                         headers={"Retry-After": "1"})
    return run, [uid, uid2], False


def op_withdraw_request(w):
    tok, uid = w.account(300)
    body = {"amount": Decimal("50"), "walletAddress": WALLET_U}
    return (lambda key: w.api.post("/api/withdrawals", body, token=tok, headers=_hdr(key))), [uid], True


def op_v1_withdraw(w):
    b = w.broker(credit=0)
    c = w.client_of(b, 300)
    return (lambda key: w.api.post(f"{V1}/clients/{c['user_id']}/withdraw", {"amount": Decimal("40")}, key=b.key,
                                   headers=_hdr(key))), [c["account_id"], b.uid], True


def _withdrawal(w, tok):
    r = w.api.post("/api/withdrawals", {"amount": Decimal("50"), "walletAddress": WALLET_U}, token=tok)
    assert r.status == 201, r
    return r.json["id"]


def op_withdraw_cancel(w):
    tok, uid = w.account(300)
    wid = _withdrawal(w, tok)
    return (lambda key: w.api.post(f"/api/withdrawals/{wid}/cancel", token=tok)), [uid], False


def op_withdraw_lock(w):
    tok, uid = w.account(300)
    wid = _withdrawal(w, tok)
    b = w.broker(credit=0, wallet=WALLET_B)
    return (lambda key: w.api.post(f"{V1}/withdrawal/{wid}/lock", key=b.key)), [uid, b.uid], False


def op_withdraw_unlock(w):
    tok, uid = w.account(300)
    wid = _withdrawal(w, tok)
    b = w.broker(credit=0, wallet=WALLET_B)
    assert w.api.post(f"{V1}/withdrawal/{wid}/lock", key=b.key).status == 200
    return (lambda key: w.api.post(f"{V1}/withdrawal/{wid}/unlock", key=b.key)), [uid, b.uid], False


def op_withdraw_complete(w):
    from chalicelib.common import clock
    tok, uid = w.account(300)
    wid = _withdrawal(w, tok)
    clock.advance(300_001)
    from chalicelib.withdrawals import flows
    flows.run_timers()
    hsh = "0x" + uuid.uuid4().hex * 2
    return (lambda key: w.api.post(f"/api/admin/withdrawals/{wid}/complete", {"txHash": hsh},
                                   token=w.admin)), [uid], False


def op_withdraw_settle(w):
    """The chain poller's settlement of a locked withdrawal (service level, as the schedule handler calls it)."""
    from chalicelib.withdrawals import flows, poller, store as wd_store
    tok, uid = w.account(300)
    wid = _withdrawal(w, tok)
    b = w.broker(credit=0, wallet=WALLET_B)
    assert w.api.post(f"{V1}/withdrawal/{wid}/lock", key=b.key).status == 200
    log = types.SimpleNamespace(tx_hash="0x" + uuid.uuid4().hex * 2, log_index=0, block_number=7,
                                amount=Decimal("49.5"))

    def run(key):
        try:
            facts = poller.lock_facts(wd_store.get(wid, consistent=True))
            return types.SimpleNamespace(status=200, json={"settled": flows.settle(facts, log)}, headers={})
        except Exception as e:
            from chalicelib.common.faults import classify
            assert classify(e) is not None, repr(e)
            return types.SimpleNamespace(status=503, json={"error": str(e), "code": "LAMBDA_RETRY"},
                                         headers={"Retry-After": "1"})
    return run, [uid, b.uid], False


OPS = {f.__name__[3:]: f for f in (
    op_credit, op_deposit, op_place_limit, op_place_market_fill, op_place_pair, op_reprice, op_cancel_order,
    op_cancel_pair, op_close_position, op_matching_check, op_withdraw_request, op_v1_withdraw, op_withdraw_cancel,
    op_withdraw_lock, op_withdraw_unlock, op_withdraw_complete, op_withdraw_settle)}


# ---- state of a scenario, free of ids and timestamps -----------------------------------------------------

def signature(uids):
    from chalicelib.storage.models import Account, LedgerEntry
    from chalicelib.trading.models import OrderItem, PairItem, PositionItem
    from chalicelib.withdrawals import store as wd_store
    out = []
    for uid in uids:
        a = Account.get(*Account.key(uid), consistent_read=True)
        entries = sorted(str(e.amount) + ":" + e.kind
                         for e in LedgerEntry.query(f"LEDGER#{uid}", consistent_read=True))
        orders = sorted((o.side, str(o.price), o.status, str(o.filled_quantity), str(o.frozen_margin))
                        for o in OrderItem.by_account.query(f"ORDERS#{uid}"))
        pairs = sorted((p.status, str(p.bid_price), str(p.ask_price))
                       for p in PairItem.by_account.query(f"PAIRS#{uid}"))
        positions = sorted((p.symbol[:1], str(p.quantity), str(p.margin))
                           for p in PositionItem.query(f"POS#{uid}", consistent_read=True))
        wds = sorted((x.status, str(x.amount)) for x in wd_store.for_user(uid)[0])
        out.append((a.balance, a.frozen_margin, a.position_margin, a.available_balance, tuple(entries),
                    tuple(orders), tuple(pairs), tuple(positions), tuple(wds)))
    return tuple(out)


def _clean_envelope(r, kind):
    assert r.status != 500 or (isinstance(r.json, dict) and r.json.get("code") not in (None, "INTERNAL_ERROR")), r
    if r.status >= 400:
        assert isinstance(r.json, dict) and r.json.get("error") and r.json.get("code"), r
        assert r.json["code"] != "INTERNAL_ERROR", r
        if r.status == 503 and kind in RETRY_AFTER_KINDS and r.json["code"] == "SERVICE_UNAVAILABLE":
            assert (r.headers or {}).get("Retry-After") == "1", r


def table_invariants():
    """tests/trading/conftest.assert_invariants and ledger/check.verify in ONE scan of the main table (moto
    serialises every scan through JSON: six scans per check made the matrix slow): every transaction sums to zero,
    the sum over all accounts is zero, each balance equals its entries, available = balance - frozen - position
    margin and nothing negative, frozen == open orders' frozen margin, position margin == positions' margin,
    every pair's status matches its two orders'."""
    from collections import defaultdict

    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    from chalicelib import config
    from chalicelib.ledger.logic import is_system
    ddb = boto3.client("dynamodb", region_name=config.region(), endpoint_url=config.dynamodb_endpoint())
    des = TypeDeserializer()
    items, start = [], {}
    while True:
        page = ddb.scan(TableName=config.table_name("main"), **start)
        items += [{k: des.deserialize(v) for k, v in it.items()} for it in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    per_acct, per_txn = defaultdict(Decimal), defaultdict(Decimal)
    frozen, held, orders, accts, pairs = defaultdict(Decimal), defaultdict(Decimal), {}, [], []
    for it in items:
        pk = it["pk"]
        if pk.startswith("LEDGER#"):
            per_acct[it["account_id"]] += it["amount"]
            per_txn[it["txn_id"]] += it["amount"]
        elif pk.startswith("ACCT#") and "available_balance" in it:
            accts.append(it)
        elif pk.startswith("ORDER#"):
            orders[it["order_id"]] = it
            if it["status"] == "pending":
                frozen[it["account_id"]] += it["frozen_margin"]
            else:
                assert it["frozen_margin"] == 0, it
        elif pk.startswith("POS#"):
            held[it["account_id"]] += it["margin"]
        elif pk.startswith("PAIR#"):
            pairs.append(it)
    assert all(v == 0 for v in per_txn.values()), {k: v for k, v in per_txn.items() if v}
    assert sum(per_acct.values(), Decimal(0)) == 0
    for a in accts:
        uid = a["user_id"]
        if is_system(uid) or a.get("role") == "system":
            continue
        assert a["balance"] == per_acct.get(uid, 0), (uid, a["balance"], per_acct.get(uid))
        assert a["available_balance"] == a["balance"] - a["frozen_margin"] - a["position_margin"], uid
        assert min(a["available_balance"], a["frozen_margin"], a["position_margin"]) >= 0, uid
        assert a["frozen_margin"] == frozen.get(uid, 0), (uid, a["frozen_margin"], frozen.get(uid))
        assert a["position_margin"] == held.get(uid, 0), (uid, a["position_margin"], held.get(uid))
    for p in pairs:
        b, s = orders[p["buy_order_id"]], orders[p["sell_order_id"]]
        assert (p["status"] == "pending") == (b["status"] == "pending") == (s["status"] == "pending"), p["pk"]
        assert p["buy_status"] == b["status"] and p["sell_status"] == s["status"], p["pk"]


def _invariants():
    table_invariants()
    STATS["invariant_checks"] += 1


@pytest.mark.parametrize("name", list(OPS))
def test_fault_at_every_dynamodb_call_leaves_before_or_after(client, inject, name, monkeypatch):
    w = W(client)
    setup = OPS[name]
    # the clean run: its calls and the state it leads to
    run, uids, keyed = setup(w)
    before_clean = signature(uids)
    inject.arm(at=None)
    r = run("k-" + uuid.uuid4().hex)
    inject.disarm()
    assert r.status < 300, r
    n_calls = len(inject.calls)
    calls = list(inject.calls)
    after_clean = signature(uids)
    assert after_clean != before_clean, "the operation changed nothing"
    assert_invariants()  # the shared check once per operation; the one-scan equivalent after every fault
    table_invariants()
    start = sum(map(ord, name)) % len(ROTATION)  # stable across runs (str hash is salted)
    rotation = itertools.cycle(ROTATION[start:] + ROTATION[:start])
    cases = [(k, next(rotation), False) for k in range(1, n_calls + 1)]
    cases += [(k, "read_timeout", True) for k in range(1, n_calls + 1) if calls[k - 1] == "TransactWriteItems"]
    cases += [(k, "throttle", False) for k in range(1, n_calls + 1) if calls[k - 1] == "TransactWriteItems"]
    if not FULL:  # CI: the commit itself (a rotating fault before it lands, a lost answer after) and the call after
        twi = [k for k in range(1, n_calls + 1) if calls[k - 1] == "TransactWriteItems"]
        keep = {(k, True) for k in twi} | ({(k, False) for k in twi} if name in CI_BEFORE else set())
        cases = [c for c in cases if (c[0], c[2]) in keep][:2 * max(1, len(twi))]
    print(f"\n{name}: {n_calls} calls {calls}, {len(cases)} cases")
    for k, kind, after in cases:
        run, uids, keyed = setup(w)
        assert signature(uids) == before_clean
        key = "k-" + uuid.uuid4().hex
        inject.arm(at=k, kind=kind, after=after)
        r = run(key)
        inject.disarm()
        assert inject.fired is not None, (name, k, kind)
        STATS["faults"] += 1
        STATS["cases"] += 1
        STATS["answers"][r.status] = STATS["answers"].get(r.status, 0) + 1
        where = (name, k, calls[k - 1], kind, "after" if after else "before")
        _clean_envelope(r, kind)
        _invariants()
        state = signature(uids)
        assert state in (before_clean, after_clean), (where, r, state, before_clean, after_clean)
        if r.status < 300:
            assert state == after_clean, (where, r)
        # the client's retry (same Idempotency-Key when the endpoint takes one) ends exactly at the clean state
        r2 = run(key if keyed else None)
        assert r2.status < 500, (where, r2)
        if state == before_clean:
            assert r2.status < 300, (where, r2)
        assert signature(uids) == after_clean, (where, "after retry", r2)
        _invariants()
        STATS["retried_ok"] += 1


def test_fault_mapping_is_the_shared_http_layer():
    """The mapping itself (chalicelib/common/faults.py), without storage."""
    from pynamodb.exceptions import GetError, TransactWriteError, UpdateError

    from chalicelib.common.faults import storage_fault
    from chalicelib.ledger.store import TxConflict
    cases = {
        "throttle": (503, "SERVICE_UNAVAILABLE"), "throttling": (503, "SERVICE_UNAVAILABLE"),
        "request_limit": (503, "SERVICE_UNAVAILABLE"), "conflict": (503, "SERVICE_UNAVAILABLE"),
        "internal": (503, "SERVICE_UNAVAILABLE"), "connect_timeout": (504, "STORAGE_TIMEOUT"),
        "read_timeout": (504, "STORAGE_TIMEOUT")}
    for kind, (status, code) in cases.items():
        for op, wrap in (("TransactWriteItems", TransactWriteError), ("UpdateItem", UpdateError),
                         ("GetItem", GetError)):
            cause = KINDS[kind](op, {"TransactItems": [{}, {}]})
            e = storage_fault(wrap("x", cause))
            assert (e.status, e.code) == (status, code), (kind, op)
            assert e.headers["Retry-After"] == "1"
            assert e.body()["error"] and e.body()["code"] == code
    try:
        try:
            raise TxConflict()
        except TxConflict as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as e:
        assert storage_fault(e).status == 503
    assert storage_fault(ValueError("x")) is None
    assert storage_fault(UpdateError("x", _client_error("ConditionalCheckFailedException", "UpdateItem"))) is None
    assert storage_fault(GetError("x", _client_error("ResourceNotFoundException", "GetItem"))) is None


def test_a_throttled_request_answers_503_with_retry_after_over_http(client, inject):
    w = W(client)
    _, uid = w.account(0)
    inject.arm(at=1, kind="throttle")  # the first DynamoDB call of the request: the session lookup
    r = w.api.post(f"/api/admin/accounts/{uid}/credit", {"amount": Decimal("1")}, token=w.admin)
    inject.disarm()
    assert r.status == 503 and r.json["code"] == "SERVICE_UNAVAILABLE" and r.headers["Retry-After"] == "1", r
    assert r.headers["Content-Type"].startswith("application/json")
    STATS["faults"] += 1


def test_zz_print_figures():
    print(f"\nFAULT FIGURES: cases={STATS['cases']} faults_injected={STATS['faults']} "
          f"invariant_checks={STATS['invariant_checks']} retries_converged={STATS['retried_ok']} "
          f"answers={dict(sorted(STATS['answers'].items()))}")

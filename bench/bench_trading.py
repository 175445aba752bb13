"""Trading benchmarks on DynamoDB Local (AWS's own engine): figures printed, nothing asserted.

  1. POST /api/liquidity/reprice through the real app: DynamoDB round trips per reprice and the request units
     DynamoDB reports (ReturnConsumedCapacity=INDEXES on every call), with the on-demand price of a million
     reprices (aws-local-facts.md: $0.625 per million write units, $0.125 per million read units; transactional
     units are already doubled in what DynamoDB reports).
  2. A matching check with 10,000 resting liquidity orders (5,000 pairs) of which 10 cross the new reference
     price: items read, round trips and read units (the goal: close to 10 items, not 10,000).

Run: `make bench` (all bench/bench_*.py) or `python -m bench.bench_trading`.
"""
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from decimal import Decimal

WRITE_PRICE = Decimal("0.625")  # $ per million write request units (on-demand)
READ_PRICE = Decimal("0.125")  # $ per million read request units
SUPPORTS_CAPACITY = {"GetItem", "Query", "Scan", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem",
                     "BatchWriteItem", "TransactWriteItems", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


class Meter:
    """Every DynamoDB call in the block: operation, items returned, capacity units (table and indexes)."""

    def __init__(self):
        self.ops = Counter()
        self.items = Counter()
        self.read_units = Decimal(0)
        self.write_units = Decimal(0)
        self.index_write_units = Decimal(0)
        self.transactions: list[list[dict]] = []  # TransactItems of each transaction (for the size model)
        self.read_items: list[tuple[str, bool, list[dict]]] = []  # (operation, consistent, items returned)
        self.on = False
        self.lock = threading.Lock()

    def record(self, op, params, resp):
        with self.lock:
            self.ops[op] += 1
            if op == "TransactWriteItems":
                self.transactions.append(params["TransactItems"])
            elif op == "GetItem":
                self.read_items.append((op, bool(params.get("ConsistentRead")), [resp["Item"]] if resp.get("Item")
                                        else []))
            elif op == "Query":
                self.read_items.append((op, bool(params.get("ConsistentRead")), resp.get("Items", [])))
            elif op == "BatchGetItem":
                consistent = any(v.get("ConsistentRead") for v in params["RequestItems"].values())
                self.read_items.append((op, consistent, [i for v in resp.get("Responses", {}).values() for i in v]))
            if op == "GetItem":
                self.items[op] += 1 if resp.get("Item") else 0
            elif op in ("Query", "Scan"):
                self.items[op] += resp.get("Count", 0)
            elif op == "BatchGetItem":
                self.items[op] += sum(len(v) for v in resp.get("Responses", {}).values())
            caps = resp.get("ConsumedCapacity") or []
            for cap in caps if isinstance(caps, list) else [caps]:
                total = Decimal(str(cap.get("CapacityUnits", 0)))
                indexes = sum((Decimal(str(v.get("CapacityUnits", 0)))
                               for v in (cap.get("GlobalSecondaryIndexes") or {}).values()), Decimal(0))
                if op in WRITES:
                    self.write_units += total
                    self.index_write_units += indexes
                else:
                    self.read_units += total

    @contextmanager
    def measure(self):
        self.ops.clear()
        self.items.clear()
        self.read_units = self.write_units = self.index_write_units = Decimal(0)
        self.transactions, self.read_items = [], []
        self.on = True
        try:
            yield self
        finally:
            self.on = False


def install_meter() -> Meter:
    from botocore.client import BaseClient
    meter = Meter()
    real = BaseClient._make_api_call

    def call(self, operation_name, api_params):
        if meter.on and self.meta.service_model.service_name == "dynamodb" and \
                operation_name in SUPPORTS_CAPACITY:
            api_params = dict(api_params)
            api_params.setdefault("ReturnConsumedCapacity", "INDEXES")
        resp = real(self, operation_name, api_params)
        if meter.on and self.meta.service_model.service_name == "dynamodb":
            meter.record(operation_name, api_params, resp)
        return resp
    BaseClient._make_api_call = call
    return meter


# ---- the request-unit model (aws-local-facts.md): sizes of the items actually written / read -----------------

def value_size(v: dict) -> int:
    (t, x), = v.items()
    if t == "S":
        return len(x.encode())
    if t == "N":
        digits = x.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if t in ("BOOL", "NULL"):
        return 1
    if t == "L":
        return 3 + sum(value_size(e) + 1 for e in x)
    if t == "M":
        return 3 + sum(len(k.encode()) + value_size(e) + 1 for k, e in x.items())
    return len(str(x))


def item_size(item: dict) -> int:
    return sum(len(k.encode()) + value_size(v) for k, v in item.items())


def _kb_units(size: int, unit: int) -> int:
    return max(1, -(-size // unit))


def model_units(meter: "Meter") -> dict:
    """Request units by the pricing rules: a transactional write is 2 units per KB of the item (the item as it is
    after the write, read back now); every GSI entry written or removed is 1 unit per KB of its projection (ALL
    projection: the item + 100 bytes); a strongly consistent read is 1 unit per 4 KB, an eventually consistent one
    half that (a Query sums the sizes of the items it returns)."""
    from chalicelib.storage.db import connection
    client = connection().client
    table_units = index_units = 0
    for items in meter.transactions:
        for entry in items:
            (kind, body), = entry.items()
            key = body["Item"] if kind == "Put" else body["Key"]
            if kind == "Put":  # the image written (later writes may have changed the item since)
                got = body["Item"]
            else:  # updated items (ended orders, pairs, accounts): as they are now
                got = client.get_item(TableName=body["TableName"], Key={"pk": key["pk"], "sk": key["sk"]},
                                      ConsistentRead=True).get("Item") or key
            size = item_size(got)
            table_units += 2 * _kb_units(size, 1024)  # (a ConditionCheck is counted like a write: an upper bound)
            names = set((body.get("ExpressionAttributeNames") or {}).values())
            for index in ("gsi1", "gsi2"):
                removed = kind == "Update" and f"{index}pk" in names and "REMOVE" in body.get("UpdateExpression", "")
                if kind != "ConditionCheck" and (f"{index}pk" in got or removed):
                    index_units += _kb_units(size + 100, 1024)
    read_units = Decimal(0)
    for op, consistent, items in meter.read_items:
        units = Decimal(_kb_units(sum(item_size(i) for i in items), 4096)) if items or op != "BatchGetItem" \
            else Decimal(0)
        read_units += units if consistent else units / 2
    return {"table": table_units, "index": index_units, "read": read_units}


def per(value, n):
    return (Decimal(value) / n).quantize(Decimal("0.01"))


def bench_reprice(meter: Meter, n: int = 100) -> dict:
    from chalice.test import Client

    from app import app
    from chalicelib.common import jsonutil
    from tests.fixtures.aws import ROOT
    with Client(app, stage_name="dev", project_dir=ROOT) as client:
        def call(method, path, body=None, token=None):
            h = {"Content-Type": "application/json"}
            if token:
                h["Authorization"] = f"Bearer {token}"
            r = getattr(client.http, method)(path, headers=h, body=jsonutil.dumps(body) if body is not None else None)
            return r.status_code, jsonutil.loads(r.body) if r.body else None

        import os
        os.environ.setdefault("ADMIN_PASSWORD", "bench-admin-pass")
        from chalicelib.admin.bootstrap import ensure_first_admin
        ensure_first_admin()
        _, login = call("post", "/api/auth/login", {"username": os.environ.get("ADMIN_USERNAME", "admin"),
                                                    "password": os.environ["ADMIN_PASSWORD"]})
        admin = login["token"]
        _, reg = call("post", "/api/auth/register", {"username": "bench_mm", "password": "password-123"})
        token, uid = reg["token"], reg["user"]["id"]
        call("post", f"/api/admin/accounts/{uid}/credit", {"amount": Decimal(100000), "reference": "bench"}, admin)
        status, pair = call("post", "/api/liquidity/pairs", {"symbol": "BTCUSDT", "bidPrice": Decimal(69990),
                                                             "askPrice": Decimal(70010),
                                                             "quantity": Decimal("0.01")}, token)
        assert status == 201, pair
        pair_id = pair["pairId"]
        latencies = []
        with meter.measure() as m:
            for i in range(n):
                t0 = time.perf_counter()
                status, r = call("post", "/api/liquidity/reprice", {"pairId": pair_id, "newBidPrice": Decimal(69990 - i % 7),
                                                                    "newAskPrice": Decimal(70010 + i % 5)}, token)
                latencies.append((time.perf_counter() - t0) * 1000)
                assert status == 200, r
                pair_id = r["pairId"]
        ops = dict(m.ops)
        model = model_units(m)
        sizes = sorted({item_size(e[next(iter(e))].get("Item") or {}) for e in m.transactions[-1]} - {0})
        out = {
            "reprices": n,
            "calls per reprice (with auth)": {k: per(v, n) for k, v in sorted(ops.items())},
            "round trips per reprice after auth": per(sum(ops.values()) - n, n),
            "read units per reprice (with auth)": per(m.read_units, n),
            "write units per reprice (transactional, incl. GSI)": per(m.write_units, n),
            "  of which GSI (index propagation)": per(m.index_write_units, n),
            "DynamoDB Local's ReturnConsumedCapacity: $ per million reprices":
                ((m.write_units * WRITE_PRICE + m.read_units * READ_PRICE) / n).quantize(Decimal("0.01")),
            "model (item sizes x pricing rules): write units per reprice, table / GSI":
                (per(model["table"], n), per(model["index"], n)),
            "model: read units per reprice (with auth)": per(model["read"], n),
            "model: $ per million reprices":
                (((model["table"] + model["index"]) * WRITE_PRICE + model["read"] * READ_PRICE) / n)
                .quantize(Decimal("0.01")),
            "sizes of the items put by the last reprice (bytes)": sizes,
            "latency ms p50 / p95 (DynamoDB Local, in-process app)":
                (round(statistics.median(latencies), 1), round(sorted(latencies)[int(n * 0.95) - 1], 1)),
        }
        return out


def seed_book(symbol: str, pairs: int, makers: int, price_of) -> dict:
    """Write `pairs` pending pairs straight into the table (BatchWriteItem) with the makers' frozen margin set by
    ledger transactions, so that the engine's conditions and the ledger hold."""
    from chalicelib.accounts import store as accounts
    from chalicelib.common.clock import new_id, now_ms
    from chalicelib.ledger import logic as ledger
    from chalicelib.ledger.store import Tx
    from chalicelib.trading.margin import order_margin
    from chalicelib.trading.models import OrderItem, PairItem
    from chalicelib.trading.orders import BUY, LIMIT, LIQUIDITY, SELL, Order
    from chalicelib.trading.pairs import PairPlan
    from chalicelib.trading.store import pair_item
    from chalicelib.trading.models import order_item
    maker_ids = []
    for i in range(makers):
        a = accounts.new_account(username=f"bench_maker_{i}_{new_id()[:6]}", role="trader", password_hash=None)
        accounts.create(a)
        maker_ids.append(a.user_id)
    frozen = defaultdict(Decimal)
    now = now_ms()
    qty = Decimal("0.01")
    with OrderItem.batch_write() as orders, PairItem.batch_write() as pair_items:
        for i in range(pairs):
            uid = maker_ids[i % makers]
            bid, ask = price_of(i)
            pid = new_id()
            b = Order(new_id(), uid, symbol, BUY, LIMIT, LIQUIDITY, qty, bid, 1, now + i, order_margin(qty, bid, 1),
                      pair_id=pid)
            s = Order(new_id(), uid, symbol, SELL, LIMIT, LIQUIDITY, qty, ask, 1, now + i, order_margin(qty, ask, 1),
                      pair_id=pid)
            plan = PairPlan(pid, b, s, Decimal(0))
            pair_items.save(pair_item(plan, now))
            orders.save(order_item(b, now, s))
            orders.save(order_item(s, now, b))
            frozen[uid] += b.margin + s.margin
    for uid in maker_ids:
        Tx().post(ledger.transfer(ledger.SYSTEM_EXTERNAL, uid, frozen[uid] + 1000), kind="credit").commit()
        Tx().freeze(uid, frozen[uid]).commit()
    return {"makers": maker_ids}


def bench_matching(meter: Meter, pairs: int = 5000, crossing: int = 10) -> dict:
    from chalicelib.common.clock import now_ms
    from chalicelib.marketdata import store as md
    from chalicelib.trading import service
    symbol = "BTCUSDT"
    step = Decimal("0.1")
    t0 = time.perf_counter()
    seed_book(symbol, pairs, 20, lambda i: (Decimal(69000) - step * i, Decimal(71000) + step * i))
    seeded_s = time.perf_counter() - t0
    md.put_tick(symbol, Decimal(70000), now_ms())
    with meter.measure() as m:
        service.run_matching_check(symbol)
    idle_ops, idle_items, idle_ru = dict(m.ops), sum(m.items.values()), m.read_units
    md.put_tick(symbol, Decimal(69000) - step * (crossing - 1), now_ms() + 1)  # reaches exactly `crossing` bids
    with meter.measure() as m:
        t1 = time.perf_counter()
        report = service.run_matching_check(symbol)
        ms = (time.perf_counter() - t1) * 1000
    reads = {k: v for k, v in m.ops.items() if k not in WRITES}
    model = model_units(m)
    return {
        "resting orders": 2 * pairs, "seeding s": round(seeded_s, 1),
        "check with nothing crossing: calls / items read / read units": (idle_ops, idle_items, idle_ru),
        "crossing orders filled": report.fills, "settlements committed": report.committed,
        "items read (all DynamoDB reads)": sum(m.items.values()),
        "  of which book index (crossing orders)": report.orders_read,
        "  of which positions / liquidation index": report.positions_read,
        "  items per read operation": dict(m.items),
        "read calls": reads, "read units": m.read_units,
        "transactions (one per fill)": m.ops.get("TransactWriteItems", 0),
        "write units (transactional, incl. GSI)": m.write_units,
        "model: read units / write units table + GSI": (model["read"], model["table"], model["index"]),
        "model: $ per million such checks": (((model["table"] + model["index"]) * WRITE_PRICE
                                              + model["read"] * READ_PRICE)).quantize(Decimal("0.01")),
        "check ms (DynamoDB Local)": round(ms, 1),
    }


def main() -> int:
    from tests.fixtures.aws import DynamoDBLocal, stack, unique_prefix
    meter = install_meter()
    server = DynamoDBLocal().start()
    try:
        print("== trading: reprice (POST /api/liquidity/reprice through the app, DynamoDB Local) ==")
        with stack(unique_prefix(), endpoint=server.endpoint):
            for k, v in bench_reprice(meter).items():
                print(f"  {k}: {v}")
        print("== trading: matching check, 10,000 resting orders, 10 crossing (DynamoDB Local) ==")
        with stack(unique_prefix(), endpoint=server.endpoint):
            for k, v in bench_matching(meter).items():
                print(f"  {k}: {v}")
    finally:
        server.stop()
    return 0


run = main

if __name__ == "__main__":
    sys.exit(main())

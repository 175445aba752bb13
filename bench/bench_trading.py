"""Cost per operation, latency overhead against bare boto3, and matching scaling: the real app in-process
(chalice.test.Client / the Lambda handlers) on DynamoDB Local, moto in-process for SQS and the management API.

    python -m bench.bench_trading [cost] [overhead] [matching]    # default: all three
    BENCH_N=20 (repetitions per operation)  BENCH_MATCHING="1000 10000 100000" (resting orders)

1. Cost per operation (OPERATIONS below: one row each, adding a row is a few lines): DynamoDB round trips, items
   read / written, request units (bench/meter.py: transactions double, GSI entries counted), dollars per million
   operations at the published on-demand prices (PRICES), beside the floor (fewest items the operation must
   touch, priced the same way) and the ratio.
2. Latency overhead: reprice and price tick through the app's handler, and the SAME DynamoDB calls (captured from
   the app, replayed with bare boto3; condition expressions made always true so the replay succeeds) in the same
   run, interleaved; ratio = what the platform adds.
3. Matching scaling: one matching check with 1,000 / 10,000 / 100,000 resting liquidity orders of which 10
   cross: items read and time (must grow with the crossing orders, not the resting ones).
"""
import os
import statistics
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from bench.common import pct, row, write_section
from bench.meter import READS, install, model_units

# Published on-demand prices (us-east-1), $ per million.
PRICES = {"write unit": Decimal("0.625"), "read unit": Decimal("0.125"), "lambda request": Decimal("0.20"),
          "lambda GB-s": Decimal("0.0000166667") * 1_000_000, "http api request": Decimal("1.00"),
          "websocket message": Decimal("1.00"), "sqs request": Decimal("0.40")}
HTTP_MEMORY_GB = Decimal("0.5")  # api_handler (.chalice/config.json)
EVENT_MEMORY_GB = Decimal("0.25")  # every other Lambda
SYMBOL = "BTCUSDT"
WALLET = "0x" + "ab" * 20


@dataclass
class Floor:
    """The fewest items the operation must touch: strongly consistent reads, transactional writes (atomic with
    each other), plain writes; why."""
    reads: int
    tx_writes: int = 0
    writes: int = 0
    why: str = ""

    def dollars(self) -> Decimal:  # items of at most 1 KB
        return (self.reads * PRICES["read unit"] + (2 * self.tx_writes + self.writes) * PRICES["write unit"])


@dataclass
class Op:
    name: str
    run: Callable          # run(world, state) -> status; the measured operation
    floor: Floor
    prepare: Callable = lambda w: None  # prepare(world) -> state; not measured
    lambda_kind: str = "http"  # http: API Gateway + api_handler; event: a stream / queue Lambda
    ok: tuple = (200, 201)
    todo: str = ""


# ---- the world: accounts and keys through the public API ------------------------------------------------------

@dataclass
class World:
    api: object
    invoker: object
    admin: str = ""
    broker: str = ""
    key: str = ""
    client_id: str = ""
    mm: str = ""
    trader: str = ""
    pair_id: str = ""
    k: int = 0
    extra: dict = field(default_factory=dict)

    def post(self, path, body, token=None, key=None):
        return self.api.post(path, body, token=token, key=key)


def make_world(client, app) -> World:
    from local.lambdas import Invoker
    from tests.helpers import Api
    api = Api(client)
    w = World(api, Invoker(app))
    w.admin = api.admin_token()
    w.broker, broker_uid = api.create_broker(w.admin)
    api.credit(w.admin, broker_uid, 10_000_000)
    r = api.post("/api/broker/api-keys", {"name": "bench", "scopes": [
        "clients:create", "transfer:deposit", "transfer:withdraw", "withdrawal:lock", "withdrawal:read"]},
        token=w.broker)
    assert r.status == 201, r
    w.key = r.json["key"]
    w.client_id = "bench_" + uuid.uuid4().hex[:8]
    r = api.post("/api/v1/broker/clients", {"user_id": w.client_id, "wallet_address": WALLET}, key=w.key)
    assert r.status == 201, r
    w.mm, mm_uid = api.register()
    api.credit(w.admin, mm_uid, 10_000_000)
    w.trader, tr_uid = api.register()
    api.credit(w.admin, tr_uid, 1_000_000)
    r = api.post("/api/broker/price-feed", {"symbol": SYMBOL, "price": 70000}, token=w.admin)
    assert r.status == 200, r
    return w


def place_pair(w: World, spread: int = 1000) -> str:
    w.k += 1
    r = w.post("/api/liquidity/pairs", {"symbol": SYMBOL, "bidPrice": 70000 - spread - w.k % 50,
                                        "askPrice": 70000 + spread + w.k % 50, "quantity": Decimal("0.01")}, w.mm)
    assert r.status == 201, r
    return r.json["pairId"]


def _reprice(w: World, _state) -> int:
    w.k += 1
    if not w.pair_id:
        w.pair_id = place_pair(w)
    r = w.post("/api/liquidity/reprice", {"pairId": w.pair_id, "newBidPrice": 69000 - w.k % 7,
                                          "newAskPrice": 71000 + w.k % 5}, w.mm)
    if r.status == 200:
        w.pair_id = r.json["pairId"]
    return r.status


def _limit_order(w: World, _state) -> int:
    return w.post("/api/orders", {"symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": Decimal("0.01"),
                                  "price": 50000}, w.trader).status


def _prepare_limit(w: World) -> str:
    r = w.post("/api/orders", {"symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": Decimal("0.01"),
                               "price": 50000}, w.trader)
    assert r.status == 201, r
    return r.json.get("orderId") or r.json.get("id")


def _tick(w: World, _state) -> int:
    w.k += 1
    return w.post("/api/broker/price-feed", {"symbol": SYMBOL, "price": 70000 + w.k % 3}, w.admin).status


def _prepare_tick_records(w: World):
    """A price pushed, and its record read from the ticks table's stream (DynamoDB Local's own)."""
    from chalicelib.storage import schema
    import boto3
    streams = boto3.client("dynamodbstreams", endpoint_url=os.environ["DYNAMODB_ENDPOINT"])
    arn = w.extra.get("tick_arn")
    if arn is None:
        table = schema.table_specs()["ticks"]["create"]["TableName"]
        arn = w.extra["tick_arn"] = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"]) \
            .describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][-1]["ShardId"]
        w.extra["tick_it"] = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                                        ShardIteratorType="LATEST")["ShardIterator"]
    _tick(w, None)
    time.sleep(1.05)  # the next tick slot (market state broadcasts at most once a second)
    records = []
    for _ in range(20):
        resp = streams.get_records(ShardIterator=w.extra["tick_it"])
        w.extra["tick_it"] = resp["NextShardIterator"]
        records += resp["Records"]
        if records:
            break
        time.sleep(0.05)
    return {"Records": [{**r, "eventSourceARN": arn} for r in records]}


def _tick_stream(w: World, event) -> int:
    w.invoker("on_tick_stream", event)
    return 200


def _matching_message(w: World):
    return {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "x", "eventSource": "aws:sqs",
                         "body": f'{{"symbol": "{SYMBOL}", "at": 0, "reason": "bench"}}', "attributes": {},
                         "messageAttributes": {}, "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:m"}]}


def _matching(w: World, event) -> int:
    w.invoker("on_matching_queue", event)
    return 200


def _locker(w: World) -> str:
    """A second broker with a bound wallet and a key with withdrawal:lock (the client's own broker may not be the
    one that takes its withdrawal from the pool)."""
    if "locker_key" not in w.extra:
        token, _ = w.api.create_broker(w.admin)
        assert w.api.put("/api/broker/wallet", {"walletAddress": "0x" + "cd" * 20}, token=token).status == 200
        r = w.api.post("/api/broker/api-keys", {"name": "locker", "scopes": ["withdrawal:lock", "withdrawal:read"]},
                       token=token)
        assert r.status == 201, r
        w.extra["locker_key"] = r.json["key"]
    return w.extra["locker_key"]


def _prepare_withdrawal(w: World) -> str:
    _locker(w)
    r = w.post(f"/api/v1/broker/clients/{w.client_id}/deposit", {"amount": Decimal(6), "reference": "bench"},
               key=w.key)
    assert r.status in (200, 201), r
    r = w.post(f"/api/v1/broker/clients/{w.client_id}/withdraw", {"amount": Decimal(5)}, key=w.key)
    assert r.status in (200, 201), r
    return r.json.get("id") or r.json["withdrawalId"]


def _lock(w: World, withdrawal_id: str) -> int:
    return w.post(f"/api/v1/broker/withdrawal/{withdrawal_id}/lock", {}, key=_locker(w)).status


def _prepare_locked(w: World):
    """A locked withdrawal and the chain payment that settles it (what the poller hands flows.settle after
    verify.match: the web3 reads are not measured, only the settlement's DynamoDB work)."""
    from chalicelib.withdrawals import poller, store, verify
    wid = _prepare_withdrawal(w)
    assert _lock(w, wid) == 200
    facts = poller.lock_facts(store.get(wid, consistent=True))
    log = verify.TransferLog(tx_hash="0x" + uuid.uuid4().hex * 2, log_index=0, block_number=100,
                             block_time=facts.locked_at // 1000 + 60, address="0x" + "ee" * 20,
                             topic0=verify.TRANSFER_TOPIC, sender=facts.broker_wallet, recipient=facts.user_wallet,
                             value=int(facts.net_amount * 10 ** 6))
    return facts, log


def _settle(w: World, state) -> int:
    from chalicelib.withdrawals import flows
    return 200 if flows.settle(*state) else 409


OPERATIONS = [
    Op("place pair", lambda w, s: w.post("/api/liquidity/pairs", {
        "symbol": SYMBOL, "bidPrice": 68000, "askPrice": 72000, "quantity": Decimal("0.01")}, w.mm).status,
       Floor(1, 4, why="session; pair + 2 orders + account margin in one transaction")),
    Op("reprice", _reprice,
       Floor(2, 4, why="session + pair; pair + 2 orders + account margin, changed in place"),
       prepare=lambda w: w.pair_id or setattr(w, "pair_id", place_pair(w))),
    Op("cancel pair", lambda w, pid: w.post("/api/liquidity/cancel", {"pairId": pid}, w.mm).status,
       Floor(2, 4, why="session + pair; pair + 2 orders + margin released"), prepare=place_pair),
    Op("market order (1 fill)", lambda w, s: w.post("/api/orders", {
        "symbol": SYMBOL, "side": "buy", "type": "market", "quantity": Decimal("0.01")}, w.trader).status,
       Floor(4, 8, why="session, best ask, 2 positions; order, maker order, pair, fill, 2 positions, 2 accounts"),
       prepare=lambda w: place_pair(w, spread=5)),
    Op("limit order (rests)", _limit_order,
       Floor(2, 2, why="session, best opposite price; order + account margin")),
    Op("cancel order", lambda w, oid: w.api.delete(f"/api/orders/{oid}", token=w.trader).status,
       Floor(2, 2, why="session + order; order + margin released"), prepare=_prepare_limit),
    Op("price tick (request)", _tick, Floor(1, 0, 1, why="session; the tick")),
    Op("price tick (stream handling)", _tick_stream, Floor(1, 0, 1, why="market state; state + candles in one "
                                                                         "item"), prepare=_prepare_tick_records,
       lambda_kind="event"),
    Op("matching check (nothing crosses)", _matching, Floor(1, 0, 0, why="one query of the book edge"),
       prepare=_matching_message, lambda_kind="event"),
    Op("deposit", lambda w, s: w.post(f"/api/v1/broker/clients/{w.client_id}/deposit",
                                      {"amount": Decimal(10), "reference": "bench"}, key=w.key).status,
       Floor(2, 5, why="API key + client; 2 balances, 2 ledger entries, transfer")),
    Op("withdrawal request", lambda w, s: w.post(f"/api/v1/broker/clients/{w.client_id}/withdraw",
                                                 {"amount": Decimal(5)}, key=w.key).status,
       Floor(2, 5, why="API key + client; withdrawal, balance hold, 2 ledger entries, transfer")),
    Op("withdrawal lock", lambda w, wid: _lock(w, wid),
       Floor(2, 0, 1, why="API key + withdrawal; the withdrawal, one conditional write"), prepare=_prepare_withdrawal),
    Op("settlement (chain match)", _settle,
       Floor(1, 4, why="withdrawal; claim of the tx hash, withdrawal, escrow -> broker, fee (ledger entries)"),
       prepare=_prepare_locked, lambda_kind="event"),
]


def cost_of(meter, m, n: int, ms: list[float], op: Op) -> dict:
    units = model_units(m)
    ddb = (units["write"] + units["index"]) * PRICES["write unit"] + units["read"] * PRICES["read unit"]
    memory = HTTP_MEMORY_GB if op.lambda_kind == "http" else EVENT_MEMORY_GB
    duration_s = Decimal(str(statistics.median(ms) / 1000))
    lam = PRICES["lambda request"] + duration_s * memory * PRICES["lambda GB-s"]
    api = PRICES["http api request"] if op.lambda_kind == "http" else Decimal(0)
    sqs = Decimal(sum(v for k, v in m.calls.items() if k.startswith("sqs."))) * PRICES["sqs request"]
    ws = Decimal(m.ws_posts) * PRICES["websocket message"]
    q = Decimal("0.01")
    per = lambda x: (Decimal(x) / n).quantize(q)  # noqa: E731
    floor = op.floor.dollars()
    ddb_per = ddb / n
    return {
        "operation": op.name, "n": n,
        "dynamodb round trips": per(m.dynamodb_calls),
        "calls": {k: per(v) for k, v in sorted(m.calls.items())},
        "items read": per(m.items_read), "items written": per(m.items_written),
        "read units": per(units["read"]), "write units (table)": per(units["write"]),
        "write units (GSI)": per(units["index"]),
        "reported by DynamoDB Local (read / write, no GSI)": (per(m.reported_read), per(m.reported_write)),
        "$/M dynamodb": ddb_per.quantize(q), "$/M lambda": lam.quantize(q), "$/M api": api.quantize(q),
        "$/M sqs": per(sqs), "$/M websocket": per(ws),
        "$/M total": (ddb_per + lam + api + sqs / n + ws / n).quantize(q),
        "ms p50 (in-process)": round(statistics.median(ms), 1),
        "floor items (read / tx write / write)": (op.floor.reads, op.floor.tx_writes, op.floor.writes),
        "floor $/M dynamodb": floor.quantize(q), "floor": op.floor.why,
        "ratio dynamodb $ / floor": round(float(ddb_per / floor), 2) if floor else None,
    }


def bench_cost(client, app, n: int, only: list[str] | None = None) -> list[dict]:
    meter = install()
    w = make_world(client, app)
    rows = []
    for op in OPERATIONS:
        if only and not any(o in op.name for o in only):
            continue
        if op.todo:
            rows.append({"operation": op.name, "todo": op.todo, "floor": op.floor.why,
                         "floor $/M dynamodb": op.floor.dollars()})
            continue
        ms = []
        statuses = defaultdict(int)
        agg = None
        for i in range(n):
            state = op.prepare(w)
            with meter.measure() as m:
                t = time.perf_counter()
                status = op.run(w, state)
                ms.append((time.perf_counter() - t) * 1000)
            statuses[status] += 1
            agg = _accumulate(agg, m)
        row_ = cost_of(meter, agg, n, ms, op)
        row_["statuses"] = dict(statuses)
        rows.append(row_)
    return rows


def _accumulate(agg, m):
    """Sum of several measured blocks (the meter resets per block)."""
    from bench.meter import Meter
    if agg is None:
        agg = Meter()
    agg.calls.update(m.calls)
    agg.items_read += m.items_read
    agg.items_written += m.items_written
    agg.reported_read += m.reported_read
    agg.reported_write += m.reported_write
    agg.writes += m.writes
    agg.reads += m.reads
    agg.ws_posts += m.ws_posts
    return agg


# ---- latency overhead: the app against the same DynamoDB calls by bare boto3 -----------------------------------

def always_true(params: dict) -> dict:
    """The call with every condition made a tautology over the same names and values (so that a replay of a
    conditional write succeeds and evaluates the same expression), and no idempotency token."""
    out = {k: v for k, v in params.items() if k not in ("ClientRequestToken", "ReturnConsumedCapacity")}
    if "ConditionExpression" in out:
        c = _parenthesized(out["ConditionExpression"])
        out["ConditionExpression"] = f"{c} OR NOT {c}"
    if "TransactItems" in out:
        out["TransactItems"] = [{kind: always_true(body)} for entry in out["TransactItems"]
                                for kind, body in entry.items()]
    return out


def _parenthesized(expr: str) -> str:
    """expr in one pair of parentheses (DynamoDB rejects redundant ones)."""
    depth = 0
    for i, ch in enumerate(expr):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(expr) - 1:
            return f"({expr})"
    return expr if expr.startswith("(") else f"({expr})"


def replay(client, calls: list[tuple[str, dict]]):
    from botocore import xform_name
    for op, params in calls:
        getattr(client, xform_name(op))(**always_true(params))


def bench_overhead(client, app, n: int) -> dict:
    import boto3
    meter = install()
    w = make_world(client, app)
    bare = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"])
    out = {}
    for name, fn in (("reprice", _reprice), ("price tick", _tick)):
        fn(w, None)  # warm: the first call opens connections
        app_ms, bare_ms, trips = [], [], []
        for i in range(n):
            with meter.measure() as m:
                t = time.perf_counter()
                status = fn(w, None)
                app_ms.append((time.perf_counter() - t) * 1000)
            calls = [(op, p) for op, p in m.captured if op != "DescribeTable"]
            assert status in (200, 201), status
            trips.append(len(calls))
            t = time.perf_counter()
            replay(bare, calls)
            bare_ms.append((time.perf_counter() - t) * 1000)
        p = {q: (round(pct(app_ms, q), 1), round(pct(bare_ms, q), 1)) for q in (50, 99)}
        out[name] = {"n": n, "round trips": statistics.median(trips),
                     "app ms p50 / p99": (p[50][0], p[99][0]), "bare boto3 ms p50 / p99": (p[50][1], p[99][1]),
                     "ratio p50": round(p[50][0] / p[50][1], 2), "ratio p99": round(p[99][0] / p[99][1], 2)}
    return out


# ---- matching scaling -----------------------------------------------------------------------------------------

def seed_book(symbol: str, pairs: int, makers: int, price_of, threads: int = 4) -> dict:
    """Write `pairs` pending pairs straight into the table (BatchWriteItem, several threads), with the makers'
    frozen margin set by ledger transactions, so that the engine's conditions and the ledger hold."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.accounts import store as accounts
    from chalicelib.common.clock import new_id, now_ms
    from chalicelib.ledger import logic as ledger
    from chalicelib.ledger.store import Tx
    from chalicelib.trading.margin import order_margin
    from chalicelib.trading.models import OrderItem, PairItem, order_item
    from chalicelib.trading.orders import BUY, LIMIT, LIQUIDITY, SELL, Order
    from chalicelib.trading.pairs import PairPlan
    from chalicelib.trading.store import pair_item
    maker_ids = []
    for i in range(makers):
        a = accounts.new_account(username=f"bench_maker_{i}_{new_id()[:6]}", role="trader", password_hash=None)
        accounts.create(a)
        maker_ids.append(a.user_id)
    now = now_ms()
    qty = Decimal("0.01")

    def write(part: range) -> dict:
        frozen = defaultdict(Decimal)
        with OrderItem.batch_write() as orders, PairItem.batch_write() as pair_items:
            for i in part:
                uid = maker_ids[i % makers]
                bid, ask = price_of(i)
                pid = new_id()
                b = Order(new_id(), uid, symbol, BUY, LIMIT, LIQUIDITY, qty, bid, 1, now + i,
                          order_margin(qty, bid, 1), pair_id=pid)
                s = Order(new_id(), uid, symbol, SELL, LIMIT, LIQUIDITY, qty, ask, 1, now + i,
                          order_margin(qty, ask, 1), pair_id=pid)
                pair_items.save(pair_item(PairPlan(pid, b, s, Decimal(0)), now))
                orders.save(order_item(b, now, s))
                orders.save(order_item(s, now, b))
                frozen[uid] += b.margin + s.margin
        return frozen

    frozen = defaultdict(Decimal)
    with ThreadPoolExecutor(threads) as pool:
        for part in pool.map(write, [range(k, pairs, threads) for k in range(threads)]):
            for uid, v in part.items():
                frozen[uid] += v
    for uid in maker_ids:
        Tx().post(ledger.transfer(ledger.SYSTEM_EXTERNAL, uid, frozen[uid] + 1000), kind="credit").commit()
        Tx().freeze(uid, frozen[uid]).commit()
    return {"makers": maker_ids}


def bench_matching(resting: int, crossing: int = 10) -> dict:
    from chalicelib.common.clock import now_ms
    from chalicelib.marketdata import store as md
    from chalicelib.trading import service
    meter = install()
    pairs = resting // 2
    step = Decimal("0.1")
    t0 = time.perf_counter()
    seed_book(SYMBOL, pairs, 20, lambda i: (Decimal(69000) - step * i, Decimal(71000) + step * i))
    seeded_s = time.perf_counter() - t0
    md.put_tick(SYMBOL, Decimal(70000), now_ms())
    with meter.measure() as m:
        service.run_matching_check(SYMBOL)
    idle = {"items read": m.items_read, "read calls": sum(v for k, v in m.calls.items()
                                                          if k.split(".")[-1] in READS)}
    md.put_tick(SYMBOL, Decimal(69000) - step * (crossing - 1), now_ms() + 1)  # reaches exactly `crossing` bids
    with meter.measure() as m:
        t1 = time.perf_counter()
        report = service.run_matching_check(SYMBOL)
        ms = (time.perf_counter() - t1) * 1000
    units = model_units(m)
    return {"resting orders": 2 * pairs, "crossing": crossing, "seeding s": round(seeded_s, 1),
            "nothing crossing: items read / read calls": (idle["items read"], idle["read calls"]),
            "fills": report.fills, "items read": m.items_read,
            "read calls": sum(v for k, v in m.calls.items() if k.split(".")[-1] in READS),
            "transactions": m.calls.get("dynamodb.TransactWriteItems", 0),
            "read units": units["read"], "write units (table + GSI)": units["write"] + units["index"],
            "check ms": round(ms, 1)}


# ---- main -----------------------------------------------------------------------------------------------------

def summary(out: dict) -> list[dict]:
    rows = []
    for r in out.get("cost", []):
        if r.get("todo"):
            rows.append(row("cost", r["operation"], r["todo"], f"floor ${r['floor $/M dynamodb']}/M"))
            continue
        rows.append(row("cost", f"{r['operation']}: trips, items r/w, RU/WU(+GSI), $/M ddb / total",
                        f"{r['dynamodb round trips']}, {r['items read']}/{r['items written']}, "
                        f"{r['read units']}/{r['write units (table)']}(+{r['write units (GSI)']}), "
                        f"{r['$/M dynamodb']} / {r['$/M total']}",
                        f"floor ${r['floor $/M dynamodb']}/M, ratio {r['ratio dynamodb $ / floor']}"))
    for name, r in (out.get("overhead") or {}).items():
        rows.append(row("overhead", f"{name}: app vs bare boto3 ms p50 / p99 ({r['round trips']} trips)",
                        f"{r['app ms p50 / p99']} vs {r['bare boto3 ms p50 / p99']}: "
                        f"{r['ratio p50']}× / {r['ratio p99']}×", "≤ 1.5× (reprice)"))
    for r in out.get("matching", []):
        rows.append(row("matching", f"{r['resting orders']:,} resting, {r['crossing']} crossing: items read, "
                                    "read calls, ms", f"{r['items read']}, {r['read calls']}, {r['check ms']}",
                        "grows with crossing, not resting"))
    return rows


def main(argv: list[str]) -> int:
    parts = [a for a in argv if a in ("cost", "overhead", "matching")] or ["cost", "overhead", "matching"]
    n = int(os.environ.get("BENCH_N", "20"))
    levels = [int(x) for x in os.environ.get("BENCH_MATCHING", "1000 10000 100000").split()]
    from chalice.test import Client

    from tests.fixtures.aws import ROOT, DynamoDBLocal, stack, unique_prefix
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("ADMIN_PASSWORD", "bench-admin-pass")
    server = DynamoDBLocal().start()
    out: dict = {"machine": f"{os.cpu_count()} CPUs", "prices $/M": {k: str(v) for k, v in PRICES.items()}}
    try:
        from app import app
        if "cost" in parts or "overhead" in parts:
            with stack(unique_prefix(), endpoint=server.endpoint), \
                    Client(app, stage_name="dev", project_dir=ROOT) as client:
                os.environ["DYNAMODB_ENDPOINT"] = server.endpoint
                if "cost" in parts:
                    print(f"== cost per operation ({n} each, DynamoDB Local) ==", flush=True)
                    out["cost"] = bench_cost(client, app, n)
                if "overhead" in parts:
                    print(f"== latency overhead ({5 * n} each, app vs bare boto3) ==", flush=True)
                    out["overhead"] = bench_overhead(client, app, 5 * n)
        if "matching" in parts:
            out["matching"] = []
            for resting in levels:
                print(f"== matching check: {resting:,} resting orders, 10 crossing ==", flush=True)
                with stack(unique_prefix(), endpoint=server.endpoint):
                    out["matching"].append(bench_matching(resting))
    finally:
        server.stop()
    out["summary"] = summary(out)
    for r in out["summary"]:
        print(f"  {r['metric']}: {r['value']}   [{r['target']}]", flush=True)
    write_section("bench_trading", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

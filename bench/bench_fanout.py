"""Fan-out cost: one tick message to 1,000 and 10,000 local WebSocket subscribers, per message, against a bare
boto3 `post_to_connection` loop over the same connections in the same run.

    python -m bench.bench_fanout [audience ...]     # default: 1000 10000

The local stack runs IN this process (local.stack.Stack, default engine), so the app's chunk handler and the
bare loop share the same interpreter, gateway and management API; real `websockets` clients in child processes
hold the subscriptions. Per audience: the subscriber ids are read as the app reads them, split into the app's
chunks (WS_FANOUT_CHUNK, 500), and
  - platform: each chunk through the app's broadcast-queue handler (`on_broadcast_queue`, an SQS event with the
    chunk message the stream handler enqueues), i.e. one Lambda invocation per chunk, run one after another;
  - bare: `client.post_to_connection(ConnectionId=..., Data=...)` for every id, one after another.
Reported: posts per chunk handler, ms per message for both, ratio; and the AWS estimate for parallel chunks
(every chunk its own invocation at once: the time of one chunk, not of all of them) - an estimate, not measured.
The end-to-end path (push -> stream -> broadcast -> sockets) is bench_marketdata.
"""
import json
import math
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid

from bench.bench_marketdata import PER_PROCESS, client_process, raise_nofile
from bench.common import row, write_section

SYMBOL = "BTCUSDT"
ROUNDS = int(os.environ.get("BENCH_FANOUT_ROUNDS", "3"))


def connect(ws_url: str, n: int):
    ctx = mp.get_context("spawn")
    procs = max(1, math.ceil(n / PER_PROCESS))
    sizes = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    workers = []
    for k in sizes:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=client_process, args=(ws_url, SYMBOL, k, child), daemon=True)
        p.start()
        workers.append((p, parent))
    connected = sum(conn.recv()[1] for _, conn in workers)
    return workers, connected


def disconnect(workers):
    for p, conn in workers:
        conn.send(("stop",))
        while conn.poll(30):
            if conn.recv()[0] == "result":
                break
        p.join(30)


def chunk_event(topic: str, data: str, ids: list[str]) -> dict:
    body = json.dumps({"kind": "chunk", "topic": topic, "data": data, "ids": ids})
    return {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "x", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:broadcast",
                         "awsRegion": "us-east-1"}]}


def measure(stack, audience: int) -> dict:
    import boto3

    from bench.meter import install
    from chalicelib.marketdata import fanout
    from chalicelib.realtime import store as rt
    from local.lambdas import Invoker
    meter = install()
    topic = fanout.topic("ticker", SYMBOL)
    deadline = time.monotonic() + 120
    ids = rt.subscribers(topic)
    while len(ids) < audience and time.monotonic() < deadline:
        time.sleep(0.5)
        ids = rt.subscribers(topic)
    ids = ids[:audience]
    chunks = [ids[i:i + fanout.CHUNK_SIZE] for i in range(0, len(ids), fanout.CHUNK_SIZE)]
    invoker = Invoker(stack.app)
    bare = boto3.client("apigatewaymanagementapi", endpoint_url=stack.env["WS_MANAGEMENT_ENDPOINT"],
                        region_name=stack.env["AWS_DEFAULT_REGION"])
    platform_ms, bare_ms, chunk_ms, posts = [], [], [], []
    for r in range(ROUNDS):
        data = json.dumps({"type": "ticker", "symbol": SYMBOL, "price": f"{70000 + r}.5", "ts": int(time.time())})
        t = time.perf_counter()
        for c in chunks:
            with meter.measure() as m:
                t1 = time.perf_counter()
                invoker("on_broadcast_queue", chunk_event(topic, data, c))
                chunk_ms.append((time.perf_counter() - t1) * 1000)
            posts.append(m.ws_posts)
        platform_ms.append((time.perf_counter() - t) * 1000)
        time.sleep(1)
        t = time.perf_counter()
        for cid in ids:
            bare.post_to_connection(ConnectionId=cid, Data=data.encode())
        bare_ms.append((time.perf_counter() - t) * 1000)
        time.sleep(1)
    per_platform = statistics.median(platform_ms) / len(ids)
    per_bare = statistics.median(bare_ms) / len(ids)
    one_chunk = statistics.median(chunk_ms)
    return {"audience": audience, "subscribers found": len(ids), "chunks": len(chunks),
            "post_to_connection calls per chunk handler": statistics.median(posts),
            "platform ms (all chunks, one after another)": round(statistics.median(platform_ms)),
            "bare boto3 loop ms": round(statistics.median(bare_ms)),
            "platform ms per message": round(per_platform, 3), "bare ms per message": round(per_bare, 3),
            "ratio": round(per_platform / per_bare, 2),
            "one chunk handler ms (median)": round(one_chunk),
            "AWS estimate, chunks in parallel invocations (ms)": round(one_chunk),
            "note": "estimate: in AWS every queued chunk is its own invocation, so an audience takes about one "
                    "chunk's time plus the queue's delivery latency; locally they share one process"}


def main(argv: list[str]) -> int:
    audiences = [int(a) for a in argv] or [1000, 10000]
    raise_nofile()
    import logging
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # sockets closed at shutdown: "Task was destroyed"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("WS_IDLE_TIMEOUT", "3600")
    from local.stack import Stack
    stack = Stack(port=0, seed=False, feed=False, info_path=os.path.join("/tmp", f"bench-fanout-{os.getpid()}.json"))
    stack.start()
    out = {"results": []}
    try:
        for n in audiences:
            print(f"== fan-out: one message to {n:,} local WebSocket subscribers ({os.cpu_count()} CPUs) ==",
                  flush=True)
            workers, connected = connect(stack.ws_url, n)
            print(f"  {connected:,} connected", flush=True)
            try:
                res = measure(stack, connected)
            finally:
                disconnect(workers)
                time.sleep(2)
            out["results"].append(res)
            for k, v in res.items():
                print(f"  {k}: {v}", flush=True)
    finally:
        stack.stop()
    out["summary"] = [row("fan-out", f"{r['audience']:,} subscribers: ms per message platform vs bare boto3 "
                                     f"({r['post_to_connection calls per chunk handler']} posts per chunk handler)",
                          f"{r['platform ms per message']} vs {r['bare ms per message']}: {r['ratio']}×",
                          "≤ 1.2×") for r in out["results"]]
    out["summary"] += [row("fan-out", f"{r['audience']:,} subscribers: AWS estimate with parallel chunks (ms)",
                           f"~{r['AWS estimate, chunks in parallel invocations (ms)']} (estimate)",
                           "local: " + str(r["platform ms (all chunks, one after another)"]) + " ms")
                       for r in out["results"]]
    write_section("bench_fanout", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

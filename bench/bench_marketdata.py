"""Market-data benchmark: the time for one pushed tick to reach 1,000 and 10,000 local WebSocket subscribers.

Real websockets clients (several client processes) against the local stack (`python -m local.stack` as a
subprocess on make run's default engine: the real app, the stream and queue pumps, the WebSocket gateway and its management API).
Per audience: 3 ticks, each pushed through POST /api/broker/price-feed once the previous one has reached every
subscriber; reported: time from the push to the first, median, 99th percentile and last subscriber.

The path measured: HTTP push -> ticks table -> stream pump -> stream handler (state, slot) -> broadcast queue
(flush) -> broadcast handler: first chunk of 500 posted through the management API, the other chunks queued ->
broadcast handler again (the queue pump) -> posts. Locally everything runs in ONE Python process (the stack),
so the posting rate is bound by one core; in AWS each chunk is a separate Lambda invocation (docs/market-data.md).

Run: `make bench` or `python -m bench.bench_marketdata [audience ...]` (default: 1000 10000);
BENCH_DB=moto runs the stack on moto instead of DynamoDB Local.
"""
import asyncio
import json
import math
import multiprocessing as mp
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DB = os.environ.get("BENCH_DB", "dynamodb-local")  # make run's default engine (BENCH_DB=moto: the option)
PER_PROCESS = 2500
TICKS = 3
CONNECT_CONCURRENCY = 100


def raise_nofile() -> tuple[int, int]:
    """10,000 sockets need 10,000+ descriptors in the stack process (it inherits this limit) and in the clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# --- the local stack --------------------------------------------------------------------------------------

def start_stack(tmp: str) -> tuple[subprocess.Popen, dict, str]:
    creds = os.path.join(tmp, "creds.json")
    log_path = os.path.join(tmp, "stack.log")
    env = {**os.environ, "PORT": "0", "FEED": "off", "SEED": "on", "DB": DB, "CREDS_PATH": creds,
           "STACK_INFO_PATH": os.path.join(tmp, "stack.json"), "LOG_LEVEL": "DEBUG", "WS_IDLE_TIMEOUT": "3600"}
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the stack exited ({proc.returncode}); see {log_path}")
        if os.path.exists(creds):
            with open(creds) as f:
                doc = json.load(f)
            if doc.get("broker", {}).get("token"):
                return proc, doc, log_path
        time.sleep(0.3)
    raise RuntimeError("the stack did not start within 180 s")


def stop_stack(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- client processes -------------------------------------------------------------------------------------

def client_process(ws_url: str, symbol: str, n: int, conn) -> None:
    """n WebSocket clients subscribed to the symbol's ticker; reports ('ready', k), then for every price seen by
    all n: ('all', price); on ('stop',): ('result', {price: [arrival times]}) and exits."""
    raise_nofile()
    import websockets

    async def main():
        arrivals: dict[str, list[float]] = {}
        sockets = []
        sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_one():
            async with sem:
                for attempt in range(5):
                    try:
                        ws = await websockets.connect(ws_url, open_timeout=120, ping_interval=None,
                                                      close_timeout=1, max_queue=None)
                        await ws.send(json.dumps({"type": "subscribe", "channel": "ticker", "symbol": symbol}))
                        while json.loads(await asyncio.wait_for(ws.recv(), 120)).get("type") != "subscribed":
                            pass
                        return ws
                    except Exception:
                        await asyncio.sleep(0.5 * (attempt + 1))
                return None

        sockets = [ws for ws in await asyncio.gather(*(open_one() for _ in range(n))) if ws is not None]
        conn.send(("ready", len(sockets)))

        async def reader(ws):
            try:
                async for raw in ws:
                    t = time.time()
                    m = json.loads(raw)
                    if m.get("type") == "ticker" and m.get("symbol") == symbol:
                        got = arrivals.setdefault(str(m["price"]), [])
                        got.append(t)
                        if len(got) == len(sockets):
                            conn.send(("all", str(m["price"])))
            except Exception:
                pass

        readers = [asyncio.create_task(reader(ws)) for ws in sockets]
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # ('stop',)
        for r in readers:
            r.cancel()
        conn.send(("result", arrivals))
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    asyncio.run(main())


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]


def run_audience(stack: dict, log_path: str, audience: int) -> dict:
    symbol = f"BENCH{audience}"
    token = stack["broker"]["token"]
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    r = http.post(stack["baseUrl"] + "/api/broker/symbols", json={"symbol": symbol}, timeout=300)
    assert r.status_code in (201, 409), r.text
    procs = max(1, math.ceil(audience / PER_PROCESS))
    sizes = [audience // procs + (1 if i < audience % procs else 0) for i in range(procs)]
    ctx = mp.get_context("spawn")
    workers = []
    t = time.monotonic()
    for n in sizes:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=client_process, args=(stack["wsUrl"], symbol, n, child), daemon=True)
        p.start()
        workers.append((p, parent))
    connected = sum(conn.recv()[1] for _, conn in workers)
    setup_s = time.monotonic() - t
    print(f"  {connected:,} of {audience:,} subscribers connected and subscribed in {setup_s:.0f} s "
          f"({procs} client processes)", flush=True)
    time.sleep(2.0)

    pushes = []
    for i in range(TICKS):
        price = f"{1000 + i}.5"
        t_push = time.time()
        r = http.post(stack["baseUrl"] + "/api/broker/price-feed", json={"symbol": symbol, "price": price},
                      timeout=300)
        assert r.status_code == 200, r.text
        pushes.append((price, t_push, time.time() - t_push))
        deadline = time.monotonic() + 300
        waiting = {id(c) for _, c in workers}
        while waiting and time.monotonic() < deadline:
            for _, conn in workers:
                if id(conn) in waiting and conn.poll(0.05):
                    kind, value = conn.recv()
                    if kind == "all" and value == price:
                        waiting.discard(id(conn))
        time.sleep(1.5)  # the next tick starts a new throttle window

    arrivals: dict[str, list[float]] = {}
    for p, conn in workers:
        conn.send(("stop",))
        while True:
            kind, value = conn.recv()
            if kind == "result":
                break
        for price, times in value.items():
            arrivals.setdefault(price, []).extend(times)
        p.join(60)

    settle(stack, http)  # the closed sockets' $disconnect handlers run before the next audience
    rows = []
    for price, t_push, http_s in pushes:
        lat = [t - t_push for t in arrivals.get(price, [])]
        if not lat:
            rows.append({"price": price, "delivered": 0})
            continue
        rows.append({"price": price, "delivered": len(lat), "http push ms": round(http_s * 1000),
                     "first s": round(min(lat), 3), "p50 s": round(statistics.median(lat), 3),
                     "p99 s": round(pct(lat, 99), 3), "last s": round(max(lat), 3)})
    return {"audience": audience, "connected": connected, "setup s": round(setup_s), "ticks": rows,
            "server": server_lines(log_path, symbol)}


def settle(stack: dict, http, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = time.monotonic()
        try:
            http.get(stack["baseUrl"] + "/api/symbols", timeout=300)
        except requests.RequestException:
            pass
        if time.monotonic() - t < 0.5:
            return
        time.sleep(2)


def server_lines(log_path: str, symbol: str) -> list[dict]:
    """The stack's own account of each broadcast of the symbol (fanout.deliver's debug line)."""
    out = []
    with open(log_path) as f:
        for line in f:
            if '"message":"broadcast' not in line or (f'"symbol":"{symbol}"' not in line
                                                       and f'"topic":"ticker#{symbol}"' not in line):
                continue
            try:
                d = json.loads(line[line.index("{"):])
            except ValueError:
                continue
            out.append({k: d[k] for k in ("message", "lagMs", "buildMs", "waitMs", "postMs", "posted", "ms")
                        if k in d})
    return out


def main(argv: list[str] | None = None) -> int:
    audiences = [int(a) for a in (argv or [])] or [1000, 10000]
    soft, hard = raise_nofile()
    print(f"== market data: one tick to N local WebSocket subscribers (DB={DB}, RLIMIT_NOFILE {soft}/{hard}, "
          f"{os.cpu_count()} CPUs) ==", flush=True)
    tmp = tempfile.mkdtemp(prefix="bench-md-")
    proc, stack, log_path = start_stack(tmp)
    results = []
    try:
        for n in audiences:
            print(f"-- {n:,} subscribers", flush=True)
            res = run_audience(stack, log_path, n)
            results.append(res)
            for row in res["ticks"]:
                print(f"  tick {row}", flush=True)
            for line in res["server"]:
                print(f"  server: {line}", flush=True)
    finally:
        stop_stack(proc)
    print("== summary: seconds from the push to the LAST subscriber (median of the ticks) ==")
    lasts = {}
    for res in results:
        values = [r["last s"] for r in res["ticks"] if r.get("delivered") == res["connected"]]
        lasts[res["audience"]] = statistics.median(values) if values else None
        p50 = statistics.median([r["p50 s"] for r in res["ticks"] if "p50 s" in r] or [0])
        print(f"  {res['audience']:>6,} subscribers: last {lasts[res['audience']]} s, median subscriber {p50} s, "
              f"≈ {res['connected'] / lasts[res['audience']]:.0f} posts/s" if lasts[res["audience"]] else
              f"  {res['audience']:>6,} subscribers: not every subscriber got every tick")
    if lasts.get(1000) and lasts.get(10000):
        print(f"  ratio 10,000 / 1,000: {lasts[10000] / lasts[1000]:.1f}x (a single local process posts every "
              f"message; in AWS the {math.ceil(10000 / 500) - 1} extra chunks go to parallel invocations)")
    from bench.common import row, write_section
    write_section("bench_marketdata", {"db": DB, "results": results, "summary": [
        row("market data (end to end)", f"{res['audience']:,} subscribers: push -> last subscriber s "
                                        "(median of the ticks)", lasts[res["audience"]], "")
        for res in results]})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

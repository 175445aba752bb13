"""Load benchmark: the users' load against the local stack, exactly as `make run` starts it (default engine).

    python -m bench.bench_load [seconds ...]      # default: 60 then 600 (BENCH_LOAD_S="60 600")

Per run: 50 market-maker bots each repricing one pair every second (a filled pair is placed again), 20 price
ticks per second (two feeders of 10/s: BTCUSDT by the admin, XAUUSD by the demo broker), 10 traders each placing
a market order and a limit order (then cancelling it) every 2 s, all over loopback from one asyncio client process.
Reported: requests served, unexpected errors (5xx, timeouts, refused; 4xx business answers counted apart),
p50 / p99 per endpoint, the stack's resident memory (its own process + engines) at start, after the first minute
and at the end, the pumps' lag (GET /_local/stats), queue depths at the end, and `make ledger-check` at the end.
Sizes are bounded: BOTS, TRADERS, TICKS_PER_S below (BENCH_BOTS / BENCH_TRADERS / BENCH_TICKS override).
"""
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict

import aiohttp

from bench.common import LocalStack, pct, row, write_section

BOTS = int(os.environ.get("BENCH_BOTS", "50"))
TRADERS = int(os.environ.get("BENCH_TRADERS", "10"))
TICKS_PER_S = float(os.environ.get("BENCH_TICKS", "20"))
TIMEOUT_S = 30
MM_SYMBOL = "BTCUSDT"
FEEDS = (("BTCUSDT", "admin", 70000.0), ("XAUUSD", "broker", 2350.0))
QTY = 0.01


class Recorder:
    def __init__(self):
        self.latency = defaultdict(list)   # endpoint -> ms of every answered request
        self.status = defaultdict(Counter)  # endpoint -> status -> count
        self.codes = defaultdict(Counter)  # endpoint -> 4xx error code -> count
        self.transport = defaultdict(Counter)  # endpoint -> exception type (timeouts, refused)
        self.on = True

    def add(self, endpoint, status, ms, body):
        if not self.on:
            return
        self.latency[endpoint].append(ms)
        self.status[endpoint][status] += 1
        if 400 <= status < 500:
            code = body.get("code") or body.get("error") if isinstance(body, dict) else None
            self.codes[endpoint][str(code)] += 1

    def unexpected(self) -> int:
        bad = sum(n for st in self.status.values() for s, n in st.items() if s >= 500 or s in (401, 403, 404))
        return bad + sum(sum(c.values()) for c in self.transport.values())


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, rec: Recorder):
        self.s, self.base, self.rec = session, base, rec

    async def call(self, endpoint: str, method: str, path: str, token=None, json_body=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        t = time.perf_counter()
        try:
            async with self.s.request(method, self.base + path, json=json_body, headers=headers) as r:
                raw = await r.read()
                ms = (time.perf_counter() - t) * 1000
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                self.rec.add(endpoint, r.status, ms, body)
                return r.status, body
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            if self.rec.on:
                self.rec.transport[endpoint][type(e).__name__] += 1
            return 0, str(e)


async def register(c: Client, creds: dict, name: str, amount: int) -> tuple[str, str]:
    status, body = await c.call("setup", "POST", "/api/auth/register",
                                json_body={"username": name, "password": "bench-pass-123",
                                           "brokerUid": creds["broker"]["brokerUid"]})
    if status not in (200, 201):
        raise RuntimeError(f"register {name}: {status} {body}")
    token, uid = body["token"], body["user"]["id"]
    status, body = await c.call("setup", "POST", f"/api/admin/accounts/{uid}/credit", creds["admin"]["token"],
                                {"amount": amount, "reference": "bench"})
    if status not in (200, 201):
        raise RuntimeError(f"credit {name}: {status} {body}")
    return token, uid


class Market:
    def __init__(self):
        self.price = {s: p for s, _, p in FEEDS}


async def feeder(c: Client, creds: dict, market: Market, stop: asyncio.Event):
    next_at = time.monotonic()
    i = 0
    tasks = set()
    while not stop.is_set():
        symbol, who, _ = FEEDS[i % len(FEEDS)]
        i += 1
        market.price[symbol] = round(market.price[symbol] * (1 + random.gauss(0, 0.0002)), 2)
        # fire and go on: a slow answer must not slow the feed down (the feed's rate is the load)
        t = asyncio.create_task(c.call("POST /api/broker/price-feed", "POST", "/api/broker/price-feed",
                                       creds[who]["token"], {"symbol": symbol, "price": market.price[symbol]}))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        next_at += 1 / TICKS_PER_S
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await asyncio.gather(*tasks, return_exceptions=True)


def quotes(market: Market, k: int):
    mid = market.price[MM_SYMBOL]
    spread = 50 + (k % 10) * 10 + random.random() * 5
    return round(mid - spread, 1), round(mid + spread, 1)


async def market_maker(c: Client, token: str, k: int, market: Market, stop: asyncio.Event):
    pair_id = None
    await asyncio.sleep(random.random())  # spread the bots over the second
    next_at = time.monotonic()
    while not stop.is_set():
        bid, ask = quotes(market, k)
        if pair_id is None:
            status, body = await c.call("POST /api/liquidity/pairs", "POST", "/api/liquidity/pairs", token,
                                        {"symbol": MM_SYMBOL, "bidPrice": bid, "askPrice": ask, "quantity": QTY})
            pair_id = body.get("pairId") if status == 201 and isinstance(body, dict) else None
        else:
            status, body = await c.call("POST /api/liquidity/reprice", "POST", "/api/liquidity/reprice", token,
                                        {"pairId": pair_id, "newBidPrice": bid, "newAskPrice": ask})
            if status == 200 and isinstance(body, dict):
                pair_id = body.get("pairId", pair_id)
            elif 400 <= status < 500:
                pair_id = None  # filled or ended: place a new pair next second
        next_at += 1.0
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def trader(c: Client, token: str, k: int, market: Market, stop: asyncio.Event):
    await asyncio.sleep(random.random() * 2)
    side = "buy" if k % 2 else "sell"
    next_at = time.monotonic()
    while not stop.is_set():
        await c.call("POST /api/orders (market)", "POST", "/api/orders", token,
                     {"symbol": MM_SYMBOL, "side": side, "type": "market", "quantity": QTY})
        side = "sell" if side == "buy" else "buy"
        far = round(market.price[MM_SYMBOL] * (0.8 if side == "buy" else 1.2), 1)  # rests, never crosses
        status, body = await c.call("POST /api/orders (limit)", "POST", "/api/orders", token,
                                    {"symbol": MM_SYMBOL, "side": side, "type": "limit", "quantity": QTY,
                                     "price": far})
        order_id = (body.get("orderId") or body.get("id")) if status == 201 and isinstance(body, dict) else None
        if order_id:
            await c.call("DELETE /api/orders/{id}", "DELETE", f"/api/orders/{order_id}", token)
        next_at += 2.0
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def ticker_watcher(ws_url: str, lags: list, stop: asyncio.Event):
    """One WebSocket subscriber of BTCUSDT's ticker: how old each tick is when it arrives (push -> stream pump ->
    stream handler -> broadcast -> management API -> socket), i.e. whether the pumps keep up."""
    import websockets
    try:
        async with websockets.connect(ws_url, ping_interval=None, open_timeout=30) as ws:
            await ws.send(json.dumps({"type": "subscribe", "channel": "ticker", "symbol": MM_SYMBOL}))
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 1.0)
                except asyncio.TimeoutError:
                    continue
                m = json.loads(raw)
                if m.get("type") == "ticker" and m.get("ts"):
                    lags.append(time.time() * 1000 - int(m["ts"]))
    except Exception as e:  # noqa: BLE001
        lags.append(f"watcher failed: {e}")


async def drain_time(c: Client, timeout: float = 120) -> float | None:
    """Seconds after the load stopped until every pump's record count stays put for 2 s (None: still busy)."""
    t0 = time.monotonic()
    last, changed = None, t0
    while time.monotonic() - t0 < timeout:
        s = await stats(c)
        counts = {k: w.get("records") for k, w in (s.get("workers") or {}).items()}
        if counts != last:
            last, changed = counts, time.monotonic()
        elif time.monotonic() - changed >= 2:
            return round(changed - t0, 1)
        await asyncio.sleep(0.25)
    return None


async def stats(c: Client) -> dict:
    try:
        async with c.s.get(c.base + "/_local/stats") as r:
            return await r.json()
    except Exception as e:  # noqa: BLE001 (a sample lost is not a failure of the load)
        return {"error": str(e)}


def total_rss(s: dict) -> float | None:
    values = [v for v in (s.get("rssMb") or {}).values() if v]
    return round(sum(values), 1) if values else None


async def run_load(stack: LocalStack, seconds: float) -> dict:
    rec = Recorder()
    market = Market()
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session:
        c = Client(session, stack.base_url, rec)
        creds = stack.creds
        tag = f"{int(time.time()) % 100000}"
        accounts = await asyncio.gather(*[register(c, creds, f"bench_mm_{tag}_{k}", 100000) for k in range(BOTS)],
                                        *[register(c, creds, f"bench_tr_{tag}_{k}", 20000) for k in range(TRADERS)])
        for symbol, who, _ in FEEDS:  # a reference price before the first quote
            await c.call("setup", "POST", "/api/broker/price-feed", creds[who]["token"],
                         {"symbol": symbol, "price": market.price[symbol]})
        rec.latency.pop("setup", None)
        rec.status.pop("setup", None)
        start_stats = await stats(c)
        samples = [(0.0, start_stats)]
        stop = asyncio.Event()
        t0 = time.monotonic()
        lags: list = []
        tasks = [asyncio.create_task(feeder(c, creds, market, stop)),
                 asyncio.create_task(ticker_watcher(stack.info["wsUrl"], lags, stop))]
        tasks += [asyncio.create_task(market_maker(c, tok, k, market, stop)) for k, (tok, _) in
                  enumerate(accounts[:BOTS])]
        tasks += [asyncio.create_task(trader(c, tok, k, market, stop)) for k, (tok, _) in
                  enumerate(accounts[BOTS:])]
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(min(5.0, max(0.0, seconds - (time.monotonic() - t0))))
            samples.append((round(time.monotonic() - t0, 1), await stats(c)))
            if int(time.monotonic() - t0) % 60 < 5:
                print(f"  t={time.monotonic() - t0:.0f}s rss={total_rss(samples[-1][1])} MB "
                      f"served={sum(len(v) for v in rec.latency.values())} unexpected={rec.unexpected()}",
                      flush=True)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), TIMEOUT_S + 5)
        elapsed = time.monotonic() - t0
        rec.on = False
        drained = await drain_time(c)
        end_stats = await stats(c)
    after_1m = next((s for t, s in samples if t >= 60), samples[-1][1])
    endpoints = {}
    for ep in sorted(rec.latency):
        lat = rec.latency[ep]
        endpoints[ep] = {"served": len(lat), "p50 ms": round(pct(lat, 50), 1), "p99 ms": round(pct(lat, 99), 1),
                         "status": dict(rec.status[ep]), "4xx codes": dict(rec.codes[ep]),
                         "transport errors": dict(rec.transport[ep])}
    return {
        "seconds": round(elapsed, 1), "bots": BOTS, "traders": TRADERS, "ticks per s": TICKS_PER_S,
        "requests served": sum(len(v) for v in rec.latency.values()),
        "unexpected errors": rec.unexpected(),
        "endpoints": endpoints,
        "rss MB start": total_rss(start_stats), "rss MB after 1 min": total_rss(after_1m),
        "rss MB end": total_rss(end_stats), "rss MB by process end": end_stats.get("rssMb"),
        "pumps end": end_stats.get("workers"), "handler pool queued end": end_stats.get("queued"),
        "max queue lag s": max([w.get("max_lag_s", 0) for _, s in samples for w in (s.get("workers") or {}).values()]
                               or [0]),
        "pumps drained s after the load": drained,
        "ticker age at subscriber ms p50 / p99 / n": ticker_ages(lags),
        "rss samples": [(t, total_rss(s)) for t, s in samples],
        "aws calls per s (by thread and operation)": calls_per_s(start_stats, end_stats, elapsed),
        "queue depths end": queue_depths(stack),
    }


def calls_per_s(start: dict, end: dict, seconds: float) -> dict:
    a, b = start.get("awsCalls") or {}, end.get("awsCalls") or {}
    rates = {k: round((v - a.get(k, 0)) / seconds, 1) for k, v in b.items()}
    return dict(sorted(((k, v) for k, v in rates.items() if v >= 0.1), key=lambda kv: -kv[1]))


def ticker_ages(lags: list):
    numbers = [x for x in lags if isinstance(x, (int, float))]
    if not numbers:
        return [x for x in lags if isinstance(x, str)][:1] or None
    return [round(pct(numbers, 50)), round(pct(numbers, 99)), len(numbers)]


def queue_depths(stack: LocalStack) -> dict:
    import boto3
    env = stack.info.get("env", {})
    sqs = boto3.client("sqs", endpoint_url=env.get("SQS_ENDPOINT"), region_name=env.get("AWS_DEFAULT_REGION"),
                       aws_access_key_id="test", aws_secret_access_key="test")
    out = {}
    for name, url in env.items():
        if name.endswith("_QUEUE_URL"):
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                       "ApproximateNumberOfMessagesNotVisible",
                                                                       "ApproximateNumberOfMessagesDelayed"])
            out[name[:-10].lower()] = {k.replace("ApproximateNumberOfMessages", "") or "visible": int(v)
                                       for k, v in a["Attributes"].items()}
    return out


def summary(name: str, r: dict, long_run: bool) -> list[dict]:
    rows = [row(name, "requests served / unexpected errors", f"{r['requests served']} / {r['unexpected errors']}",
                "0 unexpected")]
    for ep, e in r["endpoints"].items():
        fourxx = sum(n for s, n in e["status"].items() if 400 <= int(s) < 500)
        rows.append(row(name, f"{ep}: n, p50 / p99 ms, 4xx",
                        f"{e['served']}, {e['p50 ms']} / {e['p99 ms']}, {fourxx}"))
    rows.append(row(name, "stack RSS MB start / 1 min / end",
                    f"{r['rss MB start']} / {r['rss MB after 1 min']} / {r['rss MB end']}",
                    "end ≤ 1.5× 1 min" if long_run else "bounded"))
    if long_run and r["rss MB after 1 min"]:
        rows.append(row(name, "RSS end / after 1 min", round(r["rss MB end"] / r["rss MB after 1 min"], 2), "≤ 1.5"))
    rows.append(row(name, "tick age at a WebSocket subscriber ms p50 / p99 / n",
                    r["ticker age at subscriber ms p50 / p99 / n"], "no growing backlog"))
    rows.append(row(name, "max queue lag s / pumps drained s after the load",
                    f"{r['max queue lag s']} / {r['pumps drained s after the load']}", "no growing backlog"))
    ledger = r.get("ledger check", {})
    rows.append(row(name, "ledger check", "ok" if ledger.get("ok") else f"FAILED ({ledger})", "ok"))
    return rows


def main(argv: list[str]) -> int:
    durations = [float(a) for a in (argv or os.environ.get("BENCH_LOAD_S", "60 600").split())]
    out = {"runs": [], "summary": []}
    for seconds in durations:
        name = f"load {seconds:.0f} s"
        print(f"== {name}: {BOTS} market makers repricing 1/s, {TICKS_PER_S:.0f} ticks/s, {TRADERS} traders "
              f"(make run's default engine, {os.cpu_count()} CPUs) ==", flush=True)
        stack = LocalStack(COUNT_CALLS="on").start()  # a fresh stack per run: memory after minute 1 is the run's own
        try:
            r = asyncio.run(run_load(stack, seconds))
            r["engine"] = stack.info.get("db")
            r["ledger check"] = stack.ledger_check()
        finally:
            stack.stop()
        r["stack log tail (errors)"] = [ln for ln in stack.log_tail(200000).splitlines()
                                        if " E " in ln or "Traceback" in ln][-20:]
        out["runs"].append(r)
        for rw in summary(name, r, seconds >= 300):
            out["summary"].append(rw)
            print(f"  {rw['metric']}: {rw['value']}", flush=True)
    write_section("bench_load", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

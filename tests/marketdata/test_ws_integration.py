"""Market data end to end with REAL WebSocket clients against the local stack (`python -m local.stack` as a
subprocess: the real app, moto server, the stream and queue pumps, the WebSocket gateway).

Timed assertions here are only the contract's delivery bounds (latest price within 2 s of its push), measured
on the wall clock, plus the 1-message-per-second limit (with 100 ms of slack for delivery jitter).
"""
import asyncio
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
import websockets

from tests.fixtures.local_stack import local_stack
from tests.helpers import spec_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with local_stack(tmp_path_factory.mktemp("mdstack"),
                     env={"FEED": "off", "SEED": "on", "LOG_LEVEL": "WARNING"}) as s:
        yield s.creds


def api(stack, method, path, token=None, **kw):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, stack["baseUrl"] + path, headers=h, timeout=30, **kw)


def new_symbol(stack, name):
    r = api(stack, "POST", "/api/broker/symbols", stack["broker"]["token"],
            json={"symbol": name, "name": name, "pricePrecision": 2, "quantityPrecision": 2, "minQuantity": 0.01,
                  "maxLeverage": 10})
    assert r.status_code == 201, r.text
    return name


def ticker_price(stack, symbol) -> Decimal | None:
    p = api(stack, "GET", f"/api/ticker?symbol={symbol}").json()["price"]
    return None if p is None else Decimal(str(p))


class Client:
    """One WebSocket client recording (arrival time, message)."""

    def __init__(self, ws):
        self.ws, self.got = ws, []

    async def request(self, msg: dict, expect: str) -> dict:
        await self.ws.send(json.dumps(msg))
        while True:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), 15))
            self.got.append((time.time(), m))
            if m.get("type") in (expect, "error"):
                return m

    async def listen(self, until: float):
        while time.time() < until:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), max(0.01, until - time.time()))
            except asyncio.TimeoutError:
                return
            self.got.append((time.time(), json.loads(raw)))

    def of(self, kind, symbol):
        return [(t, m) for t, m in self.got if m.get("type") == kind and m.get("symbol") == symbol]


async def _clients(url, n):
    return [Client(await websockets.connect(url, max_queue=None)) for _ in range(n)]


def _burst(stack, symbol, prices, n_clients=5):
    """Subscribe n clients to the ticker, push `prices` (all but the last from 8 threads, then the last alone:
    it is the latest by time), listen 6 s. Returns (clients, t0, pushes' server timestamps in s, sorted): the
    `ts` each price-feed answer reports is the server's own time of the tick, not when the HTTP call returned."""
    token = stack["broker"]["token"]

    async def go():
        clients = await _clients(stack["wsUrl"], n_clients)
        for c in clients:
            assert (await c.request({"type": "subscribe", "channel": "ticker", "symbol": symbol},
                                    "subscribed"))["type"] == "subscribed"
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"

        def push(p):
            r = session.post(stack["baseUrl"] + "/api/broker/price-feed", json={"symbol": symbol, "price": str(p)},
                             timeout=30)
            assert r.status_code == 200, r.text
            return r.json()["ts"] / 1000

        def burst():
            with ThreadPoolExecutor(8) as pool:
                done = sorted(pool.map(push, prices[:-1]))
            return done + [push(prices[-1])]

        t0 = time.time()
        listeners = [asyncio.create_task(c.listen(t0 + 6)) for c in clients]
        pushed = await asyncio.to_thread(burst)
        await asyncio.gather(*listeners)
        for c in clients:
            await c.ws.close()
        return clients, t0, pushed

    return asyncio.run(go())


def test_burst_of_50_one_message_per_second_and_last_price_within_2s(stack):
    """Measured: a burst of 50 pushes within one second gives one broadcast per subscriber in that second, and
    the 50th price arrives within 2 s of its push. Push times are the server's tick timestamps (the price-feed
    answer's `ts`, the same clock the WebSocket arrivals are read on: one machine). On a machine too busy to
    push 50 prices within one second (by those timestamps) the burst is tried again (3 times); the per-second
    limit and the 2 s bound are checked every time, and if no burst fit in one second the test is reported as
    xfail with the measured span (visible in the summary), never skipped."""
    spans = []
    for attempt in range(3):
        symbol = new_symbol(stack, f"BURST{attempt}")
        prices = [Decimal(1000 + i) + Decimal("0.25") for i in range(50)]
        clients, t0, pushed = _burst(stack, symbol, prices)
        for c in clients:
            msgs = c.of("ticker", symbol)
            times = [t for t, _ in msgs]
            assert msgs, "no ticker message"
            # never more than one per second (100 ms of slack for delivery jitter)
            assert all(b - a >= 0.9 for a, b in zip(times, times[1:])), [round(t - t0, 3) for t in times]
            # the 50th price arrives within 2 s of its push (its tick's server timestamp), and nothing follows it
            last = [(t, m) for t, m in msgs if Decimal(str(m["price"])) == prices[-1]]
            assert last, [m["price"] for _, m in msgs]
            arrived, m = last[0]
            assert m["ts"] / 1000 == pushed[-1]  # the message carries the 50th push's own tick
            assert arrived - pushed[-1] <= 2.0, (f"50th price after {arrived - pushed[-1]:.2f} s",
                                                 [round(t - t0, 3) for t in times])
            assert times[-1] == arrived
        k = api(stack, "GET", f"/api/klines?symbol={symbol}&interval=1d").json()
        assert sum(c["ticks"] for c in k) == 50
        assert Decimal(str(k[-1]["close"])) == prices[-1] and Decimal(str(k[-1]["high"])) == prices[-1]
        first, span = pushed[0], pushed[-1] - pushed[0]
        spans.append(round(span, 3))
        if span < 1.0:
            for c in clients:
                times = [t - first for t, _ in c.of("ticker", symbol)]
                # one broadcast for the burst's second (at most one arrives within it), plus the trailing edge
                assert len([t for t in times if t < 1.0]) <= 1 and 1 <= len(times) <= 2, times
            return
    pytest.xfail(f"50 pushes never fit in one second by the server's timestamps (spans {spans} s): the per-burst "
                 f"count was not checked; the per-second limit and the 2 s bound were")


def test_kline_depth_and_errors_over_websocket(stack):
    symbol = new_symbol(stack, "WSKLN")
    token = stack["broker"]["token"]

    async def go():
        (c,) = await _clients(stack["wsUrl"], 1)
        assert (await c.request({"type": "subscribe", "channel": "ticker", "symbol": "NOPE42"}, "subscribed"))[
            "code"] == "UNKNOWN_SYMBOL"
        assert (await c.request({"type": "subscribe", "channel": "kline", "symbol": symbol, "interval": "9m"},
                                "subscribed"))["code"] == "INVALID_INTERVAL"
        assert (await c.request({"type": "subscribe", "channel": "kline", "symbol": symbol, "interval": "1m"},
                                "subscribed"))["type"] == "subscribed"
        assert (await c.request({"type": "subscribe", "channel": "depth", "symbol": symbol}, "subscribed"))[
            "type"] == "subscribed"
        assert (await c.request({"type": "ping"}, "pong"))["type"] == "pong"  # still connected after errors
        t = time.time()
        r = await asyncio.to_thread(api, stack, "POST", "/api/broker/price-feed", token,
                                    json={"symbol": symbol, "price": 77.5})
        assert r.status_code == 200
        await c.listen(t + 3)
        await c.ws.close()
        return c

    c = asyncio.run(go())
    k = c.of("kline", symbol)
    assert len(k) == 1, c.got
    m = k[0][1]
    assert m["interval"] == "1m" and Decimal(str(m["close"])) == Decimal("77.5") and m["ticks"] == 1


# --- the guide's client snippets, unchanged but for HOST and the token ---------------------------------------

BASH_SNIPPET = r'''TOKEN="YOUR_TOKEN"
while true; do
PRICE=3275.50 # replace with your data source
curl -s -X POST http://HOST:3001/api/broker/price-feed \
-H "Authorization: Bearer $TOKEN" \
-H "Content-Type: application/json" \
-d "{\"symbol\":\"XAUUSD\",\"price\":$PRICE}" > /dev/null
sleep 1
done
'''

# The guide's text lost its indentation (encoding damage); restored here, nothing else changed.
PYTHON_SNIPPET = '''import requests, time
BASE = "http://HOST:3001"
TOKEN = "YOUR_TOKEN"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
def push_price(symbol: str, price: float):
    requests.post(f"{BASE}/api/broker/price-feed",
        headers=HEADERS,
        json={"symbol": symbol, "price": price})
# Example: push every tick from your data source
while True:
    price = get_price_from_your_source() # replace with your API
    push_price("XAUUSD", price)
    time.sleep(0.1) # push every 100ms - backend throttles WS broadcast to 1/sec
'''


def test_snippets_are_the_guides():
    flat = lambda s: [line.strip() for line in s.strip().splitlines()]  # noqa: E731
    guide = flat(spec_file("seed-platform-guide.txt").read_text(encoding="utf-8"))
    for snippet in (BASH_SNIPPET, PYTHON_SNIPPET):
        lines = flat(snippet)
        start = guide.index(lines[0])
        assert guide[start:start + len(lines)] == lines


def _substitute(snippet: str, stack) -> str:
    host = stack["baseUrl"].split("://", 1)[1]
    return snippet.replace("HOST:3001", host).replace("YOUR_TOKEN", stack["broker"]["token"])


def _run_for(cmd: list[str], seconds: float) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(10)
    else:
        raise AssertionError(f"the snippet ended early ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")


def _ticks(stack, symbol) -> int:
    return sum(c["ticks"] for c in api(stack, "GET", f"/api/klines?symbol={symbol}&interval=1d").json())


def _eventually(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met")
        time.sleep(0.2)


def test_guide_bash_loop_pushes_prices(stack, tmp_path):
    script = tmp_path / "push.sh"
    script.write_text(_substitute(BASH_SNIPPET, stack))
    before = _ticks(stack, "XAUUSD")
    assert ticker_price(stack, "XAUUSD") != Decimal("3275.5")
    _run_for(["bash", str(script)], 3.5)
    assert ticker_price(stack, "XAUUSD") == Decimal("3275.5")
    _eventually(lambda: _ticks(stack, "XAUUSD") - before >= 3)  # pushes every second, candles count them


def test_guide_python_loop_pushes_prices(stack, tmp_path):
    script = tmp_path / "push.py"
    source = "def get_price_from_your_source():\n    return 3281.25\n" + _substitute(PYTHON_SNIPPET, stack)
    script.write_text(source)
    before = _ticks(stack, "XAUUSD")
    _run_for([sys.executable, str(script)], 3.0)
    assert ticker_price(stack, "XAUUSD") == Decimal("3281.25")
    _eventually(lambda: _ticks(stack, "XAUUSD") - before >= 10)  # every 100 ms for 3 s

"""The SDK and the reference market maker against the local stack (`python -m local.stack` as a subprocess, as
`make run` starts it; moto server; its WebSocket gateway and management API).

- A deposit whose first response is lost after the server applied it is retried with the same Idempotency-Key
  and applies once; an order whose first answer is turned into a 500 (after the server placed it) and a 429
  injected before the retry is placed once.
- The typed models match the served OpenAPI document (xfail while the server serves none).
- `simtrade mm run` quotes ~25 s with a feeder moving the price, survives a WebSocket drop forced by the server
  (management API DELETE @connections) and a revoked session (admin revokes every token: the bot logs in
  again), leaves no pending pair after SIGINT, and the ledger check stays at zero.
- The stack started as `make run` does (BOTS=on) runs the reference bot for the demo symbols: both get a
  two-sided book (BTCUSDT as soon as it has a price: the bot waits for one).
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal

import boto3
import pytest
import requests
from requests.adapters import HTTPAdapter

from simtrade import Client, RetryPolicy
from simtrade.models import MODELS
from tests.fixtures.local_stack import SCRUB, local_stack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with local_stack(tmp_path_factory.mktemp("sdkstack"), unset=SCRUB,
                     env={"FEED": "off", "BOTS": "on", "CHAIN": "off", "LOG_LEVEL": "WARNING"}) as s:
        yield {**s.creds, "info": s.info, "infoPath": s.info_path}


def test_make_run_starts_the_reference_bot_for_the_demo_symbols(stack):
    admin = _client(stack, token=stack["admin"]["token"])
    admin.push_price("BTCUSDT", Decimal("70000.00"))  # FEED=off here: BTCUSDT had no price, the bot waited
    c = _client(stack)
    deadline, books = time.monotonic() + 40, {}
    while time.monotonic() < deadline:
        books = {s.symbol: (s.bid, s.ask) for s in c.symbols() if s.symbol in ("XAUUSD", "BTCUSDT")}
        if all(b is not None and a is not None for b, a in books.values()) and len(books) == 2:
            break
        time.sleep(0.5)
    assert len(books) == 2 and all(b is not None and a is not None and b < a for b, a in books.values()), books
    depth = c.depth("XAUUSD")
    assert depth.bids and depth.asks and isinstance(depth.bids[0][0], Decimal)
    mm = Client(stack["baseUrl"], username=stack["marketMaker"]["username"],
                password=stack["marketMaker"]["password"])
    assert {p.symbol for p in mm.pairs(status="pending")} == {"XAUUSD", "BTCUSDT"}


class LoseFirst(HTTPAdapter):
    """Sends the first request whose path matches to the real server, then loses (or replaces) its answer;
    optionally answers a scripted status before the request reaches the server."""

    def __init__(self, pattern: str, mode: str = "drop", injected_before: list[int] | None = None):
        super().__init__()
        self.pattern, self.mode, self.injected = re.compile(pattern), mode, list(injected_before or [])
        self.real_answers, self.sent = [], []
        self.lost = False

    def send(self, request, **kw):
        if not self.pattern.search(request.path_url):
            return super().send(request, **kw)
        self.sent.append(request.headers.get("Idempotency-Key"))
        if self.lost and self.injected:  # e.g. a 429 the server never saw
            status = self.injected.pop(0)
            r = requests.Response()
            r.status_code, r.request, r.url = status, request, request.url
            r._content = json.dumps({"error": "injected", "code": "RATE_LIMITED" if status == 429 else
                                     "INTERNAL"}).encode()
            r.headers.update({"Content-Type": "application/json", "Retry-After": "0"})
            return r
        resp = super().send(request, **kw)
        self.real_answers.append((resp.status_code, resp.headers.get("Idempotent-Replayed"), resp.content))
        if self.lost:
            return resp
        self.lost = True  # the server applied it; the client never learns
        if self.mode == "drop":
            raise requests.ConnectionError("connection reset by peer (test: response lost)")
        resp.status_code, resp._content = 500, b'{"error":"injected","code":"INTERNAL"}'
        return resp


def _client(stack, adapter=None, **kw) -> Client:
    s = requests.Session()
    if adapter is not None:
        s.mount("http://", adapter)
    return Client(stack["baseUrl"], session=s, sleep=lambda _s: None, retry=RetryPolicy(attempts=5), **kw)


def test_a_deposit_retried_after_its_response_was_lost_applies_once(stack):
    broker_key = stack["broker"]["apiKey"]
    setup = _client(stack, api_key=broker_key)
    client_id = f"sdk_{uuid.uuid4().hex[:8]}"
    setup.broker.create_client(client_id)
    before = Decimal(str(setup.broker.client_balance(client_id)["balance"]))
    broker_before = setup.broker.balance().balance

    lossy = LoseFirst(r"/deposit$", mode="drop")
    c = _client(stack, lossy, api_key=broker_key)
    transfer = c.broker.deposit(client_id, Decimal("12.34"), reference="sdk retry test")
    assert Decimal(str(transfer["amount"])) == Decimal("12.34")
    assert c.retries == 1 and len(lossy.sent) == 2 and lossy.sent[0] == lossy.sent[1]  # one key, two attempts
    assert [a[0] for a in lossy.real_answers] == [201, 201]
    assert lossy.real_answers[1][1] == "true"  # the retry was a replay, not a second deposit

    after = Decimal(str(setup.broker.client_balance(client_id)["balance"]))
    assert after - before == Decimal("12.34")
    assert broker_before - setup.broker.balance().balance == Decimal("12.34")
    deposits = setup.broker.transfers(client_id=client_id, type="deposit")["transfers"]
    assert len(deposits) == 1


def test_an_order_answered_500_after_it_was_placed_then_429_is_placed_once(stack):
    trader = stack["trader"]
    lossy = LoseFirst(r"/api/orders$", mode="500", injected_before=[429])
    c = _client(stack, lossy, username=trader["username"], password=trader["password"])
    c.login()
    admin = _client(stack, token=stack["admin"]["token"])
    admin.push_price("BTCUSDT", Decimal("70000"))
    coid = f"sdk-{uuid.uuid4().hex[:10]}"
    order = c.place_order("BTCUSDT", "buy", Decimal("0.001"), client_order_id=coid)
    assert order.clientOrderId == coid and isinstance(order.quantity, Decimal)
    assert len(lossy.sent) == 3 and len(set(lossy.sent)) == 1  # placed+500, injected 429, replayed
    assert [a[0] for a in lossy.real_answers] == [201, 201] and lossy.real_answers[1][1] == "true"
    mine = [o for o in c.orders(symbol="BTCUSDT", limit=500) if o.clientOrderId == coid]
    assert len(mine) == 1


def test_cli_login_account_price_csv_pairs_deposit_and_webhook_deliveries(stack, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from simtrade.cli import main
    monkeypatch.setenv("SIMTRADE_CONFIG", str(tmp_path / "session.json"))
    monkeypatch.setenv("SIMTRADE_URL", stack["baseUrl"])
    for name in ("SIMTRADE_TOKEN", "SIMTRADE_USERNAME", "SIMTRADE_PASSWORD", "SIMTRADE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    run = CliRunner().invoke
    broker = stack["broker"]
    r = run(main, ["login", broker["username"], "--password", broker["password"]])
    assert r.exit_code == 0 and "logged in as" in r.output, r.output
    assert json.loads((tmp_path / "session.json").read_text())["token"]

    r = run(main, ["--json", "account"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["username"] == broker["username"]

    sym = "SDKCLI"
    requests.post(f"{stack['baseUrl']}/api/broker/symbols", headers={"Authorization": f"Bearer {broker['token']}"},
                  json={"symbol": sym, "name": sym, "pricePrecision": 2, "quantityPrecision": 2, "minQuantity": 0.01,
                        "maxLeverage": 10}, timeout=30)
    csv_path = tmp_path / "prices.csv"
    csv_path.write_text("price\n100.10\n100.20\nnot-a-price\n100.35\n")
    r = run(main, ["price", "csv", str(csv_path), "--symbol", sym])
    assert r.exit_code == 1 and "pushed 3, failed 1" in r.output, r.output  # a bad row is reported, not fatal
    assert _client(stack).ticker(sym).price == Decimal("100.35")

    r = run(main, ["--json", "pair", "place", sym, "99.50", "101.50", "0.5"])
    assert r.exit_code == 0, r.output
    pair_id = json.loads(r.output)["pairId"]
    r = run(main, ["--json", "pair", "reprice", pair_id, "99.60", "101.40"])
    assert r.exit_code == 0, r.output
    new_id = json.loads(r.output)["pairId"]
    r = run(main, ["--json", "pair", "list", "--symbol", sym])
    assert [p["pairId"] for p in json.loads(r.output)] == [new_id]
    assert json.loads(run(main, ["--json", "pair", "cancel", new_id]).output)["pairId"] == new_id
    r = run(main, ["pair", "cancel", new_id])
    assert r.exit_code == 1 and "PAIR_NOT_PENDING" in r.output
    assert json.loads(run(main, ["--json", "pair", "list", "--symbol", sym]).output) == []
    assert run(main, ["orders", "--symbol", sym]).exit_code == 0
    assert run(main, ["positions"]).exit_code == 0

    key = ["--api-key", broker["apiKey"]]
    client_id = f"cli_{uuid.uuid4().hex[:8]}"
    assert run(main, key + ["broker", "client-create", client_id]).exit_code == 0
    r = run(main, key + ["--json", "broker", "deposit", client_id, "7.25", "--reference", "cli"])
    assert r.exit_code == 0, r.output
    r = run(main, key + ["--json", "broker", "transfers", "--client-id", client_id])
    assert [Decimal(str(t["amount"])) for t in json.loads(r.output)] == [Decimal("7.25")]
    r = run(main, ["--json", "webhooks", "deliveries"])
    assert r.exit_code == 0 and isinstance(json.loads(r.output), list), r.output

    feeder = Feeder(stack["baseUrl"], broker["token"], sym, Decimal("100.35"))  # ticks while `tail` listens
    feeder.start()
    try:
        r = run(main, ["tail", "ticker", "--symbol", sym, "--count", "2"])
    finally:
        feeder.stop.set()
    assert r.exit_code == 0, r.output
    ticks = [json.loads(x) for x in re.findall(r"^\{.*?^\}", r.output, re.S | re.M)]
    assert [t["type"] for t in ticks if t["type"] == "ticker"] and all(t.get("symbol") in (sym, None) for t in ticks)


def _schema(doc, ref_or_schema):
    s = ref_or_schema or {}
    while "$ref" in s:
        s = doc
        for part in ref_or_schema["$ref"].lstrip("#/").split("/"):
            s = s[part]
        ref_or_schema = s
    return s


def test_typed_models_match_the_served_openapi_document(stack):
    doc = _client(stack).openapi()
    if doc is None:
        pytest.xfail("server has no OpenAPI document yet")
    paths = {re.sub(r"\{[^}]+\}", "{}", p): v for p, v in doc.get("paths", {}).items()}
    found, checked, problems = 0, 0, []
    for (method, path, status), model in MODELS.items():
        op = paths.get(re.sub(r"\{[^}]+\}", "{}", path), {}).get(method)
        if op is None:
            problems.append(f"{method.upper()} {path} is not in the document")
            continue
        found += 1
        if str(status) not in op.get("responses", {}) and not any(k.startswith("2") for k in op.get("responses", {})):
            problems.append(f"{method.upper()} {path}: the document lists no success response")
        resp = op.get("responses", {}).get(str(status)) or {}
        schema = _schema(doc, (resp.get("content", {}).get("application/json", {}) or {}).get("schema"))
        props = set(schema.get("properties", {}))
        if not props:
            continue  # the document gives no object schema for this answer yet: its fields cannot be compared
        checked += 1
        fields = set(model.model_fields)
        required_by_model = {n for n, f in model.model_fields.items() if f.is_required()}
        missing = required_by_model - props
        if missing:
            problems.append(f"{method.upper()} {path}: the model requires {sorted(missing)}, the document lacks them")
        unknown = set(schema.get("required", [])) - fields
        if unknown:
            problems.append(f"{method.upper()} {path}: the document requires {sorted(unknown)}, the model lacks them")
    assert not problems, "\n".join(problems)
    assert found == len(MODELS)  # every typed call of the SDK is an operation of the served document
    print(f"{found} operations found, {checked} response schemas compared")


# --- the market maker -----------------------------------------------------------------------------------------

class Feeder(threading.Thread):
    def __init__(self, base, token, symbol, price):
        super().__init__(daemon=True)
        self.base, self.token, self.symbol, self.price = base, token, symbol, price
        self.stop, self.pushes = threading.Event(), 0

    def run(self):
        s = requests.Session()
        while not self.stop.wait(0.3):
            self.price = (self.price * Decimal(str(1 + random.gauss(0, 0.0006)))).quantize(Decimal("0.01"))
            r = s.post(f"{self.base}/api/broker/price-feed", headers={"Authorization": f"Bearer {self.token}"},
                       data=json.dumps({"symbol": self.symbol, "price": str(self.price)}), timeout=10)
            self.pushes += r.status_code == 200


class DepthSampler(threading.Thread):
    def __init__(self, base, symbol):
        super().__init__(daemon=True)
        self.base, self.symbol = base, symbol
        self.stop, self.samples = threading.Event(), []

    def run(self):
        while not self.stop.wait(0.5):
            try:
                d = requests.get(f"{self.base}/api/depth", params={"symbol": self.symbol}, timeout=10).json()
                self.samples.append(bool(d.get("bids")) and bool(d.get("asks")))
            except (requests.RequestException, ValueError):
                self.samples.append(False)


def _status(log_path) -> dict:
    """The bot's last report line: placed, repriced, rejected, reauths, wsConnects."""
    with open(log_path) as f:
        lines = [ln for ln in f if " mm SDKMM ref=" in ln]
    if not lines:
        return {}
    out = {k: int(v) for k, v in re.findall(r"(placed|repriced|rejected|reauths|wsConnects)=(\d+)", lines[-1])}
    feats = re.search(r"features=(\S+)", lines[-1])
    if feats:  # deadMan:1,cancelAll:1,cancelOnDisconnect:1 (- not probed yet, 0 absent on the server)
        out["features"] = {k: (None if v == "-" else v == "1") for k, v in
                           (kv.split(":") for kv in feats.group(1).split(","))}
    return out


def _wait_status(log_path, proc, cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = _status(log_path)
        if st and cond(st):
            return st
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    pytest.fail(f"bot: {what} not seen within {timeout} s (last {_status(log_path)}):\n"
                f"{open(log_path).read()[-3000:]}")


def _connections_of(stack, user_id):
    env = stack["info"]["env"]
    ddb = boto3.client("dynamodb", endpoint_url=env["DYNAMODB_ENDPOINT"], region_name=env["AWS_DEFAULT_REGION"],
                       aws_access_key_id="test", aws_secret_access_key="test")
    table = env.get("CONNECTIONS_TABLE") or f"{env['TABLE_PREFIX']}connections"
    items = ddb.scan(TableName=table)["Items"]
    return [i["connection_id"]["S"] for i in items if i.get("sk", {}).get("S") == "C"
            and i.get("user_id", {}).get("S") == user_id]


def test_the_market_maker_quotes_survives_a_ws_drop_and_a_revoked_session_and_cleans_up(stack, tmp_path):
    base, broker, admin = stack["baseUrl"], stack["broker"], stack["admin"]
    bc = _client(stack, token=broker["token"])
    r = requests.post(f"{base}/api/broker/symbols", headers={"Authorization": f"Bearer {broker['token']}"},
                      json={"symbol": "SDKMM", "name": "SDK bot test", "pricePrecision": 2, "quantityPrecision": 2,
                            "minQuantity": 0.01, "maxLeverage": 10}, timeout=30)
    assert r.status_code in (201, 409), r.text
    bc.push_price("SDKMM", Decimal("1000.00"))
    username, password = f"sdk_mm_{uuid.uuid4().hex[:8]}", "Sdk-Mm-Pass-1"
    mm = Client(base)
    mm.register(username, password, broker["brokerUid"])
    mm_id = mm.user.id
    _client(stack, token=admin["token"]).credit(mm_id, Decimal(50000), "sdk bot test")

    feeder, sampler = Feeder(base, broker["token"], "SDKMM", Decimal("1000.00")), DepthSampler(base, "SDKMM")
    log_path = tmp_path / "mm.log"
    env = {**os.environ, "SIMTRADE_USERNAME": username, "SIMTRADE_PASSWORD": password}
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "simtrade", "--url", base, "mm", "run", "--symbol", "SDKMM",
                                 "--quantity", "2", "--spread", "0.004", "--interval", "1", "--report-every", "1",
                                 "--dead-man-ms", "10000"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        feeder.start()
        st = _wait_status(log_path, proc, lambda s: s["placed"] >= 1, 30, "a first pair")
        sampler.start()
        quoting_from = time.monotonic()
        time.sleep(6)

        # 1. the server drops the bot's WebSocket (API Gateway's management API)
        cids = _connections_of(stack, mm_id)
        assert cids, "the bot's authenticated WebSocket connection is not in the connections table"
        for cid in cids:
            assert requests.delete(f"{base}/local/@connections/{cid}", timeout=10).status_code == 204
        st = _wait_status(log_path, proc, lambda s: s["wsConnects"] >= 2, 20, "a reconnect")
        assert _connections_of(stack, mm_id), "the bot did not authenticate its new connection"
        moved = st["placed"] + st["repriced"]
        time.sleep(4)

        # 2. every session of the bot's account is revoked: its next call gets 401 and it logs in again
        r = requests.post(f"{base}/api/admin/sessions/revoke", json={"userId": mm_id}, timeout=10,
                          headers={"Authorization": f"Bearer {admin['token']}"})
        assert r.status_code == 200, r.text
        st = _wait_status(log_path, proc, lambda s: s["reauths"] >= 1, 20, "a re-authentication")
        after_revoke = st["placed"] + st["repriced"]
        assert after_revoke > moved, "the bot did not quote between the reconnect and the revocation"
        st = _wait_status(log_path, proc, lambda s: s["placed"] + s["repriced"] >= after_revoke + 3, 20,
                          "quoting after the re-authentication")
        # 3. it keeps quoting with the price moving until 30 s of quoting (the figure)
        time.sleep(max(0.0, 30 - (time.monotonic() - quoting_from)))
        last = st["placed"] + st["repriced"]
        st = _wait_status(log_path, proc, lambda s: s["placed"] + s["repriced"] > last, 20, "quoting at 30 s")
        quoted_for = time.monotonic() - quoting_from
        # the server offers the toolkit: the bot armed the dead-man's switch, used cancel-all, enabled
        # cancel-on-disconnect (again after its reconnect)
        assert st["features"] == {"deadMan": True, "cancelAll": True, "cancelOnDisconnect": True}, st["features"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        feeder.stop.set()
        sampler.stop.set()
    out = open(log_path).read()
    assert rc == 0, out[-3000:]
    assert "every pending pair of SDKMM cancelled" in out

    check = Client(base, username=username, password=password)
    check.login()
    assert check.pairs(symbol="SDKMM", status="pending") == []
    assert [o for o in check.orders(symbol="SDKMM", status="pending") if o.kind == "liquidity"] == []
    acct = check.account()
    assert acct.frozenMargin == 0

    two_sided = sum(sampler.samples) / max(1, len(sampler.samples))
    print(f"\nmm: quoted {quoted_for:.1f} s ({time.monotonic() - started:.1f} s with start-up), "
          f"{st['placed']} pairs placed, {st['repriced']} reprices, {st['rejected']} 400s re-evaluated, "
          f"{st['reauths']} re-authentications, {st['wsConnects']} WebSocket connections; book two-sided in "
          f"{two_sided:.0%} of {len(sampler.samples)} samples; {feeder.pushes} price pushes")
    assert quoted_for >= 30 and feeder.pushes > 30
    assert two_sided >= 0.7, f"book two-sided in only {two_sided:.0%} of the samples"

    ledger = subprocess.run([sys.executable, "-m", "local.ledger_check"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "STACK_INFO_PATH": stack["infoPath"]}, timeout=60)
    assert ledger.returncode == 0, ledger.stdout[-2000:] + ledger.stderr[-2000:]

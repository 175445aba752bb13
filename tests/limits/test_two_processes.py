"""The limit holds across Lambda instances: two app processes (separate interpreters, each importing app.py and
counting in its own memory) share one DynamoDB Local table; between them exactly `limit` requests pass. The
transaction path sees the same counter: a reprice after the limit is cancelled by its counter's condition."""
import json
import os
import subprocess
import sys
from decimal import Decimal

from chalicelib.common import clock
from chalicelib.limits import service as limits
from tests.fixtures import record_calls
from tests.fixtures.aws import ROOT
from tests.helpers import Api

CHILD = r"""
import json, sys
from chalice.test import Client
from chalicelib.common import clock
clock.advance(int(sys.argv[3]))
from app import app
token, n = sys.argv[1], int(sys.argv[2])
out = []
with Client(app, stage_name="dev", project_dir=sys.argv[4]) as c:
    for _ in range(n):
        r = c.http.get("/api/accounts/me", headers={"Authorization": "Bearer " + token})
        out.append([r.status_code, r.headers.get("X-RateLimit-Remaining")])
print("RESULT " + json.dumps(out))
"""


def test_two_app_processes_share_one_limit(ddb_client, monkeypatch):
    limits._seen.clear()
    window_ms = 3_600_000
    offset = window_ms - clock.now_ms() % window_ms + 1  # every process at the start of the same fresh window
    clock.advance(offset)
    try:
        monkeypatch.setenv("RATE_LIMIT_WINDOW_SECONDS", "3600")
        monkeypatch.setenv("RATE_LIMIT_SESSION", "11")
        api = Api(ddb_client)
        admin = api.admin_token()
        mm, uid = api.register()
        api.credit(admin, uid, 5000)
        assert api.post("/api/broker/price-feed", {"symbol": "BTCUSDT", "price": Decimal(70000)},
                        token=admin).status == 200
        p = api.post("/api/liquidity/pairs", {"symbol": "BTCUSDT", "bidPrice": Decimal(69990),
                                              "askPrice": Decimal(70010), "quantity": Decimal("0.01")}, token=mm)
        assert p.status == 201 and p.headers["X-RateLimit-Remaining"] == "10", p  # 1 of 11 used

        env = {**os.environ, "PYTHONPATH": ROOT}
        env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        procs = [subprocess.Popen([sys.executable, "-c", CHILD, mm, "8", str(offset), ROOT], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
            line = [x for x in out.splitlines() if x.startswith("RESULT ")]
            assert line, out[-2000:] + err[-2000:]
            results.append(json.loads(line[0][7:]))
        statuses = [s for res in results for s, _ in res]
        assert statuses.count(200) == 10 and statuses.count(429) == 6, results  # 10 left of 11, over 2 processes
        assert all(r[0] == 200 for r in results[0][:1] + results[1][:1])  # each process got some through
        assert sorted(int(rem) for res in results for s, rem in res if s == 200) == list(range(10))  # exact counts

        limits._seen.clear()  # this process never saw the children's requests
        with record_calls("dynamodb") as rec:
            r = api.post("/api/liquidity/reprice", {"pairId": p.json["pairId"], "newBidPrice": Decimal(69000),
                                                    "newAskPrice": Decimal(71000)}, token=mm)
        assert r.status == 429 and r.json["code"] == "RATE_LIMITED", r
        assert [op for op, _ in rec].count("TransactWriteItems") == 1  # refused by the counter in the transaction
        from chalicelib.trading import store
        assert store.get_pair(uid, p.json["pairId"]).status == "pending"
    finally:
        clock.reset()
        limits._seen.clear()

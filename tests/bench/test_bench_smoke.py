"""`make bench`'s machinery, briefly: every bench module run small (as `make bench` runs it: its own process),
its results file read back, and the rows checked for sanity. No timing is asserted: figures on a shared
machine are the benchmarks' business, not the tests'."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.timeout(420)


def run_bench(tmp_path, module: str, *args: str, **env) -> dict:
    out = tmp_path / f"{module}.json"
    r = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=400, env={**os.environ, "PYTHONPATH": ROOT, "BENCH_OUT": str(out),
                                         "PASSWORD_SCRYPT_N": "1024", **env})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["summary"], doc
    for row in doc["summary"]:
        assert set(row) == {"bench", "metric", "value", "target"} and row["value"] not in (None, ""), row
    return doc


def test_load_bench_serves_a_small_crowd_without_unexpected_errors(tmp_path):
    doc = run_bench(tmp_path, "bench_load", "8", BENCH_BOTS="3", BENCH_TRADERS="1", BENCH_TICKS="2")
    (r,) = doc["runs"]
    assert r["engine"] == "dynamodb-local"  # make run's default
    assert r["requests served"] > 10 and r["unexpected errors"] == 0, r["endpoints"]
    assert {"POST /api/liquidity/reprice", "POST /api/broker/price-feed"} <= set(r["endpoints"])
    assert r["rss MB start"] > 0 and r["rss MB end"] > 0
    assert r["ledger check"]["ok"], r["ledger check"]
    assert r["pumps end"]["stream-on_tick_stream"]["records"] > 0


def test_trading_bench_rows(tmp_path):
    doc = run_bench(tmp_path, "bench_trading", BENCH_N="1", BENCH_MATCHING="200")
    rows = {r["operation"]: r for r in doc["cost"]}
    for name, r in rows.items():
        if r.get("todo"):
            continue
        assert set(r["statuses"]) <= {200, 201, "200", "201"}, (name, r["statuses"])
        assert r["dynamodb round trips"] >= 1 and r["$/M total"] > 0 and r["floor $/M dynamodb"] > 0, (name, r)
    # the reprice target: one consistent read plus one transaction after authentication (one read)
    assert rows["reprice"]["calls"] == {"dynamodb.GetItem": 2, "dynamodb.TransactWriteItems": 1}, rows["reprice"]
    for r in doc["overhead"].values():
        assert r["ratio p50"] > 0 and r["round trips"] >= 2
    (m,) = doc["matching"]
    assert m["fills"] == 10 and m["items read"] <= 10 + 5, m  # grows with crossing orders, not resting ones


def test_coldstart_bench(tmp_path):
    doc = run_bench(tmp_path, "bench_coldstart", BENCH_IMPORT_RUNS="1")
    assert doc["app ms (wall - empty)"] > 0 and doc["bare ms (wall - empty)"] > 0
    assert doc["web3 imported by app"] is False


def test_fanout_bench_posts_every_subscriber_per_chunk(tmp_path):
    doc = run_bench(tmp_path, "bench_fanout", "30", BENCH_FANOUT_ROUNDS="1")
    (r,) = doc["results"]
    assert r["subscribers found"] == 30 and r["post_to_connection calls per chunk handler"] == 30
    assert r["platform ms per message"] > 0 and r["bare ms per message"] > 0

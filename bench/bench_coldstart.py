"""Cold start: the import time of the HTTP handler's module (`import app`) beside the bare framework
(`import chalice, boto3, pynamodb.models`), in the same run, alternating, each in a fresh interpreter.

    python -m bench.bench_coldstart            # BENCH_IMPORT_RUNS=7

Figures: process wall time minus an empty interpreter's (median of the runs), and `python -X importtime`'s own
cumulative time of the top-level imports; the heaviest modules under `app` (from -X importtime); whether web3 is
imported (it must not be: about 0.5 s).
"""
import os
import re
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, row, write_section

RUNS = int(os.environ.get("BENCH_IMPORT_RUNS", "7"))
APP = "import app"
BARE = "import chalice, boto3, pynamodb.models"
# app.py pauses the cyclic GC during its own import (gc.freeze after): the same pause for the bare framework gives
# the like-for-like ratio, reported beside the plain one
BARE_NOGC = "import gc; gc.disable(); import chalice, boto3, pynamodb.models"
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "", "ADMIN_PASSWORD": "", "ADMIN_PASSWORD_HASH": ""}


def wall(code: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, check=True, capture_output=True)
    return (time.perf_counter() - t) * 1000


def importtime(code: str) -> tuple[float, list[tuple[float, str]]]:
    """-X importtime: (sum of the cumulative times of top-level imports ms, [(cumulative ms, module)])."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=ENV, check=True,
                       capture_output=True, text=True)
    rows = []
    top = 0.0
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        cumulative, depth, name = int(m[2]) / 1000, len(m[3]) // 2, m[4]
        rows.append((cumulative, name, depth))
        if depth == 0:
            top += cumulative
    return top, rows


def main(argv: list[str]) -> int:
    for code in ("pass", BARE, BARE_NOGC, APP):  # warm the OS file cache (and the .pyc files)
        wall(code)
    empty, bare, bare_nogc, app = [], [], [], []
    for _ in range(RUNS):
        empty.append(wall("pass"))
        bare.append(wall(BARE))
        bare_nogc.append(wall(BARE_NOGC))
        app.append(wall(APP))
    e = statistics.median(empty)
    bare_ms, app_ms = statistics.median(bare) - e, statistics.median(app) - e
    bare_nogc_ms = statistics.median(bare_nogc) - e
    bare_it, _ = importtime(BARE)
    app_it, rows = importtime(APP)
    heavy = sorted(((c, n) for c, n, d in rows if d == 1 or n == "app"), reverse=True)[:12]
    web3 = subprocess.run([sys.executable, "-c", "import app, sys; print(int('web3' in sys.modules))"], cwd=ROOT,
                          env=ENV, capture_output=True, text=True).stdout.strip() == "1"
    out = {"runs": RUNS, "empty interpreter ms": round(e), "bare ms (wall - empty)": round(bare_ms),
           "app ms (wall - empty)": round(app_ms), "ratio (wall)": round(app_ms / bare_ms, 2),
           "bare with GC paused ms (wall - empty)": round(bare_nogc_ms),
           "ratio (wall, both with GC paused)": round(app_ms / bare_nogc_ms, 2),
           "bare ms (-X importtime)": round(bare_it), "app ms (-X importtime)": round(app_it),
           "ratio (-X importtime)": round(app_it / bare_it, 2), "web3 imported by app": web3,
           "heaviest imports under app (cumulative ms)": [(round(c, 1), n) for c, n in heavy]}
    for k, v in out.items():
        print(f"  {k}: {v}", flush=True)
    out["summary"] = [row("cold start", "import app vs bare framework ms (wall - empty interpreter)",
                          f"{round(app_ms)} vs {round(bare_ms)}: {out['ratio (wall)']}×", "≤ 2×"),
                      row("cold start", "same, the bare framework with the GC paused as app.py does",
                          f"{round(app_ms)} vs {round(bare_nogc_ms)}: {out['ratio (wall, both with GC paused)']}×",
                          "≤ 2×"),
                      row("cold start", "same by -X importtime", f"{round(app_it)} vs {round(bare_it)}: "
                                                                 f"{out['ratio (-X importtime)']}×", "≤ 2×"),
                      row("cold start", "web3 imported by the HTTP handler", web3, "False")]
    write_section("bench_coldstart", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

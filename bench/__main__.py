"""`make bench`: run every bench/bench_*.py module, each in its own process (a benchmark may start a local
stack, which is process-wide), then print ONE table of their summary rows and write bench/results.json (every
module's full section). Figures are printed, nothing is asserted; docs/performance.md holds one run's table.

    python -m bench                 # all of them, in name order
    python -m bench marketdata      # only modules whose name contains one of the arguments (their sections
                                    # of bench/results.json are replaced, the others kept)
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")


def table(sections: dict) -> str:
    rows = [("bench", "figure", "value", "target")]
    for name in sorted(sections):
        for r in sections[name].get("summary", []):
            rows.append((r["bench"], r["metric"], str(r["value"]), r.get("target", "")))
    lines = [f"| {' | '.join(rows[0])} |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(c.replace('|', '/') for c in r)} |" for r in rows[1:]]
    return "\n".join(lines)


def modules(filters: list[str]) -> list[str]:
    names = sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("bench_") and f.endswith(".py"))
    return [n for n in names if not filters or any(f in n for f in filters)]


def main(argv: list[str]) -> int:
    failed = []
    found = modules(argv)
    if not found:
        print(f"no bench/bench_*.py module matches {argv}")
        return 1
    sections = {}
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    previous = {}
    if argv:
        try:
            with open(os.path.join(HERE, "results.json")) as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = {}
    for name in found:
        print(f"\n#### bench.{name}", flush=True)
        t = time.monotonic()
        out = os.path.join(RESULTS, f"{name}.json")
        if os.path.exists(out):
            os.remove(out)
        rc = subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=ROOT,
                             env={**os.environ, "BENCH_OUT": out,
                                  "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")})
        print(f"#### bench.{name}: exit {rc} after {time.monotonic() - t:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
        try:
            with open(out) as f:
                sections[name] = json.load(f)
        except (OSError, ValueError):
            pass
    kept = {k: v for k, v in previous.items() if k.startswith("bench_") and k not in sections}
    sections = {**kept, **sections}
    doc = {"started": previous.get("started", started) if kept else started, "cpus": os.cpu_count(),
           "command": "make bench", **({"rerun": {n: started for n in found}} if kept else {}), **sections}
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(doc, f, indent=2, default=str)
    print(f"\n## results ({started}, {os.cpu_count()} CPUs; full figures in bench/results.json)\n")
    print(table(sections), flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

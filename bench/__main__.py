"""`make bench`: run every bench/bench_*.py module, each in its own process (a benchmark may start a local
stack, which is process-wide). Figures are printed, nothing is asserted.

    python -m bench                 # all of them, in name order
    python -m bench marketdata      # only modules whose name contains one of the arguments
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def modules(filters: list[str]) -> list[str]:
    names = sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("bench_") and f.endswith(".py"))
    return [n for n in names if not filters or any(f in n for f in filters)]


def main(argv: list[str]) -> int:
    failed = []
    found = modules(argv)
    if not found:
        print(f"no bench/bench_*.py module matches {argv}")
        return 1
    for name in found:
        print(f"\n#### bench.{name}", flush=True)
        t = time.monotonic()
        rc = subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")})
        print(f"#### bench.{name}: exit {rc} after {time.monotonic() - t:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Shared by the bench modules: the local stack as a subprocess (exactly `make run`), percentiles, results files.

Every bench module writes its section to bench/results/<module>.json (BENCH_OUT overrides); `python -m bench`
merges them into bench/results.json and prints one table from their "summary" rows.
"""
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")


def pct(values, p: float):
    """The p-th percentile (nearest rank); None for no values."""
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]


def _plain(value):
    from decimal import Decimal
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    return str(value)


def write_section(module: str, section: dict) -> str:
    path = os.environ.get("BENCH_OUT") or os.path.join(RESULTS_DIR, f"{module}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(section, f, indent=2, default=_plain)
    return path


def row(bench: str, metric: str, value, target: str = "") -> dict:
    """One line of the printed table."""
    return {"bench": bench, "metric": metric, "value": value, "target": target}


class LocalStack:
    """`python -m local.stack` (what `make run` starts) as a subprocess on a free port, with the demo seed and
    without the demo feeder (the benchmark brings its own load). env: extra environment (DB=..., ...)."""

    def __init__(self, **env):
        self.tmp = tempfile.mkdtemp(prefix="bench-stack-")
        self.creds_path = os.path.join(self.tmp, "creds.json")
        self.info_path = os.path.join(self.tmp, "stack.json")
        self.log_path = os.path.join(self.tmp, "stack.log")
        self.env = {**os.environ, "PORT": os.environ.get("BENCH_PORT", "0"), "FEED": "off", "SEED": "on",
                    "CREDS_PATH": self.creds_path, "STACK_INFO_PATH": self.info_path,
                    "PYTHONPATH": ROOT, **env}
        self.proc = None
        self.info: dict = {}
        self.creds: dict = {}

    def start(self, timeout: float = 180) -> "LocalStack":
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=ROOT, env=self.env, stdout=log,
                                     stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the stack exited ({self.proc.returncode}); see {self.log_path}:\n"
                                   + self.log_tail())
            try:
                with open(self.creds_path) as f:
                    self.creds = json.load(f)
                with open(self.info_path) as f:
                    self.info = json.load(f)
                if self.creds.get("broker", {}).get("token"):
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the stack did not start within {timeout:.0f} s; see {self.log_path}")

    @property
    def base_url(self) -> str:
        return self.info["baseUrl"]

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log_path) as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def ledger_check(self) -> dict:
        """`make ledger-check` against this stack: exit code and its JSON answer."""
        r = subprocess.run([sys.executable, "-m", "local.ledger_check"], cwd=ROOT, capture_output=True, text=True,
                           env={**self.env, "STACK_INFO_PATH": self.info_path}, timeout=300)
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            doc = {"stdout": r.stdout[-500:], "stderr": r.stderr[-500:]}
        return {"exit": r.returncode, "ok": r.returncode == 0, **({"result": doc} if isinstance(doc, dict) else {})}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

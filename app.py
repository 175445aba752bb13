"""sim-trading: the one Chalice app. Thin: it wires Blueprints, WebSocket handlers and event sources to chalicelib.

In AWS every HTTP route below runs in one Lambda (api_handler); each WebSocket, stream, queue and schedule
handler is its own Lambda. The local stack (local/stack.py) serves this same object.
"""
import gc

gc.disable()  # cold start: the import allocates ~250k objects and the cyclic GC would sweep them ~30 ms for nothing
import time
import uuid

import boto3
from chalice import Chalice, Rate

from chalicelib import config, settings, wiring
from chalicelib.accounts.routes import bp as accounts_bp
from chalicelib.admin.routes import bp as admin_bp
from chalicelib.auth.routes import bp as auth_bp
from chalicelib.broker.routes import bp as broker_bp
from chalicelib.common.logging import logger
from chalicelib.marketdata.routes import bp as marketdata_bp
from chalicelib.openapi import routes as openapi
from chalicelib.realtime import handlers as ws
from chalicelib.sandbox import routes as sandbox
from chalicelib.trading.routes import bp as trading_bp
from chalicelib.withdrawals.routes import bp as withdrawals_bp
from chalicelib.withdrawals import settings as withdrawal_settings
from chalicelib.web.routes import bp as web_bp

settings.check_required(logger.error)  # a setting required in AWS and missing: fail the cold start, one clear log line
app = Chalice(app_name="sim-trading")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.websocket_api.session = boto3.session.Session()

for bp in (auth_bp, accounts_bp, admin_bp, marketdata_bp, trading_bp, broker_bp, withdrawals_bp, web_bp, sandbox.bp,
           openapi.bp):
    app.register_blueprint(bp)
openapi.add_fallbacks(app)  # after every Blueprint: 405 for a known path's other methods, 404 (/{proxy+}) else
app.register_middleware(sandbox.fault_middleware, "http")  # X-Sim-Fault (only while SANDBOX is on)
wiring.wire()  # cross-capability hooks: book provider, stream publishers, WebSocket channels


@app.middleware("http")
def request_log(event, get_response):
    """One structured line per request: id, method, route, status, duration. Never headers or bodies."""
    request_id = (event.context or {}).get("requestId") or str(uuid.uuid4())
    logger.append_keys(request_id=request_id)
    start = time.perf_counter()
    response = get_response(event)
    response.headers["X-Request-Id"] = request_id
    logger.info("http", extra={"method": event.method, "route": (event.context or {}).get("resourcePath"),
                               "status": response.status_code,
                               "ms": round((time.perf_counter() - start) * 1000, 1)})
    logger.remove_keys(["request_id"])
    return response


# --- WebSocket (API Gateway WebSocket API) ---------------------------------------------------------------

@app.on_ws_connect()
def ws_connect(event):
    ws.on_connect(event.connection_id)


@app.on_ws_message()
def ws_message(event):
    ws.on_message(event.connection_id, event.body)


@app.on_ws_disconnect()
def ws_disconnect(event):
    ws.on_disconnect(event.connection_id)


# --- Event sources -----------------------------------------------------------------------------------------

@app.on_dynamodb_record(stream_arn=config.stream_arn("ticks"), batch_size=100, starting_position="LATEST",
                        maximum_batching_window_in_seconds=0)
def on_tick_stream(event):
    from chalicelib.marketdata import events
    events.on_tick_records(list(event))


@app.on_dynamodb_record(stream_arn=config.stream_arn("main"), batch_size=100, starting_position="LATEST")
def on_main_stream(event):
    from chalicelib.realtime import private
    private.on_main_records([record.to_dict() for record in event])


@app.on_sqs_message(queue=config.queue_name("broadcast"), batch_size=1)  # chunks spread over parallel invocations
def on_broadcast_queue(event):
    from chalicelib.marketdata import events
    events.on_broadcast_messages(list(event))


@app.on_sqs_message(queue=config.queue_name("matching"), batch_size=10)
def on_matching_queue(event):
    from chalicelib.trading import events
    events.on_matching_messages(list(event))


@app.on_sqs_message(queue=config.queue_name("webhooks"), batch_size=10)
def on_webhook_queue(event):
    from chalicelib.broker import webhooks
    webhooks.on_webhook_messages(list(event))


@app.on_sqs_message(queue=config.queue_name("mmtimers"), batch_size=10)
def on_mm_timers_queue(event):
    from chalicelib.trading import events
    events.on_timer_messages(list(event))


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep_matching(event):
    from chalicelib.trading import events
    events.sweep()


@app.schedule(Rate(5, unit=Rate.MINUTES))
def webhook_sweep(event):
    """Recovers webhook deliveries whose queue message was lost or whose dispatch failed."""
    from chalicelib.broker import webhooks
    webhooks.sweep()


@app.schedule(withdrawal_settings.timer_rate())
def withdrawal_timers(event):
    """Withdrawals: a lock with no matching payment after 24 h back to pending; pending past its cooling period
    to processing (the platform's payout queue)."""
    from chalicelib.withdrawals import flows
    flows.run_timers()


@app.schedule(withdrawal_settings.poll_rate())
def chain_poller(event):
    """Reads USDC Transfer logs and settles matching P2P OTC locks. The only Lambda that imports web3."""
    from chalicelib.withdrawals import poller
    poller.poll()


def _bootstrap():
    if settings.get().admin_password or settings.get().admin_password_hash:
        from chalicelib.admin.bootstrap import ensure_first_admin
        from chalicelib.marketdata.store import ensure_builtin_symbols
        try:
            ensure_first_admin()
            ensure_builtin_symbols()
        except Exception:  # tables not there yet (tests, first deploy): the next cold start retries
            logger.warning("first admin not ensured")


_bootstrap()
gc.freeze()  # what the import built lives as long as the process: keep it out of every later collection
gc.enable()

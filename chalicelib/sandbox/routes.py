"""Sandbox HTTP adapters: POST /api/sandbox/reset (Blueprint registered by app.py) and the X-Sim-Fault
middleware (registered on the app by app.py). Both exist only while the SANDBOX setting is on: otherwise the
route answers 404 in the error envelope (before any auth) and the header is ignored."""
import time

from chalice import Blueprint

from chalicelib.auth import guards, store as sessions
from chalicelib.common.errors import ApiError, Rejected, session_invalid
from chalicelib.common.http import error_response, route
from chalicelib.sandbox import faults, service

bp = Blueprint(__name__)


def sandbox_user(raw_request):
    if not service.enabled():
        raise service.DISABLED
    return guards.any_user(raw_request)


@route(bp, "/api/sandbox/reset", ["POST"], auth=sandbox_user, response="chalicelib.sandbox.responses:ResetView")
def reset(req):
    return service.reset(req.principal.user_id)


def _caller(event) -> str:
    token = guards.bearer_token(event)
    s = sessions.lookup(token) if token and len(token) <= 256 else None
    if s is None:
        raise session_invalid()
    return s.user_id


def _simulated(f: faults.Faults):
    err = ApiError(f.status, "SIMULATED_FAULT", f"simulated fault: status={f.status} (X-Sim-Fault)")
    response = error_response(err)
    if f.status in faults.RETRY_AFTER_STATUSES:
        response.headers["Retry-After"] = str(f.retry_after_s)
    return response


def fault_middleware(event, get_response):
    """X-Sim-Fault on the request that carries it (so only for its caller): latency, status, drop-ws."""
    header = (event.headers or {}).get("x-sim-fault")
    if header is None or not service.enabled():
        return get_response(event)
    try:
        f = faults.parse(header)
        dropped = service.drop_connections(_caller(event)) if f.drop_ws else None
    except Rejected as e:
        return error_response(e.as_api_error())
    except ApiError as e:
        return error_response(e)
    if f.latency_ms:
        time.sleep(f.latency_ms / 1000)
    response = _simulated(f) if f.status is not None else get_response(event)
    response.headers["X-Sim-Fault-Applied"] = header.strip()[:200]
    if dropped is not None:
        response.headers["X-Sim-Dropped-Connections"] = str(dropped)
    return response

"""The HTTP adapter toolkit every Blueprint uses: route registration, body validation, auth, the error envelope.

A view registered with @route(...) receives (req, **uri_params) where req is a Request wrapper carrying the
authenticated principal and the validated body. Every exception becomes the contract's error envelope; nothing
escapes as a bare 500 without a JSON body.
"""
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

from chalice import Blueprint, CORSConfig, Response
from pydantic import BaseModel, ValidationError

from chalicelib import config
from chalicelib.common import jsonutil
from chalicelib.common.errors import ApiError, Rejected, bad_request
from chalicelib.common.logging import logger
from chalicelib.limits import service as limits

CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key", "X-Request-Id"],
    expose_headers=["Idempotent-Replayed", "X-Request-Id", "X-Next-Cursor", "Retry-After", "X-RateLimit-Limit",
                    "X-RateLimit-Remaining"],
    max_age=600,
)


@dataclass
class Principal:
    """Who is calling: a session user or a broker API key."""
    user_id: str
    role: str
    kind: str = "session"  # session | api_key
    scopes: frozenset = field(default_factory=frozenset)
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass
class Request:
    raw: Any  # chalice.app.Request
    principal: Principal | None = None
    body: Any = None
    query: dict = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return (self.raw.headers or {}).get(name.lower()) if self.raw is not None else None


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    h = {"Content-Type": "application/json; charset=utf-8"}
    if headers:
        h.update(headers)
    return Response(body=jsonutil.dumps(body), status_code=status, headers=h)


def error_response(err: ApiError) -> Response:
    headers = dict(getattr(err, "headers", None) or {})
    if err.status in (429, 503) and not any(k.lower() == "retry-after" for k in headers):
        headers["Retry-After"] = "1"  # every "try again" answer says when (BUSY, TX_CONFLICT, TIMERS_UNAVAILABLE...)
    return json_response(err.body(), err.status, headers or None)


def _raw_body(raw_req) -> bytes:
    body = raw_req.raw_body
    return body or b""


def parse_json_body(raw_req) -> Any:
    raw = _raw_body(raw_req)
    if len(raw) > config.max_body_bytes():
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body exceeds {config.max_body_bytes()} bytes")
    if not raw.strip():
        return {}
    return jsonutil.loads(raw)


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    if not isinstance(data, dict):
        raise bad_request("request body must be a JSON object", "VALIDATION_ERROR")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise bad_request(f"{loc}: {first.get('msg')}", "VALIDATION_ERROR") from None


def body_hash(raw_req) -> str:
    return hashlib.sha256(_raw_body(raw_req)).hexdigest()


@dataclass(frozen=True)
class RouteInfo:
    """One @route registration, as the OpenAPI document (chalicelib/openapi) describes it."""
    path: str
    methods: tuple
    view: Callable
    auth: Callable | None
    body: type | None
    query: type | None
    status: int
    idempotent: bool
    response: Any = None  # "package.module:Name" of the success body's schema, resolved by the OpenAPI builder only
    rate: str | None = "principal"
    errors: tuple = ()  # statuses the route answers beyond the ones its auth, inputs and path imply (409, 403...)


ROUTES: list[RouteInfo] = []  # every @route registration, in order (read by chalicelib/openapi)


def route(bp: Blueprint, path: str, methods=("GET",), *, auth: Callable | None = None,
          body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
          idempotent: bool = False, status: int = 200, content_types=None, rate: str | None = "principal",
          response: str | None = None, errors: tuple = ()):
    """Register a view on a Blueprint with the platform's conventions.

    auth: a callable(raw_request) -> Principal (raises ApiError) or None for public routes.
    body/query: pydantic models; invalid input is 400 before the view runs.
    idempotent: honour the Idempotency-Key header (stored response replayed for 24 h).
    rate: "principal" (authenticated routes: per session token / API key), "register" or "sso" (public routes: per
    source address), None (not limited). See chalicelib/limits/service.py.
    response: the success body's schema for the OpenAPI document, as a string "chalicelib.<capability>.responses:Name"
    (a pydantic model, or a type such as list[Model]) so the models are imported by the document's builder only,
    never on the handler's import path (cold start). errors: the route's own extra statuses (e.g. (409,)).
    A view returns (status, body) / body / chalice Response.
    """
    def decorator(fn):
        ROUTES.append(RouteInfo(path, tuple(methods), fn, auth, body, query, status, idempotent, response, rate,
                                tuple(errors)))

        def serve(meter: list, params):
            raw = bp.current_request
            try:
                req = Request(raw=raw)
                if auth is not None:
                    req.principal = auth(raw)
                    meter.append(limits.start(raw, req.principal, path) if rate else None)
                elif rate in ("register", "sso"):
                    limits.per_address(rate, raw)
                if query is not None:
                    req.query = validate(query, dict(raw.query_params or {}))
                if body is not None:
                    req.body = validate(body, parse_json_body(raw))
                elif raw.method in ("POST", "PUT", "PATCH", "DELETE"):
                    parse_json_body(raw)  # still reject malformed JSON and oversize bodies
                if idempotent and req.header("idempotency-key"):
                    from chalicelib.common import idempotency
                    return idempotency.run(req, body_hash(raw), lambda: _call(fn, req, params, status))
                return _call(fn, req, params, status)
            except ApiError as e:
                return error_response(e)
            except Rejected as e:
                return error_response(e.as_api_error())
            except jsonutil.BadJson as e:
                return error_response(bad_request(str(e), "MALFORMED_JSON"))
            except Exception as e:  # never a bare 500: log it (no secrets: no headers, no body) and answer the envelope
                from chalicelib.common.faults import storage_fault
                fault = storage_fault(e)  # throttling, conflicts, timeouts: 503/504 with Retry-After
                if fault is not None:
                    logger.warning("storage fault", extra={"path": path, "fault": fault.fault})
                    return json_response(fault.body(), fault.status, fault.headers)
                logger.exception("unhandled error", extra={"path": path})
                return error_response(ApiError(500, "INTERNAL_ERROR", "internal error"))

        @functools.wraps(fn)
        def view(**params):
            meter: list = []  # the request's rate-limit Meter, once authenticated (chalicelib/limits)
            response = serve(meter, params)
            return limits.finish(meter[0] if meter else None, response)

        bp.route(path, methods=list(methods), cors=CORS,
                 content_types=content_types or ["application/json", "text/plain",
                                                 "application/x-www-form-urlencoded"])(view)
        return fn
    return decorator


def _call(fn, req, params, status) -> Response:
    out = fn(req, **params)
    if isinstance(out, Response):
        return out
    if isinstance(out, tuple):
        code, payload = out
        return json_response(payload, code)
    return json_response(out, status)


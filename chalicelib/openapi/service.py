"""The OpenAPI 3.1 document of the HTTP API, built from the @route registrations (common/http.ROUTES): the same
pydantic models the views validate with give the request bodies and query parameters, the guards give the
security of each operation, each route's `response="module:Name"` the success body (the response models of
chalicelib/<capability>/responses.py, imported here only, when the document is built: never on the handler's import
path). Errors: the `Error` envelope for 4XX/5XX and the statuses each route is known to answer. Built once per
process, on first use (after every Blueprint is registered)."""
import functools
import importlib
import re
from typing import Callable

from chalicelib.auth import guards
from chalicelib.common.http import ROUTES, RouteInfo

ERROR_SCHEMA = {
    "type": "object", "required": ["error", "code"],
    "properties": {"error": {"type": "string", "description": "the contract's exact message"},
                   "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "description": "stable code"},
                   "message": {"type": "string", "description": "English meaning, where `error` is the guide's"}},
}
_ROLES = {id(guards.any_user): None, id(guards.broker_or_admin): ("broker", "admin"),
          id(guards.admin_only): ("admin",)}
# Routes that do not answer JSON: content type of their success response.
NON_JSON = {"/widget/st-trading-widget.js": "application/javascript", "/pages/chart.html": "text/html",
            "/pages/broker-portal.html": "text/html", "/docs": "text/html",
            "/docs/redoc.standalone.js": "application/javascript"}
REDIRECTS = {"/api/auth/sso": 302}
_PARAM = re.compile(r"{([^}+]+)}")


def _unwrap(auth: Callable) -> Callable:
    while hasattr(auth, "__wrapped__"):
        auth = auth.__wrapped__
    return auth


def auth_kind(info: RouteInfo) -> str:
    """public | session | api_key"""
    if info.auth is None:
        return "public"
    return "api_key" if getattr(_unwrap(info.auth), "scope", None) else "session"


def _security(info: RouteInfo) -> dict:
    kind = auth_kind(info)
    if kind == "public":
        return {"security": []}
    if kind == "api_key":
        return {"security": [{"apiKey": []}], "x-scope": _unwrap(info.auth).scope}
    roles = _ROLES.get(id(_unwrap(info.auth)))
    return {"security": [{"bearer": []}], **({"x-roles": list(roles)} if roles else {})}


def _component(components: dict, name: str, schema: dict) -> None:
    """Components are named by model class: two different models of one name would silently overwrite each
    other's schema, so that fails the build instead."""
    if components.get(name, schema) != schema:
        raise ValueError(f"two different models are named {name}: rename one")
    components[name] = schema


def _schema(model, components: dict) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        _component(components, name, sub)
    _component(components, model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def resolve(ref):
    """A route's `response`: "package.module:Name" -> the object (a pydantic model or a type such as list[Model])."""
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _response_schema(ref, components: dict) -> dict:
    from pydantic import BaseModel, TypeAdapter
    obj = resolve(ref)
    if isinstance(obj, type) and issubclass(obj, BaseModel):
        return _schema(obj, components)
    schema = TypeAdapter(obj).json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        _component(components, name, sub)
    return schema


def _query_parameters(model) -> list[dict]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        out.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return out


def _success(info: RouteInfo, method: str, components: dict) -> tuple[str, dict]:
    if info.path in REDIRECTS and method == "GET":
        return str(REDIRECTS[info.path]), {"description": "redirect", "headers": {
            "Location": {"schema": {"type": "string"}}}}
    ctype = NON_JSON.get(info.path)
    if ctype:
        return "200", {"description": "OK", "content": {ctype: {"schema": {"type": "string"}}}}
    schema = _response_schema(info.response, components) if info.response is not None else {}
    out = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    if schema.get("type") == "array" and info.query is not None and "cursor" in info.query.model_fields:
        out["headers"] = {"X-Next-Cursor": {"description": "the cursor of the next page, when more remain",
                                            "schema": {"type": "string"}}}
    return str(info.status), out


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
_MEANING = {400: "invalid request (malformed JSON, wrong types, refused values)", 401: "no valid session or API key",
            403: "the caller's role or key scope does not allow it", 404: "no such object (or not the caller's)",
            405: "method not allowed", 409: "conflicts with the current state",
            413: "request body too large", 422: "Idempotency-Key reused with a different body",
            429: "rate limited: retry after Retry-After seconds", 503: "temporarily unavailable: retry after "
                                                                       "Retry-After seconds"}
_WRITE = ("POST", "PUT", "PATCH", "DELETE")


def error_statuses(info: RouteInfo, method: str) -> list[int]:
    """The statuses a route is known to answer: 400 for its inputs, 401 (403 for a role or scope) for its guard,
    404 for ids in its path, 409/422 for the Idempotency-Key (and the route's own `errors`), 413 for a request
    body, 429 for its rate limit, 503 (storage throttling and conflicts, BUSY: Retry-After)."""
    kind = auth_kind(info)
    out = set(info.errors) | {503}
    if info.body is not None or info.query is not None or method in _WRITE:
        out.add(400)
    if method in _WRITE:
        out.add(413)
    if kind != "public":
        out.add(401)
        if kind == "api_key" or _ROLES.get(id(_unwrap(info.auth))):
            out.add(403)
    if _PARAM.search(info.path):
        out.add(404)
    if info.idempotent:
        out |= {409, 422}
    if kind != "public" or info.rate in ("register", "sso"):
        out.add(429)
    return sorted(out)


def error_response(status: int, html: bool = False) -> dict:
    out = {"description": _MEANING.get(status, "error envelope"),
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if html:  # a browser (Accept: text/html) gets the error as a page
        out["content"]["text/html"] = {"schema": {"type": "string"}}
    if status in (429, 503):
        out["headers"] = RETRY_AFTER
    return out


def _error(status: int, html: bool) -> dict:
    """A specific status: a reference to the shared components/responses/Error<status> (inline for the redirect
    route, whose errors may be a page)."""
    if html:
        return error_response(status, html)
    return {"$ref": f"#/components/responses/Error{status}"}


def operation(info: RouteInfo, method: str, components: dict, ids: set) -> dict:
    fn = info.view
    op_id = fn.__name__ if fn.__name__ not in ids else f"{fn.__name__}_{method.lower()}"
    ids.add(op_id)
    doc = (fn.__doc__ or "").strip()
    op = {"operationId": op_id, "tags": [fn.__module__.split(".")[-2]],
          "summary": doc.split("\n")[0] if doc else f"{method} {info.path}", **_security(info)}
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
              for p in _PARAM.findall(info.path)]
    if info.query is not None:
        params += _query_parameters(info.query)
    if info.idempotent:
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "schema": {"type": "string", "maxLength": 256},
                       "description": "the first response for a key is replayed for 24 h"})
    if params:
        op["parameters"] = params
    if info.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _schema(info.body,
                                                                                                  components)}}}
    code, success = _success(info, method, components)
    html = info.path in REDIRECTS
    op["responses"] = {code: success, **{str(s): _error(s, html) for s in error_statuses(info, method)},
                       "4XX": error_response(0, html), "5XX": error_response(0, html)}
    return op


@functools.lru_cache(maxsize=1)
def document() -> dict:
    components: dict = {"Error": ERROR_SCHEMA}
    paths: dict = {}
    ids: set = set()
    for info in ROUTES:
        for method in info.methods:
            paths.setdefault(info.path, {})[method.lower()] = operation(info, method, components, ids)
    return {
        "openapi": "3.1.0",
        "info": {"title": "sim-trading API", "version": "1",
                 "description": "Every numeric request field takes a JSON number or a plain decimal string "
                                "(\"0.01\"); every error is {error, code, message?}. Contract: "
                                "shared/spec/api-contract.md."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(components.items())), "responses": {
            f"Error{s}": error_response(s) for s in sorted(_MEANING)}, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "session token from /api/auth/login"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "broker key bk_..."}}},
    }

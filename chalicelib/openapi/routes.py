"""GET /api/openapi.json (the document, chalicelib/openapi/service.py) and the answers for what no route serves:
an unknown path is 404 and a known path with another method is 405, both in the error envelope, instead of API
Gateway's 403 asking for an AWS signature (`add_fallbacks`, called by app.py after every Blueprint). API Gateway
matches /{proxy+} at any depth; chalice's local router needs local/routing.py to do the same (the local stack and
the tests install it; nothing in AWS imports it)."""
from chalice import Blueprint

from chalicelib.common.errors import ApiError
from chalicelib.common.http import CORS, error_response, route
from chalicelib.openapi import service

bp = Blueprint(__name__)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CATCH_ALL = "/{proxy+}"
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]


@route(bp, "/api/openapi.json", ["GET"], response="chalicelib.openapi.responses:OpenApiDocument")
def openapi_document(req):
    """The OpenAPI 3.1 document of every HTTP endpoint."""
    return service.document()


def not_found(**_params):
    return error_response(ApiError(404, "NOT_FOUND", "no such endpoint"))


def _method_not_allowed(allowed: list[str]):
    def view(**_params):
        err = error_response(ApiError(405, "METHOD_NOT_ALLOWED", f"method not allowed; allowed: {', '.join(allowed)}"))
        err.headers["Allow"] = ", ".join(allowed)
        return err
    view.fallback = True
    return view


not_found.fallback = True


def add_fallbacks(app) -> None:
    """Every known path answers the standard methods it lacks with 405; the greedy /{proxy+} (and /) answer 404."""
    for path, views in list(app.routes.items()):
        allowed = sorted(views)
        missing = [m for m in METHODS if m not in views]
        if missing:
            app.route(path, methods=missing, cors=CORS, content_types=CONTENT_TYPES,
                      name=f"fallback{path}")(_method_not_allowed(allowed))
    for path in (CATCH_ALL, "/"):  # {proxy+} needs one segment at least: the root is its own resource
        if path not in app.routes:
            app.route(path, methods=list(METHODS), cors=CORS, content_types=CONTENT_TYPES,
                      name=f"not_found{path}")(not_found)

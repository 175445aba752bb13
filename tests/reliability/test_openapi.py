"""The OpenAPI document covers every HTTP route of the app (compared with Chalice's own route table), is built
from the models the views validate with, and is served with its reference page; what no route serves answers
404/405 in the error envelope (never API Gateway's 403 asking for a signature), oversize bodies 413, deeply
nested JSON 400."""
import os

import pytest

from chalicelib.common import jsonutil
from tests.helpers import Api

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def api(client):
    return Api(client)


def _app():
    from app import app
    return app


def test_every_route_is_in_the_document_and_nothing_else(api):
    doc = api.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    documented = {(path, m) for path, ops in doc["paths"].items() for m in ops if m in METHODS}
    served = {(path, m.lower()) for path, views in _app().routes.items() for m, entry in views.items()
              if not getattr(entry.view_function, "fallback", False)}
    assert documented == served
    assert len(documented) >= 55


def test_the_document_uses_the_handlers_models_and_guards(api):
    from chalicelib.common.http import ROUTES
    from chalicelib.openapi.service import auth_kind
    doc = api.get("/api/openapi.json").json
    schemas = doc["components"]["schemas"]
    for info in ROUTES:
        for method in info.methods:
            op = doc["paths"][info.path][method.lower()]
            if info.body is not None:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref == f"#/components/schemas/{info.body.__name__}"
                assert set(schemas[info.body.__name__].get("properties", {})) == set(info.body.model_fields)
            if info.query is not None:
                names = {p["name"] for p in op["parameters"] if p["in"] == "query"}
                assert names == set(info.query.model_fields), info.path
            kind = auth_kind(info)
            assert op["security"] == ([] if kind == "public" else [{"bearer" if kind == "session" else "apiKey": []}])
            assert op["responses"]["4XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            assert str(info.status) in op["responses"] or info.path in ("/api/auth/sso",)
    order = schemas["OrderBody"]["properties"]["quantity"]
    assert {"type": "number"} in order["anyOf"] and any(s.get("pattern") for s in order["anyOf"])
    assert doc["paths"]["/api/admin/brokers"]["post"]["x-roles"] == ["admin"]
    assert doc["paths"]["/api/v1/broker/balance"]["get"]["x-scope"] == "balance:read"


def test_docs_page_and_its_bundle(api):
    page = api.client.http.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert 'spec-url="api/openapi.json"' in html and 'src="docs/redoc.standalone.js"' in html
    bundle = api.client.http.get("/docs/redoc.standalone.js")
    built = os.path.exists(os.path.join(os.path.dirname(_app_file()), "chalicelib", "web", "dist",
                                        "redoc.standalone.js"))
    if built:  # `make widget` (and so `make test`) copies it from the redoc npm package
        assert bundle.status_code == 200 and b"Redoc" in bundle.body[:200000]
    else:
        assert bundle.status_code == 503 and jsonutil.loads(bundle.body)["code"] == "ASSET_NOT_BUILT"


def _app_file():
    import app
    return app.__file__


@pytest.mark.parametrize("method,path", [
    ("POST", "/api/liquidity/cancel-everything"), ("GET", "/nope"), ("DELETE", "/a/b/c/d/e"), ("PUT", "/api"),
    ("GET", "/api/orders/x/y"), ("POST", "/api/v2/anything"), ("GET", "/")])
def test_unknown_path_is_404_in_the_envelope(api, method, path):
    r = api.call(method, path, token="st_anything", body={})
    assert r.status == 404 and r.json == {"error": "no such endpoint", "code": "NOT_FOUND"}, r


@pytest.mark.parametrize("method,path,allowed", [
    ("PATCH", "/api/orders", "GET, POST"), ("DELETE", "/api/symbols", "GET"), ("PUT", "/api/orders/abc", "DELETE, GET"),
    ("POST", "/api/openapi.json", "GET")])
def test_other_method_on_a_known_path_is_405_with_allow(api, method, path, allowed):
    r = api.call(method, path, token="st_anything", body={})
    assert r.status == 405 and r.json["code"] == "METHOD_NOT_ALLOWED", r
    assert r.headers["Allow"] == allowed


def test_the_catch_all_shadows_no_real_route(api):
    assert api.get("/api/symbols").status == 200
    assert api.get("/api/orders/nope", token="st_bad").json["code"] == "SESSION_INVALID"
    assert api.get("/api/openapi.json").status == 200
    assert api.client.http.get("/docs").status_code == 200
    assert api.post("/api/auth/login", {"username": "nobody", "password": "x" * 8}).status == 401


def test_oversize_body_is_413_and_deep_nesting_400(api):
    tok, _ = api.register()
    big = jsonutil.dumps({"symbol": "BTCUSDT", "pad": "x" * 70000})
    r = api.call("POST", "/api/orders", raw=big, token=tok)
    assert r.status == 413 and r.json["code"] == "PAYLOAD_TOO_LARGE"
    for raw in ("[" * 5000 + "]" * 5000, '{"a":' * 1000 + "1" + "}" * 1000, '{"symbol": ' + "[" * 40 + "]" * 40 + "}"):
        r = api.call("POST", "/api/orders", raw=raw, token=tok)
        assert r.status == 400 and r.json["code"] == "MALFORMED_JSON", r
        r = api.call("POST", "/api/liquidity/reprice", raw=raw, token=tok)
        assert r.status == 400 and r.json["code"] == "MALFORMED_JSON", r
    assert api.get("/api/orders", token=tok).json == []


def test_two_different_models_of_one_name_fail_the_build():
    from pydantic import BaseModel

    from chalicelib.openapi import service

    class Twin(BaseModel):
        a: int

    first = Twin
    class Twin(BaseModel):  # noqa: F811 (the point: same name, another model)
        a: str

    components: dict = {}
    service._schema(first, components)
    service._schema(first, components)  # the same model again is fine
    with pytest.raises(ValueError, match="Twin"):
        service._schema(Twin, components)

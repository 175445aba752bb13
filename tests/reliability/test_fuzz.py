"""schemathesis against the served OpenAPI document (GET /api/openapi.json), in process: a WSGI adapter over the
app's own router (chalice's LocalGateway, as the local stack and the test client use) on moto.

Every operation, positive (data the document allows) and negative (data it forbids), authenticated as each
role: trader, market maker, broker session, broker API key (every scope), admin. Checks: no 5xx, the status
code, content type and body the document declares (the error envelope for every 4xx).
FUZZ_EXAMPLES (default 3) sets the examples per operation, mode and role.
"""
import os
from decimal import Decimal

import pytest
import schemathesis
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.fixtures import stack, unique_prefix
from tests.helpers import Api

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ASSETS = ("/widget/", "/pages/", "/docs")  # static files: no input to fuzz (tests/reliability/test_openapi.py)
# They end the caller's session or key: run last for a role, so the rest is fuzzed authenticated.
LAST = ("/api/auth/logout", "/api/admin/sessions/revoke", "/api/broker/api-keys/{key_id}")


class Wsgi:
    """A WSGI app over chalice's LocalGateway: what API Gateway + the Lambda answer, in process."""

    def __init__(self, app):
        self.gateway = LocalGateway(app, Config())

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        path = environ.get("PATH_INFO", "/") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        try:
            resp = self.gateway.handle_request(method=environ["REQUEST_METHOD"], path=path, headers=headers,
                                               body=body or None)
        except LocalGatewayException as e:  # API Gateway's own answers (no route): must not happen (catch-all)
            resp = {"statusCode": e.CODE, "headers": e.headers, "body": e.body}
        out = resp.get("body") or b""
        if isinstance(out, str):
            out = out.encode()
        status = resp["statusCode"]
        start_response(f"{status} X", [(k, str(v)) for k, v in (resp.get("headers") or {}).items()])
        return [out]


@pytest.fixture(scope="module")
def world():
    with stack(unique_prefix()):
        from chalice.test import Client

        from app import app
        from chalicelib.broker import scopes as S
        from tests.fixtures.aws import ROOT
        with Client(app, stage_name="dev", project_dir=ROOT) as client:
            api = Api(client)
            admin = api.admin_token()
            trader, trader_id = api.register()
            api.credit(admin, trader_id, 100000)
            mm, mm_id = api.register()
            api.credit(admin, mm_id, 1000000)
            api.post("/api/broker/price-feed", {"symbol": "BTCUSDT", "price": 70000}, token=admin)
            r = api.post("/api/liquidity/pairs", {"symbol": "BTCUSDT", "bidPrice": 69000, "askPrice": 71000,
                                                  "quantity": Decimal("0.01")}, token=mm)
            assert r.status == 201, r
            broker, broker_id = api.create_broker(admin)
            api.credit(admin, broker_id, 100000)
            r = api.post("/api/broker/api-keys", {"name": "fuzz", "scopes": sorted(S.ALL_SCOPES)}, token=broker)
            assert r.status == 201, r
            key = r.json.get("key") or r.json.get("apiKey")
            roles = {"trader": {"Authorization": f"Bearer {trader}"}, "market_maker": {"Authorization": f"Bearer {mm}"},
                     "broker_session": {"Authorization": f"Bearer {broker}"},
                     "broker_api_key": {"X-API-Key": key}, "admin": {"Authorization": f"Bearer {admin}"}}
            schema = schemathesis.openapi.from_wsgi("/api/openapi.json", Wsgi(app))
            yield schema, roles


def _operations(schema, role):
    ops = []
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path.startswith(ASSETS):
            continue
        security = op.definition.raw.get("security") or []
        kinds = {k for item in security for k in item}
        if role == "broker_api_key" and kinds and "apiKey" not in kinds:
            continue
        if role != "broker_api_key" and "apiKey" in kinds:
            continue
        ops.append(op)
    return sorted(ops, key=lambda op: op.path in LAST)


def _fuzz(op, mode, headers, stats):
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case):
        response = case.call(headers=headers)
        stats[response.status_code // 100] = stats.get(response.status_code // 100, 0) + 1
        case.validate_response(response, checks=CHECKS)
    try:
        run()
    except Unsatisfiable:  # negative mode of an operation without inputs: nothing to break
        assert mode == GenerationMode.NEGATIVE


@pytest.mark.parametrize("role", ["trader", "market_maker", "broker_session", "broker_api_key", "admin"])
def test_every_operation_every_role_no_5xx_and_conforms(world, role):
    schema, roles = world
    ops = _operations(schema, role)
    assert len(ops) >= (15 if role == "broker_api_key" else 35), [op.path for op in ops]
    stats: dict = {}
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(op, mode, roles[role], stats)
    print(f"fuzz {role}: {len(ops)} operations, responses by class {dict(sorted(stats.items()))}")
    assert stats.get(5, 0) == 0 and sum(stats.values()) >= len(ops)

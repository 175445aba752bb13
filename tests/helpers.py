"""Small helpers for API tests over chalice.test.Client: JSON in, (status, json) out."""
import json
import os
import pathlib
import uuid
from decimal import Decimal

import pytest

from chalicelib.common import jsonutil


REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SPEC_DIR = REPO_ROOT.parent / "shared" / "spec"  # ../shared/spec, beside the repository


def spec_file(name: str) -> pathlib.Path:
    """A shared spec file (../shared/spec/<name>, from the repo root). Missing: a failure when CI is set (CI has
    the spec checked out beside the repository), else a skip that says so."""
    path = SPEC_DIR / name
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must check out ../shared/spec beside the repository")
        pytest.skip(f"{path} is missing (../shared/spec is not beside this checkout; with CI set this fails)")
    return path


class Api:
    def __init__(self, client):
        self.client = client

    def call(self, method, path, body=None, token=None, key=None, headers=None, raw=None):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if key:
            h["X-API-Key"] = key
        h.update(headers or {})
        data = raw if raw is not None else (jsonutil.dumps(body) if body is not None else None)
        r = getattr(self.client.http, method.lower())(path, headers=h, body=data) if data is not None \
            else getattr(self.client.http, method.lower())(path, headers=h)
        try:
            payload = jsonutil.loads(r.body) if r.body else None
        except ValueError:
            payload = r.body
        return Resp(r.status_code, payload, r.headers)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body if body is not None else {}, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body if body is not None else {}, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    # --- common set-ups ---------------------------------------------------------------------------------
    def admin_token(self):
        from chalicelib.admin.bootstrap import ensure_first_admin
        import os
        os.environ.setdefault("ADMIN_PASSWORD", "admin-pass-123")
        ensure_first_admin()
        r = self.post("/api/auth/login", {"username": os.environ.get("ADMIN_USERNAME", "admin"),
                                          "password": os.environ["ADMIN_PASSWORD"]})
        assert r.status == 200, r
        return r.json["token"]

    def register(self, username=None, password="password-123", **extra):
        username = username or "u_" + uuid.uuid4().hex[:10]
        r = self.post("/api/auth/register", {"username": username, "password": password, **extra})
        assert r.status == 201, r
        return r.json["token"], r.json["user"]["id"]

    def credit(self, admin_token, user_id, amount, **kw):
        r = self.post(f"/api/admin/accounts/{user_id}/credit", {"amount": Decimal(str(amount)), "reference": "test"},
                      token=admin_token, **kw)
        assert r.status == 201, r
        return r.json

    def create_broker(self, admin_token, username=None, **extra):
        username = username or "b_" + uuid.uuid4().hex[:10]
        body = {"username": username, "password": "password-123", "tenantCode": "t" + uuid.uuid4().hex[:8],
                "name": "Broker " + username, "ssoSecret": "s" * 32, **extra}
        r = self.post("/api/admin/brokers", body, token=admin_token)
        assert r.status == 201, r
        login = self.post("/api/auth/login", {"username": username, "password": "password-123"})
        return login.json["token"], r.json["userId"]

    def me(self, token):
        r = self.get("/api/accounts/me", token=token)
        assert r.status == 200, r
        return r.json


class Resp:
    def __init__(self, status, json_body, headers):
        self.status, self.json, self.headers = status, json_body, headers

    def __repr__(self):
        return f"<{self.status} {json.dumps(self.json, default=str)[:400]}>"


def run_together(calls, timeout: float = 120.0) -> list:
    """Run each zero-argument callable on its own thread, all released at once by a barrier; wait at most
    `timeout` seconds in all. Returns their results in order. A thread still running at the deadline is an
    assertion failure, and an exception (assertion or otherwise) raised in any thread is re-raised here, so a
    dead or hung worker cannot pass unnoticed."""
    import concurrent.futures as cf
    import threading

    calls = list(calls)
    barrier = threading.Barrier(len(calls), timeout=60)

    def released(fn):
        barrier.wait()
        return fn()

    ex = cf.ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="run_together")
    try:
        futures = [ex.submit(released, fn) for fn in calls]
        done, not_done = cf.wait(futures, timeout=timeout)
        assert not not_done, f"{len(not_done)} of {len(calls)} threads still running after {timeout} s"
        return [f.result() for f in futures]  # the first worker exception, if any, is raised here
    finally:
        ex.shutdown(wait=False, cancel_futures=True)

"""Shared fixtures. Two storage tiers:

- moto_db   (fast, in-process moto): the default for unit and API tests.
- ddb_local (DynamoDB Local, AWS's own engine, one Java process per session): for what moto cannot be
            trusted with (concurrency, conditional-transaction races). Tests using it get the `ddb_local`
            marker automatically: `pytest -m "not ddb_local"` runs the fast tier only.

Both yield a tests.fixtures.Stack (prefix, tables, queues, endpoint) with fresh tables and SQS queues
(moto) for the test, the environment set (TABLE_PREFIX, *_TABLE, *_QUEUE_URL, DYNAMODB_ENDPOINT) and
chalicelib.storage.db.configure() called; everything is restored afterwards.
"""
import os

import pytest

# scrypt at its production cost (2**14) makes every register/login ~50 ms; the tests keep the same code path
# with a lower work factor.
os.environ.setdefault("PASSWORD_SCRYPT_N", "1024")

from local import moto_patches, routing  # noqa: E402

routing.install()  # API Gateway's greedy {proxy+} matching for chalice.test.Client (as the local stack does)

moto_patches.apply()  # emulator fixes (moto number arithmetic); see local/moto_patches.py

from chalicelib import wiring  # noqa: E402

wiring.wire()  # the cross-capability hooks app.py wires, for tests that call chalicelib without the app

from tests.fixtures import DynamoDBLocal, stack, unique_prefix
from tests.fixtures.aws import ROOT


_REAL_ENVIRON = os.environ


@pytest.fixture(autouse=True)
def _real_os_environ():
    """chalice.test.Client swaps os.environ for a plain dict copy during each request and puts back the object it
    found; requests from several threads at once can leave one thread's copy in place (stale settings, invisible to
    subprocesses). After every test, the real os.environ is back."""
    yield
    if os.environ is not _REAL_ENVIRON:
        os.environ = _REAL_ENVIRON


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "ddb_local" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ddb_local)


@pytest.fixture
def moto_db():
    with stack(unique_prefix()) as s:
        yield s


@pytest.fixture(scope="session")
def ddb_local_server():
    server = DynamoDBLocal().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ddb_local(ddb_local_server):
    with stack(unique_prefix(), endpoint=ddb_local_server.endpoint) as s:
        yield s


def _client():
    from chalice.test import Client

    from app import app  # imported lazily: a broken app.py fails only the tests that use it
    if not getattr(type(app), "_per_thread_request", False):
        # tests that send requests from several threads (races): each thread sees its own app.current_request, as
        # each Lambda container does (the local stack does the same)
        from local.stack import _per_thread_request_state
        _per_thread_request_state(app)
        type(app)._per_thread_request = True
    return Client(app, stage_name="dev", project_dir=ROOT)  # env of .chalice/config.json, stage dev


@pytest.fixture
def client(moto_db):
    """chalice.test.Client over the real app on moto: client.http.get(...), client.lambda_.invoke(...)."""
    with _client() as c:
        yield c


@pytest.fixture
def ddb_client(ddb_local):
    """chalice.test.Client over the real app on DynamoDB Local."""
    with _client() as c:
        yield c

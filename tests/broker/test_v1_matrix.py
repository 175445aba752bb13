"""The access matrix of the Broker API v1: every endpoint x (no key, revoked key, key without the endpoint's
scope, key of another broker) -> 401 / 401 / 403 / 404, and nothing in any table changes."""
import uuid

import pytest

from chalicelib.broker.scopes import ALL_SCOPES

INVALID = {"error": "Invalid API key", "code": "API_KEY_INVALID"}
V1 = "/api/v1/broker"
WALLET = "0x" + "12" * 20

# (method, path, scope, body); {c} = broker A's client (its user_id), {w} = a withdrawal of that client
ENDPOINTS = [
    ("POST", "/sub-brokers", "sub-brokers:create", {"username": "sb_matrix", "password": "password-123"}),
    ("GET", "/sub-brokers", "sub-brokers:list", None),
    ("POST", "/clients/{c}/upgrade-to-broker", "sub-brokers:upgrade", {"password": "password-456"}),
    ("GET", "/balance", "balance:read", None),
    ("GET", "/clients", "clients:list", None),
    ("POST", "/clients", "clients:create", {"user_id": "matrix_new"}),
    ("GET", "/clients/{c}/balance", "clients:balance", None),
    ("GET", "/clients/{c}/orders", "clients:orders", None),
    ("GET", "/clients/{c}/positions", "clients:positions", None),
    ("GET", "/clients/{c}/withdrawals", "clients:withdrawals", None),
    ("POST", "/clients/{c}/deposit", "transfer:deposit", {"amount": 10}),
    ("POST", "/clients/{c}/withdraw", "transfer:withdraw", {"amount": 10, "wallet_address": WALLET}),
    ("GET", "/transfer/history?client_id={c}", "transfer:history", None),
    ("GET", "/withdrawal/{w}", "withdrawal:read", None),
    ("GET", "/withdrawals/pending", "withdrawal:list", None),
    ("POST", "/withdrawal/{w}/lock", "withdrawal:lock", None),
    ("POST", "/withdrawal/{w}/unlock", "withdrawal:unlock", None),
]
# Endpoints that name no object of broker A: another broker's key acts on its own (empty) data instead.
OWN_DATA_ONLY = {"/sub-brokers", "/balance", "/clients", "/withdrawals/pending"}
# Lock/unlock act on the OTC pool, open to every broker: another broker's key is refused for what it is, not 404
# (B has no bound wallet: 400 BROKER_WALLET_NOT_BOUND; B holds no lock: 409 INVALID_WITHDRAWAL_STATE).
OTHER_BROKER = {"/withdrawal/{w}/lock": (400, "BROKER_WALLET_NOT_BOUND"),
                "/withdrawal/{w}/unlock": (409, "INVALID_WITHDRAWAL_STATE")}


def snapshot(stack) -> list:
    ddb = stack.dynamodb()
    out = []
    for table in sorted(stack.tables.values()):
        items, kw = [], {"TableName": table, "ConsistentRead": True}
        while True:
            page = ddb.scan(**kw)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        out.append((table, sorted(repr(sorted(i.items())) for i in items)))
    return out


@pytest.fixture
def setup(world, monkeypatch):
    a = world.broker(credit=1000)
    b = world.broker(credit=1000)  # "another broker", with every scope
    c = world.client_of(a, "matrix_client")
    assert world.api.post(f"{V1}/clients/matrix_client/deposit", {"amount": 100}, key=a.key).status == 201
    monkeypatch.setenv("WITHDRAWAL_COOLING_SECONDS", "0")  # out of the OTC pool at once: only A may read it
    w = world.api.post(f"{V1}/clients/matrix_client/withdraw", {"amount": 20, "wallet_address": WALLET}, key=a.key)
    assert w.status == 201, w
    monkeypatch.delenv("WITHDRAWAL_COOLING_SECONDS")
    revoked = world.new_key(a)
    assert world.api.delete(f"/api/broker/api-keys/{revoked['id']}", token=a.token).status == 200
    without = {s: world.new_key(a, [x for x in ALL_SCOPES if x != s])["key"] for s in ALL_SCOPES}
    return {"a": a, "b": b, "client": c, "withdrawal": w.json["id"], "revoked": revoked["key"], "without": without}


def _path(template, setup):
    return V1 + template.format(c=setup["client"]["user_id"], w=setup["withdrawal"])


def test_matrix_401_401_403_404_and_nothing_changes(world, setup, moto_db):
    api = world.api
    before = snapshot(moto_db)
    seen = []
    for method, template, scope, body in ENDPOINTS:
        path = _path(template, setup)
        # 1. no key (and malformed / unknown keys)
        for key in (None, "", "garbage", "bk_" + "0" * 48, setup["a"].key + "x"):
            r = api.call(method, path, body, key=key)
            assert (r.status, r.json) == (401, INVALID), (method, template, key, r)
        # 2. revoked key
        r = api.call(method, path, body, key=setup["revoked"])
        assert (r.status, r.json) == (401, INVALID), (method, template, r)
        # 3. a key of the same broker holding every scope but this one
        r = api.call(method, path, body, key=setup["without"][scope])
        assert (r.status, r.json) == (403, {"error": f"Missing scope: {scope}", "code": "SCOPE_REQUIRED"}), \
            (method, template, r)
        # 4. another broker's key (every scope)
        if template not in OWN_DATA_ONLY:
            r = api.call(method, path, body, key=setup["b"].key)
            if template in OTHER_BROKER:
                assert (r.status, r.json["code"]) == OTHER_BROKER[template], (method, template, r)
            else:
                assert r.status == 404, (method, template, r)
                assert r.json["code"] == "NOT_FOUND" and set(r.json) == {"error", "code"}, r
        seen.append(scope)
    assert sorted(seen) == sorted(ALL_SCOPES)  # every scope of the contract has its endpoint in the matrix
    assert snapshot(moto_db) == before


def test_another_brokers_key_sees_only_its_own_data(world, setup, moto_db):
    """The endpoints that name no object: broker B's key gets B's (empty) data, never A's; and A is unchanged."""
    api, a, b = world.api, setup["a"], setup["b"]
    assert api.get(f"{V1}/balance", key=b.key).json["broker_id"] == b.uid
    assert api.get(f"{V1}/clients", key=b.key).json == {"clients": [], "next_cursor": None}
    assert api.get(f"{V1}/sub-brokers", key=b.key).json == {"sub_brokers": [], "next_cursor": None}
    assert api.get(f"{V1}/transfer/history", key=b.key).json == {"transfers": [], "next_cursor": None}
    # creating the same user_id under B is another identity (B, user_id): A's client is untouched
    before_a = api.get(f"{V1}/clients", key=a.key).json
    r = api.post(f"{V1}/clients", {"user_id": setup["client"]["user_id"]}, key=b.key)
    assert r.status == 201 and r.json["account_id"] != setup["client"]["account_id"]
    assert r.json["username"] == f"sso_{b.uid[:6]}_{setup['client']['user_id']}"
    assert api.get(f"{V1}/clients", key=a.key).json == before_a
    # A's account id (a platform userId) is not a way in either
    r = api.get(f"{V1}/clients/{setup['client']['account_id']}/balance", key=b.key)
    assert r.status == 404


def test_scope_checked_before_anything_else(world, setup):
    """A key without the scope gets 403 even for a body that is invalid or an id that does not exist."""
    api = world.api
    key = setup["without"]["transfer:deposit"]
    for body in ({"amount": -1}, {"amount": "x"}, {}):
        r = api.post(f"{V1}/clients/nobody-{uuid.uuid4().hex[:4]}/deposit", body, key=key)
        assert r.status == 403 and r.json["error"] == "Missing scope: transfer:deposit"
    r = api.call("POST", f"{V1}/clients/x/deposit", raw="{not json", key=key)
    assert r.status == 403


def test_unknown_ids_are_404_for_the_owner_too(world, setup):
    api, a = world.api, setup["a"]
    for method, path, body in (("GET", "/clients/nope/balance", None), ("POST", "/clients/nope/deposit",
                                                                         {"amount": 1}),
                               ("GET", "/withdrawal/nope", None), ("GET", "/transfer/history?client_id=nope", None),
                               ("POST", "/clients/nope/upgrade-to-broker", {})):
        r = api.call(method, V1 + path, body, key=a.key)
        assert r.status == 404, (path, r)


def test_admin_key_sees_everything(world, setup):
    api = world.api
    admin_key = world.new_key(None, token=world.admin)["key"]
    acct = setup["client"]["account_id"]
    r = api.get(f"{V1}/clients/{acct}/balance", key=admin_key)
    assert r.status == 200 and r.json["balance"] == 80
    w = api.get(f"{V1}/withdrawal/{setup['withdrawal']}", key=admin_key)
    assert w.status == 200 and w.json["walletAddress"].lower() == WALLET and w.json["userId"] == acct
    ids = [c["account_id"] for c in api.get(f"{V1}/clients?limit=500", key=admin_key).json["clients"]]
    assert acct in ids
    h = api.get(f"{V1}/transfer/history?client_id={acct}", key=admin_key).json["transfers"]
    assert {t["type"] for t in h} == {"deposit", "withdraw"}

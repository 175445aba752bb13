"""Session auth: register, login, logout, revocation, roles, the exact 401 body, tokens stored only as hashes."""
import pytest

from tests.helpers import Api

SESSION_INVALID = {"error": "Session无效或已过期", "code": "SESSION_INVALID"}


@pytest.fixture
def api(client):
    return Api(client)


def test_register_login_me_logout(api):
    token, uid = api.register("alice_1", "correct-horse")
    assert api.me(token)["userId"] == uid
    r = api.post("/api/auth/login", {"username": "alice_1", "password": "correct-horse"})
    assert r.status == 200 and r.json["user"] == {"id": uid, "username": "alice_1", "role": "trader"}
    second = r.json["token"]
    assert second != token
    assert api.post("/api/auth/logout", token=token).json == {"ok": True}
    assert api.get("/api/accounts/me", token=token).json == SESSION_INVALID  # revoked at once
    assert api.me(second)["userId"] == uid  # other sessions live on


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "Bearer " + "x" * 300])
def test_missing_or_unknown_token_gives_exact_401(api, header):
    headers = {"Authorization": header} if header else {}
    r = api.get("/api/accounts/me", headers=headers)
    assert r.status == 401 and r.json == SESSION_INVALID


def test_wrong_credentials(api):
    api.register("bob_22", "password-xyz")
    for body in ({"username": "bob_22", "password": "wrong-pass"}, {"username": "nobody", "password": "x"}):
        r = api.post("/api/auth/login", body)
        assert r.status == 401 and r.json["code"] == "INVALID_CREDENTIALS"


def test_duplicate_username_is_409_case_insensitive(api):
    api.register("Carol_x")
    r = api.post("/api/auth/register", {"username": "carol_X", "password": "password-123"})
    assert r.status == 409 and r.json["code"] == "USERNAME_TAKEN"


@pytest.mark.parametrize("body", [
    {"username": "ab", "password": "password-123"},
    {"username": "has space", "password": "password-123"},
    {"username": "okname", "password": "short"},
    {"username": 123, "password": "password-123"},
    {"password": "password-123"},
])
def test_register_validation(api, body):
    r = api.post("/api/auth/register", body)
    assert r.status == 400 and r.json["code"] == "VALIDATION_ERROR", r


def test_admin_revokes_every_session(api):
    admin = api.admin_token()
    t1, uid = api.register()
    t2 = api.post("/api/auth/login", {"username": api.get("/api/accounts/me", token=t1).json["username"],
                                      "password": "password-123"}).json["token"]
    r = api.post("/api/admin/sessions/revoke", {"userId": uid}, token=admin)
    assert r.status == 200 and r.json["revoked"] == 2
    for t in (t1, t2):
        assert api.get("/api/accounts/me", token=t).status == 401
    assert api.post("/api/admin/sessions/revoke", {"userId": "nope"}, token=admin).status == 404


def test_roles_are_enforced(api):
    trader, uid = api.register()
    r = api.post(f"/api/admin/accounts/{uid}/credit", {"amount": 5, "reference": "x"}, token=trader)
    assert r.status == 403 and r.json["code"] == "ROLE_REQUIRED"
    assert api.me(trader)["balance"] == 0


def test_register_under_broker(api):
    admin = api.admin_token()
    _, broker_uid = api.create_broker(admin)
    token, uid = api.register(brokerUid=broker_uid)
    me = api.me(token)
    assert me["parentBrokerId"] == broker_uid and me["brandRootId"] == broker_uid
    r = api.post("/api/auth/register", {"username": "x_unknown_b", "password": "password-123", "brokerUid": "nope"})
    assert r.status == 400 and r.json["code"] == "UNKNOWN_BROKER"


def test_secrets_are_stored_only_as_hashes(api, moto_db):
    import boto3
    token, uid = api.register("dave_9", "a-very-secret-pw")
    dump = str(boto3.client("dynamodb").scan(TableName=moto_db.tables["main"])["Items"])
    assert token not in dump and token[3:] not in dump
    assert "a-very-secret-pw" not in dump


def test_broker_sso_secret_is_encrypted_at_rest(api, moto_db):
    import boto3

    from chalicelib.accounts import store as accounts
    from chalicelib.common import secretbox
    admin = api.admin_token()
    secret = "sso-secret-" + "z" * 24
    _, broker_uid = api.create_broker(admin, ssoSecret=secret)
    dump = str(boto3.client("dynamodb").scan(TableName=moto_db.tables["main"])["Items"])
    assert secret not in dump
    sealed = accounts.get(broker_uid).sso_secret
    assert secretbox.open_(sealed, aad=f"sso:{broker_uid}") == secret

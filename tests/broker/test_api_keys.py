"""API keys from the broker panel: create (shown once), list (no secrets), revoke (at once), the sub-broker scope
rule, and the webhook secret kept encrypted."""
import uuid

import pytest

from chalicelib.broker import keys
from chalicelib.common import secretbox
from chalicelib.broker.scopes import ALL_SCOPES

V1 = "/api/v1/broker"


def test_create_list_revoke(world):
    api = world.api
    b = world.broker(scopes=None)
    r = api.post("/api/broker/api-keys", {"name": "main", "scopes": ["clients:list", "balance:read"],
                                          "webhookUrl": "https://hooks.example.com/x"}, token=b.token)
    assert r.status == 201, r
    k = r.json
    assert k["key"].startswith("bk_") and len(k["key"]) == 51
    assert k["webhookSecret"].startswith("whsec_") and k["webhookUrl"] == "https://hooks.example.com/x"
    assert k["scopes"] == ["balance:read", "clients:list"] and k["id"].startswith("key_")
    plain = api.post("/api/broker/api-keys", {"name": "no hook", "scopes": ["balance:read"]}, token=b.token).json
    assert plain["webhookSecret"] is None and plain["webhookUrl"] is None

    listed = api.get("/api/broker/api-keys", token=b.token)
    assert listed.status == 200 and [x["id"] for x in listed.json] == [plain["id"], k["id"]]
    text = repr(listed.json)
    assert k["key"] not in text and k["webhookSecret"] not in text and k["key"][3:] not in text
    assert all("key" not in x and "webhookSecret" not in x for x in listed.json)
    assert listed.json[1]["keyHint"] == "bk_…" + k["key"][-4:] and listed.json[1]["hasWebhookSecret"] is True

    assert api.get(f"{V1}/balance", key=k["key"]).status == 200
    r = api.delete(f"/api/broker/api-keys/{k['id']}", token=b.token)
    assert r.status == 200 and r.json["status"] == "revoked" and r.json["hasWebhookSecret"] is False
    assert api.get(f"{V1}/balance", key=k["key"]).status == 401  # at once
    assert api.delete(f"/api/broker/api-keys/{k['id']}", token=b.token).status == 200  # idempotent
    assert [x["status"] for x in api.get("/api/broker/api-keys", token=b.token).json] == ["active", "revoked"]
    assert api.get(f"{V1}/balance", key=plain["key"]).status == 200  # the other key lives on


def test_another_brokers_key_is_404_admin_may_revoke_any(world):
    api = world.api
    a, b = world.broker(), world.broker()
    r = api.delete(f"/api/broker/api-keys/{a.key_id}", token=b.token)
    assert r.status == 404 and r.json["code"] == "NOT_FOUND"
    assert api.delete("/api/broker/api-keys/key_nope", token=b.token).status == 404
    assert a.key_id not in repr(api.get("/api/broker/api-keys", token=b.token).json)
    assert api.get(f"{V1}/balance", key=a.key).status == 200
    assert api.delete(f"/api/broker/api-keys/{a.key_id}", token=world.admin).status == 200
    assert api.get(f"{V1}/balance", key=a.key).status == 401


def test_only_brokers_and_admins(world):
    api = world.api
    trader, _ = api.register()
    body = {"name": "x", "scopes": ["balance:read"]}
    r = api.post("/api/broker/api-keys", body, token=trader)
    assert r.status == 403 and r.json["code"] == "ROLE_REQUIRED"
    assert api.post("/api/broker/api-keys", body).status == 401
    assert api.get("/api/broker/api-keys", token=trader).status == 403
    admin_key = api.post("/api/broker/api-keys", {"name": "ops", "scopes": list(ALL_SCOPES)}, token=world.admin)
    assert admin_key.status == 201


@pytest.mark.parametrize("body,code", [
    ({"name": "x", "scopes": ["clients:nope"]}, "UNKNOWN_SCOPE"),
    ({"name": "x", "scopes": []}, "VALIDATION_ERROR"),
    ({"name": "x"}, "VALIDATION_ERROR"),
    ({"name": "", "scopes": ["balance:read"]}, "VALIDATION_ERROR"),
    ({"name": "x", "scopes": "balance:read"}, "VALIDATION_ERROR"),
    ({"name": "x", "scopes": ["balance:read"], "webhookUrl": "ftp://h/x"}, "VALIDATION_ERROR"),
    ({"name": "x", "scopes": ["balance:read"], "webhookUrl": "http:///nohost"}, "VALIDATION_ERROR"),
    ({"name": "x", "scopes": ["balance:read"], "webhookUrl": "https://u:p@h.example/x"}, "VALIDATION_ERROR"),
    ({"name": "x", "scopes": ["balance:read"], "webhookUrl": "https://h.example/" + "x" * 3000}, "VALIDATION_ERROR"),
])
def test_create_validation(world, body, code):
    b = world.broker(scopes=None)
    r = world.api.post("/api/broker/api-keys", body, token=b.token)
    assert r.status == 400 and r.json["code"] == code, r
    assert world.api.get("/api/broker/api-keys", token=b.token).json == []


def test_webhook_secret_is_encrypted_and_destroyed_on_revoke(world):
    b = world.broker(scopes=None)
    k = world.new_key(b, ["balance:read"], webhook_url="http://127.0.0.1:9/h")
    item = keys.lookup(k["key"])
    assert item.webhook_secret_enc.startswith("v1:") and k["webhookSecret"] not in item.webhook_secret_enc
    assert keys.webhook_secret(item) == k["webhookSecret"]
    with pytest.raises(ValueError):  # bound to its own key id: not movable to another key's item
        secretbox.open_(item.webhook_secret_enc, aad="key_other")
    assert item.pk == "APIKEY#" + keys.key_hash(k["key"]) and k["key"] not in repr(item.attribute_values)
    world.api.delete(f"/api/broker/api-keys/{k['id']}", token=b.token)
    item = keys.lookup(k["key"])
    assert item.status == "revoked" and item.webhook_secret_enc is None and keys.webhook_secret(item) is None


def test_secrets_key_missing_in_lambda_fails_closed(world, monkeypatch):
    b = world.broker(scopes=None)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "sim-trading-dev")
    monkeypatch.delenv("SECRETS_KEY", raising=False)
    r = world.api.post("/api/broker/api-keys", {"name": "x", "scopes": ["balance:read"],
                                                "webhookUrl": "https://h.example/x"}, token=b.token)
    assert r.status == 503 and r.json["code"] == "SECRETS_KEY_MISSING"
    monkeypatch.setenv("SECRETS_KEY", "a-real-deployment-key-" + uuid.uuid4().hex)
    r = world.api.post("/api/broker/api-keys", {"name": "x", "scopes": ["balance:read"],
                                                "webhookUrl": "https://h.example/x"}, token=b.token)
    assert r.status == 201
    assert keys.webhook_secret(keys.lookup(r.json["key"])) == r.json["webhookSecret"]


# --- the sub-broker scope rule -------------------------------------------------------------------------

def _try_key(world, token, scopes):
    return world.api.post("/api/broker/api-keys", {"name": "t", "scopes": scopes}, token=token)


def test_top_level_broker_may_hold_every_scope(world):
    b = world.broker(scopes=None)
    assert _try_key(world, b.token, list(ALL_SCOPES)).status == 201


def test_sub_broker_keys_limited_to_the_creating_keys_scopes(world):
    api = world.api
    a = world.broker()
    limited = world.new_key(a, ["sub-brokers:create", "clients:list", "clients:create"])
    s = world.sub_broker(a, key=limited["key"], scopes=None)
    r = _try_key(world, s.token, ["clients:list", "transfer:deposit"])
    assert r.status == 403 and r.json["code"] == "SCOPE_NOT_ALLOWED" and "transfer:deposit" in r.json["error"]
    assert r.json["allowed"] == ["sub-brokers:create", "clients:list", "clients:create"]
    ok = _try_key(world, s.token, ["clients:list", "sub-brokers:create"])
    assert ok.status == 201
    # one level further down: the sub-sub-broker is limited by what made it AND by every level above
    ss = world.sub_broker(s, key=ok.json["key"], scopes=None)
    assert _try_key(world, ss.token, ["clients:create"]).status == 403  # S's creating key lacked it
    assert _try_key(world, ss.token, ["transfer:deposit"]).status == 403  # A's grant to S lacked it
    assert _try_key(world, ss.token, ["clients:list", "sub-brokers:create"]).status == 201
    assert api.get("/api/broker/api-keys", token=ss.token).status == 200


def test_full_key_makes_full_sub_broker_and_admin_key_makes_top_level(world):
    a = world.broker()
    s = world.sub_broker(a, scopes=None)
    assert _try_key(world, s.token, list(ALL_SCOPES)).status == 201
    admin_key = world.new_key(None, token=world.admin)["key"]
    r = world.api.post(f"{V1}/sub-brokers", {"username": "top_" + uuid.uuid4().hex[:6], "password": "password-123"},
                       key=admin_key)
    assert r.status == 201 and r.json["parent_broker_id"] is None and r.json["brand_root_id"] == r.json["user_id"]


def test_upgraded_client_limited_to_the_upgrading_keys_scopes_and_its_parents(world):
    api = world.api
    root = world.broker()
    s = world.sub_broker(root, key=world.new_key(root, ["sub-brokers:create", "sub-brokers:upgrade", "clients:create",
                                                        "clients:list", "balance:read"])["key"], scopes=None)
    s_key = world.new_key(s, ["sub-brokers:upgrade", "clients:create", "clients:list", "balance:read"])
    c = world.client_of(type(s)(s.token, s.uid, key=s_key["key"]), "to_upgrade", password="password-123")
    # the root broker upgrades its sub-broker's client (by platform id) with a full key
    r = api.post(f"{V1}/clients/{c['account_id']}/upgrade-to-broker", {}, key=root.key)
    assert r.status == 200 and r.json["parent_broker_id"] == s.uid
    token = world.login(c["username"])
    assert _try_key(world, token, ["transfer:deposit"]).status == 403  # S never had it
    assert _try_key(world, token, ["sub-brokers:create"]).status == 201  # root granted it to S; root's key had it
    assert _try_key(world, token, ["clients:list", "balance:read"]).status == 201

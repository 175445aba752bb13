"""Broker API v1: clients (create, identity, list with balances and pagination, reads), sub-brokers and
upgrade-to-broker (the parent rule)."""
import uuid
from decimal import Decimal

import pytest

V1 = "/api/v1/broker"


def test_create_client_username_and_409(world):
    api = world.api
    a = world.broker()
    uid = "usr_" + uuid.uuid4().hex[:8]
    c = world.client_of(a, uid, email="x@example.com")
    assert c["username"] == f"sso_{a.uid[:6]}_{uid}" and c["user_id"] == uid and c["role"] == "trader"
    assert c["parent_broker_id"] == a.uid and c["brand_root_id"] == a.uid and c["email"] == "x@example.com"
    again = api.post(f"{V1}/clients", {"user_id": uid}, key=a.key)
    assert again.status == 409
    assert again.json == {"error": f"Client already exists: user_id={uid}", "code": "CLIENT_EXISTS",
                          "username": c["username"]}


def test_user_id_never_truncated_and_integers_accepted(world):
    api = world.api
    a = world.broker()
    long_id = "u" * 120
    c = world.client_of(a, long_id)
    assert c["username"] == f"sso_{a.uid[:6]}_{long_id}" and c["user_id"] == long_id
    n = api.post(f"{V1}/clients", {"user_id": 1234567890123}, key=a.key)
    assert n.status == 201 and n.json["user_id"] == "1234567890123"
    assert api.post(f"{V1}/clients", {"user_id": "1234567890123"}, key=a.key).status == 409  # same identity
    # user_ids differing only in case are different identities; their usernames still differ
    x = world.client_of(a, "CaseID")
    y = world.client_of(a, "caseid")
    assert x["account_id"] != y["account_id"] and x["username"].lower() != y["username"].lower()


@pytest.mark.parametrize("user_id", ["", " ", "has space", "x" * 129, 1.5, True, None, "a/b", "é"])
def test_invalid_user_ids(world, user_id):
    a = world.broker()
    r = world.api.post(f"{V1}/clients", {"user_id": user_id}, key=a.key)
    assert r.status == 400 and r.json["code"] == "VALIDATION_ERROR", r
    assert world.api.get(f"{V1}/clients", key=a.key).json["clients"] == []


def test_client_with_password_and_wallet_can_log_in(world):
    api = world.api
    a = world.broker()
    c = world.client_of(a, "pw_user", password="password-123", wallet_address="0x" + "ab" * 20)
    assert c["wallet_address"] == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
    token = world.login(c["username"])
    assert api.me(token)["userId"] == c["account_id"]
    bad = api.post(f"{V1}/clients", {"user_id": "w2", "wallet_address": "0x123"}, key=a.key)
    assert bad.status == 400 and bad.json["code"] == "INVALID_WALLET"


def test_widget_registered_user_is_the_same_identity(world):
    """A user who registered through the widget has its platform userId as its user_id under that broker."""
    api = world.api
    a = world.broker()
    _, uid = api.register(brokerUid=a.uid)
    r = api.post(f"{V1}/clients", {"user_id": uid}, key=a.key)
    assert r.status == 409 and r.json["error"] == f"Client already exists: user_id={uid}"
    assert api.get(f"{V1}/clients/{uid}/balance", key=a.key).json["account_id"] == uid
    assert uid in [c["user_id"] for c in api.get(f"{V1}/clients", key=a.key).json["clients"]]


def test_admin_key_creates_client_under_a_named_broker(world):
    api = world.api
    a = world.broker()
    admin_key = world.new_key(None, token=world.admin)["key"]
    r = api.post(f"{V1}/clients", {"user_id": "via_admin"}, key=admin_key)
    assert r.status == 400 and r.json["code"] == "BROKER_REQUIRED"
    r = api.post(f"{V1}/clients", {"user_id": "via_admin", "broker_id": a.uid}, key=admin_key)
    assert r.status == 201 and r.json["username"] == f"sso_{a.uid[:6]}_via_admin" and r.json["broker_id"] == a.uid
    assert api.post(f"{V1}/clients", {"user_id": "via_admin"}, key=a.key).status == 409


def test_clients_list_with_balances_and_cursor_pagination(world):
    api = world.api
    a = world.broker(credit=1000)
    ids = [f"p{i:02d}" for i in range(7)]
    for i, uid in enumerate(ids):
        world.client_of(a, uid)
        api.post(f"{V1}/clients/{uid}/deposit", {"amount": i + 1}, key=a.key)
    world.sub_broker(a)  # a sub-broker is not a client
    seen, cursor, pages = [], None, 0
    while True:
        q = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        r = api.get(f"{V1}/clients{q}", key=a.key)
        assert r.status == 200 and len(r.json["clients"]) <= 3
        seen += r.json["clients"]
        pages += 1
        cursor = r.json["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and [c["user_id"] for c in seen] == ids  # oldest first, no gap, no duplicate
    assert [c["balance"] for c in seen] == [Decimal(i + 1) for i in range(7)]
    assert all(c["available_balance"] == c["balance"] for c in seen)
    assert seen[0]["created_at"].endswith("Z") and "T" in seen[0]["created_at"]
    full = api.get(f"{V1}/clients", key=a.key).json
    assert len(full["clients"]) == 7 and full["next_cursor"] is None
    exact = api.get(f"{V1}/clients?limit=7", key=a.key).json
    assert len(exact["clients"]) == 7 and exact["next_cursor"] is None  # no empty last page


def test_pagination_errors(world):
    api = world.api
    a, b = world.broker(), world.broker()
    for uid in ("c1", "c2"):
        world.client_of(a, uid)
        world.client_of(b, uid)
    for q in ("limit=0", "limit=501", "limit=x", "cursor=%%%", "cursor=e30"):
        r = api.get(f"{V1}/clients?{q}", key=a.key)
        assert r.status == 400 and r.json["code"] in ("VALIDATION_ERROR", "INVALID_CURSOR"), (q, r)
    b_cursor = api.get(f"{V1}/clients?limit=1", key=b.key).json["next_cursor"]
    r = api.get(f"{V1}/clients?limit=1&cursor={b_cursor}", key=a.key)  # another broker's cursor: not a way in
    assert r.status == 400 and r.json["code"] == "INVALID_CURSOR"
    assert len(api.get(f"{V1}/clients?limit=500", key=a.key).json["clients"]) == 2


def test_client_reads(world):
    api = world.api
    a = world.broker(credit=100)
    world.client_of(a, "reader")
    api.post(f"{V1}/clients/reader/deposit", {"amount": "12.5"}, key=a.key)
    b = api.get(f"{V1}/clients/reader/balance", key=a.key).json
    assert b["currency"] == "DCT" and b["balance"] == Decimal("12.5") and b["available_balance"] == Decimal("12.5")
    assert b["equity"] == Decimal("12.5") and b["user_id"] == "reader"
    assert isinstance(api.get(f"{V1}/clients/reader/orders", key=a.key).json["orders"], list)
    assert isinstance(api.get(f"{V1}/clients/reader/positions", key=a.key).json["positions"], list)
    w = api.get(f"{V1}/clients/reader/withdrawals", key=a.key).json
    assert w["withdrawals"] == [] and w["next_cursor"] is None


def test_downstream_reaches_sub_brokers_clients_by_platform_id(world):
    api = world.api
    a = world.broker(credit=100)
    s = world.sub_broker(a)
    c = world.client_of(s, "deep")
    assert api.get(f"{V1}/clients/deep/balance", key=a.key).status == 404  # "deep" is S's id, not A's
    r = api.get(f"{V1}/clients/{c['account_id']}/balance", key=a.key)
    assert r.status == 200 and r.json["user_id"] == "deep"
    assert api.post(f"{V1}/clients/{c['account_id']}/deposit", {"amount": 5}, key=a.key).status == 201
    assert api.get(f"{V1}/clients/deep/balance", key=s.key).json["balance"] == 5
    # but not upwards or sideways: S cannot reach A's own clients
    world.client_of(a, "top")
    top = api.get(f"{V1}/clients/top/balance", key=a.key).json["account_id"]
    assert api.get(f"{V1}/clients/{top}/balance", key=s.key).status == 404
    assert api.get(f"{V1}/clients/{a.uid}/balance", key=s.key).status == 404  # nor its parent


def test_sub_brokers_create_and_list(world):
    api = world.api
    a = world.broker()
    s = world.sub_broker(a)
    me = api.me(s.token)
    assert me["role"] == "broker" and me["parentBrokerId"] == a.uid and me["brandRootId"] == a.uid
    ss = world.sub_broker(s)
    assert api.me(ss.token)["brandRootId"] == a.uid and api.me(ss.token)["parentBrokerId"] == s.uid
    listed = api.get(f"{V1}/sub-brokers", key=a.key).json
    assert [x["user_id"] for x in listed["sub_brokers"]] == [s.uid]  # direct sub-brokers only
    assert listed["sub_brokers"][0]["parent_broker_id"] == a.uid
    dup = api.post(f"{V1}/sub-brokers", {"username": s.extra["username"], "password": "password-123"}, key=a.key)
    assert dup.status == 409 and dup.json["code"] == "USERNAME_TAKEN"
    bad = api.post(f"{V1}/sub-brokers", {"username": "x y", "password": "password-123"}, key=a.key)
    assert bad.status == 400
    # a sub-broker manages its own clients; its parent does not see them in its client list
    world.client_of(s, "sclient")
    assert api.get(f"{V1}/clients", key=a.key).json["clients"] == []


# --- upgrade-to-broker ---------------------------------------------------------------------------------

def test_upgrade_keeps_balance_history_and_service_broker(world):
    api = world.api
    a = world.broker(credit=100)
    c = world.client_of(a, "usr_12345", password="password-123")
    api.post(f"{V1}/clients/usr_12345/deposit", {"amount": 40}, key=a.key)
    token = world.login(c["username"])
    assert api.me(token)["role"] == "trader"
    r = api.post(f"{V1}/clients/usr_12345/upgrade-to-broker", {"password": "NewBrokerPass123"}, key=a.key)
    assert r.status == 200, r
    assert r.json == {"ok": True, "user_id": "usr_12345", "account_id": c["account_id"], "username": c["username"],
                      "role": "broker", "parent_broker_id": a.uid, "brand_root_id": a.uid,
                      "message": "User upgraded to broker. They can now log in to Broker Portal.",
                      "broker_portal_url": "/pages/broker-portal.html"}
    me = api.me(token)  # the live session sees the new role
    assert me["role"] == "broker" and me["balance"] == 40 and me["parentBrokerId"] == a.uid
    new_token = world.login(c["username"], "NewBrokerPass123")
    assert api.post("/api/broker/api-keys", {"name": "k", "scopes": ["balance:read"]}, token=new_token).status == 201
    h = api.get(f"{V1}/transfer/history?client_id=usr_12345", key=a.key).json["transfers"]
    assert [t["amount"] for t in h] == [40]  # history kept
    assert [x["user_id"] for x in api.get(f"{V1}/sub-brokers", key=a.key).json["sub_brokers"]] == [c["account_id"]]
    assert api.get(f"{V1}/clients", key=a.key).json["clients"] == []
    again = api.post(f"{V1}/clients/usr_12345/upgrade-to-broker", {}, key=a.key)
    assert again.status == 409 and again.json["code"] == "ALREADY_BROKER"


def test_upgrade_by_admin_keeps_the_original_service_broker(world):
    api = world.api
    a = world.broker()
    c = world.client_of(a, "adm_up")
    admin_key = world.new_key(None, token=world.admin)["key"]
    r = api.post(f"{V1}/clients/{c['account_id']}/upgrade-to-broker", {}, key=admin_key)
    assert r.status == 200 and r.json["parent_broker_id"] == a.uid and r.json["brand_root_id"] == a.uid


def test_upgrade_by_a_higher_broker_keeps_the_sub_broker_as_parent(world):
    api = world.api
    a = world.broker()
    s = world.sub_broker(a)
    c = world.client_of(s, "deep_up")
    r = api.post(f"{V1}/clients/{c['account_id']}/upgrade-to-broker", {}, key=a.key)
    assert r.status == 200 and r.json["parent_broker_id"] == s.uid and r.json["brand_root_id"] == a.uid
    assert api.post(f"{V1}/clients/{c['account_id']}/upgrade-to-broker", {}, key=world.broker().key).status == 404


def test_upgrade_password_validation(world):
    a = world.broker()
    world.client_of(a, "pv")
    r = world.api.post(f"{V1}/clients/pv/upgrade-to-broker", {"password": "short"}, key=a.key)
    assert r.status == 400
    assert world.api.get(f"{V1}/clients", key=a.key).json["clients"][0]["role"] == "trader"


def test_client_orders_and_positions_come_from_the_trading_engine(world):
    """A client trades with its own session; its broker reads the orders, fills and positions through v1."""
    api = world.api
    a = world.broker(credit=100000)
    c = world.client_of(a, "trader1", password="password-123")
    api.post(f"{V1}/clients/trader1/deposit", {"amount": 10000}, key=a.key)
    symbol = "BRK" + uuid.uuid4().hex[:5].upper()
    r = api.post("/api/broker/symbols", {"symbol": symbol, "name": symbol, "pricePrecision": 2,
                                         "quantityPrecision": 4, "minQuantity": 0.0001, "maxLeverage": 10},
                 token=a.token)
    assert r.status == 201, r
    assert api.post("/api/broker/price-feed", {"symbol": symbol, "price": 100}, token=a.token).status == 200
    token = world.login(c["username"])
    o = api.post("/api/orders", {"symbol": symbol, "side": "buy", "type": "market", "quantity": 2}, token=token)
    assert o.status == 201, o
    orders = api.get(f"{V1}/clients/trader1/orders", key=a.key).json
    assert [x["orderId"] for x in orders["orders"]] == [o.json["orderId"]] and orders["next_cursor"] is None
    assert len(orders["trades"]) >= 1
    pos = api.get(f"{V1}/clients/trader1/positions", key=a.key).json["positions"]
    assert [(p["symbol"], p["side"]) for p in pos] == [(symbol, "long")]
    assert api.get(f"{V1}/clients/trader1/orders?status=bogus", key=a.key).status == 400

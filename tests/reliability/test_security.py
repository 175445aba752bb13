"""Security across capabilities, over the real app (moto).

- BOLA: every object id of one account (orders, pairs, positions, withdrawals, API keys, webhook deliveries) and
  of one broker (its clients, their withdrawals) used by another account, another broker or another broker's key
  answers exactly what an unknown id answers (404, or the guide's PAIR_NOT_PENDING 400 for pair ids), never 2xx or
  403, and changes nothing (the scenario's state, ids and timestamps aside, is the same before and after).
- Mass assignment: `role`, `balance`, `availableBalance`, `brokerId`/`broker_id`, `status`, `frozenMargin`,
  `fee`, `userId` in register/create/update bodies change nothing.
- Secrets in logs: a storage fault and an unexpected error on a request carrying a password, a session token and an
  API key log none of them (the fault path added by chalicelib/common/faults.py included).

Reused, not repeated here: the v1 scope matrix (tests/broker/test_v1_matrix.py), the JWT attack suite
(tests/web/test_sso.py), secrets at rest in every table, queue body and log line (tests/broker/
test_secrets_at_rest.py, tests/foundation/test_auth.py), webhook secrets destroyed on revoke
(tests/broker/test_api_keys.py).
"""
import uuid
from decimal import Decimal


from tests.broker.conftest import pump_webhooks, receiver  # noqa: F401  (fixture)
from tests.reliability.test_faults import V1, WALLET_B, WALLET_U, W, inject, signature  # noqa: F401
from tests.trading.conftest import assert_invariants

STATS = {"bola_probes": 0, "mass_assignment_probes": 0}
UNKNOWN = str(uuid.uuid4())


def _same_as_unknown(r_other, r_unknown, what):
    STATS["bola_probes"] += 1
    assert r_other.status not in (200, 201, 202, 403), (what, r_other)
    assert r_other.status >= 400 and r_other.json["code"] == r_unknown.json["code"], (what, r_other, r_unknown)
    assert r_other.status == r_unknown.status, (what, r_other, r_unknown)


def test_bola_session_objects_are_404_to_other_accounts(client, receiver):  # noqa: F811
    w = W(client)
    sym = w.symbol()
    w.push(sym, 100)
    owner, owner_id = w.account(5000)
    mm, mm_id = w.account(5000)
    p = w.pair(mm, sym, 99, 101, qty="1")
    oid = w.order(owner, sym, "buy", "1", 90).json["orderId"]
    assert w.order(owner, sym, "buy", "0.5").status == 201  # fills against the pair: a position
    pos = w.api.get("/api/positions", token=owner).json[0]["positionId"]
    r = w.api.post("/api/withdrawals", {"amount": 50, "walletAddress": WALLET_U}, token=owner)
    wid = r.json["id"]
    ba = w.broker(credit=100)
    kb = w.api.post("/api/broker/api-keys", {"name": "hook", "scopes": ["clients:create"],
                                             "webhookUrl": receiver.url + "/h"}, token=ba.token).json
    assert w.api.post(f"{V1}/clients", {"user_id": "bola-c"}, key=kb["key"]).status == 201
    pump_webhooks(client)
    deliveries = w.api.get("/api/broker/webhooks/deliveries", token=ba.token).json["deliveries"]
    assert deliveries, "no webhook delivery to probe"
    did = deliveries[0]["id"]
    attacker, attacker_id = w.account(5000)
    bb = w.broker(credit=100)
    before = signature([owner_id, mm_id, ba.uid])
    probes = [
        ("GET", "/api/orders/{}", oid, None, "order"),
        ("DELETE", "/api/orders/{}", oid, None, "order cancel"),
        ("POST", "/api/positions/{}/close", pos, {}, "position close"),
        ("GET", "/api/withdrawals/{}", wid, None, "withdrawal"),
        ("POST", "/api/withdrawals/{}/cancel", wid, {}, "withdrawal cancel"),
        ("POST", "/api/liquidity/cancel", p["pairId"], "pair-cancel", "pair cancel"),
        ("POST", "/api/liquidity/reprice", p["pairId"], "pair-reprice", "pair reprice"),
    ]
    for method, path, oid_, body, what in probes:
        for tok in (attacker, bb.token):  # another trader, another broker's session
            def call(x):
                if body == "pair-cancel":
                    return w.api.post(path, {"pairId": x}, token=tok)
                if body == "pair-reprice":
                    return w.api.post(path, {"pairId": x, "newBidPrice": 98, "newAskPrice": 102}, token=tok)
                return w.api.call(method, path.format(x), body=body, token=tok)
            _same_as_unknown(call(oid_), call(UNKNOWN), what)
    # broker-owned objects: another broker's session
    for method, path, what in (("DELETE", f"/api/broker/api-keys/{kb['id']}", "api key"),
                               ("GET", f"/api/broker/webhooks/deliveries/{did}", "delivery"),
                               ("POST", f"/api/broker/webhooks/deliveries/{did}/redeliver", "redeliver")):
        other = w.api.call(method, path, body={} if method == "POST" else None, token=bb.token)
        unknown = w.api.call(method, path.replace(kb["id"], UNKNOWN).replace(did, UNKNOWN),
                             body={} if method == "POST" else None, token=bb.token)
        _same_as_unknown(other, unknown, what)
    assert signature([owner_id, mm_id, ba.uid]) == before  # nothing changed
    assert w.api.get(f"/api/orders/{oid}", token=owner).json["status"] == "pending"
    assert w.api.get(f"/api/withdrawals/{wid}", token=owner).json["status"] == "pending"
    assert len(w.api.get("/api/broker/api-keys", token=ba.token).json) >= 1
    assert_invariants()


def test_bola_v1_clients_and_withdrawals_of_another_broker(client):
    w = W(client)
    a = w.broker(credit=1000)
    b = w.broker(credit=1000, wallet=WALLET_B)
    c = w.client_of(a, 300)
    cid = c["user_id"]
    r = w.api.post(f"{V1}/clients/{cid}/withdraw", {"amount": 40}, key=a.key)
    assert r.status == 201, r
    wid = r.json["id"]
    before = signature([a.uid, c["account_id"]])
    for method, path, body in (
            ("GET", "/clients/{}/balance", None), ("GET", "/clients/{}/orders", None),
            ("GET", "/clients/{}/positions", None), ("GET", "/clients/{}/withdrawals", None),
            ("POST", "/clients/{}/deposit", {"amount": 5}), ("POST", "/clients/{}/withdraw", {"amount": 5}),
            ("POST", "/clients/{}/upgrade-to-broker", {"password": "password-123"})):
        for x in (cid, c["account_id"]):  # the broker's own user id and the platform id
            other = w.api.call(method, V1 + path.format(x), body=body, key=b.key)
            unknown = w.api.call(method, V1 + path.format("nobody-" + uuid.uuid4().hex[:6]), body=body, key=b.key)
            _same_as_unknown(other, unknown, path)
    # a pending withdrawal is in the OTC pool every broker may lock from: the pool view, without identity or wallet
    other = w.api.get(f"{V1}/withdrawal/{wid}", key=b.key)
    assert other.status == 200 and not {"userId", "user_id", "walletAddress", "wallet_address", "accountId",
                                        "account_id"} & set(other.json), other
    STATS["bola_probes"] += 1
    # once another broker holds the lock, it is 404 to everyone else, as an unknown id
    c2 = w.broker(credit=0, wallet="0x" + "3c" * 20)
    assert w.api.post(f"{V1}/withdrawal/{wid}/lock", key=c2.key).status == 200
    before = signature([a.uid, c["account_id"]])
    _same_as_unknown(w.api.get(f"{V1}/withdrawal/{wid}", key=b.key),
                     w.api.get(f"{V1}/withdrawal/{UNKNOWN}", key=b.key), "v1 withdrawal")
    other = w.api.post(f"{V1}/withdrawal/{wid}/unlock", key=b.key)
    assert other.status != 200 and other.status != 500
    assert signature([a.uid, c["account_id"]]) == before
    assert_invariants()


def _probe(r):
    STATS["mass_assignment_probes"] += 1
    return r


def test_mass_assignment_changes_nothing(client):
    w = W(client)
    evil = {"role": "admin", "balance": 1_000_000, "availableBalance": 1_000_000, "frozenMargin": -5,
            "positionMargin": -5, "status": "active", "brokerId": "x", "broker_id": "x", "userId": "x",
            "id": "x", "isAdmin": True, "scopes": ["*"], "ancestors": ["x"]}
    # register: a plain trader with nothing
    name = "ma_" + uuid.uuid4().hex[:8]
    r = _probe(w.api.post("/api/auth/register", {"username": name, "password": "password-123", **evil}))
    assert r.status in (201, 400), r
    if r.status == 201:
        tok = r.json["token"]
        assert r.json["user"]["role"] == "trader"
        me = w.api.me(tok)
        assert Decimal(str(me["balance"])) == 0 and Decimal(str(me["availableBalance"])) == 0
        assert me.get("role", "trader") == "trader"
        assert w.api.get("/api/admin/withdrawals", token=tok).status == 403
    else:  # refused outright is fine too: nothing created
        assert w.api.post("/api/auth/login", {"username": name, "password": "password-123"}).status == 401
    # wallet update
    tok, uid = w.account(100)
    r = _probe(w.api.put("/api/accounts/me/wallet", {"walletAddress": WALLET_U, **evil}, token=tok))
    assert r.status < 500
    me = w.api.me(tok)
    assert Decimal(str(me["balance"])) == 100 and Decimal(str(me["frozenMargin"])) == 0
    # an order: status, fills and margins come from the engine
    sym = w.symbol()
    w.push(sym, 100)
    r = _probe(w.api.post("/api/orders", {"symbol": sym, "side": "buy", "type": "limit", "quantity": 1,
                                          "price": 50, "leverage": 1, "filledQuantity": 1, "margin": 0,
                                          "accountId": "x", **evil}, token=tok))
    assert r.status == 201 and r.json["status"] == "pending" and Decimal(str(r.json["filledQuantity"])) == 0, r
    assert Decimal(str(r.json["frozenMargin"])) == 50
    # a withdrawal: status and fee are the platform's
    r = _probe(w.api.post("/api/withdrawals", {"amount": 10, "walletAddress": WALLET_U, "fee": 0,
                                               "netAmount": 10, **evil}, token=tok))
    assert r.status == 201 and r.json["status"] == "pending" and Decimal(str(r.json["fee"])) > 0, r
    # v1 client: under the calling broker, a trader, no money
    a, other = w.broker(credit=0), w.broker(credit=0)
    body = {"user_id": "ma-" + uuid.uuid4().hex[:6], **evil, "broker_id": other.uid}
    r = _probe(w.api.post(f"{V1}/clients", body, key=a.key))
    assert r.status in (201, 400, 403, 404), r
    if r.status == 201:
        from chalicelib.accounts import store
        acct = store.get(r.json["account_id"], consistent=True)
        assert acct.role == "trader" and acct.balance == 0 and acct.parent_broker_id == a.uid, acct.attribute_values
    # api key: scopes checked, no role
    r = _probe(w.api.post("/api/broker/api-keys", {"name": "k", "scopes": ["balance:read"], "role": "admin",
                                                   "brokerId": other.uid, "userId": other.uid}, token=a.token))
    assert r.status == 201, r
    assert w.api.get(f"{V1}/balance", key=r.json["key"]).status == 200  # the key works, as the caller's
    keys_of_other = w.api.get("/api/broker/api-keys", token=other.token).json
    assert all(k["id"] != r.json["id"] for k in (keys_of_other if isinstance(keys_of_other, list)
                                                  else keys_of_other.get("keys", [])))
    # admin-created broker: a broker, not an admin, and no money
    r = _probe(w.api.post("/api/admin/brokers", {"username": "mb_" + uuid.uuid4().hex[:8],
                                                 "password": "password-123", "tenantCode": "t" + uuid.uuid4().hex[:8],
                                                 "name": "MB", **evil}, token=w.admin))
    assert r.status in (201, 400), r
    if r.status == 201:
        from chalicelib.accounts import store
        acct = store.get(r.json["userId"], consistent=True)
        assert acct.role == "broker" and acct.balance == 0
    assert_invariants()


def test_fault_and_error_logs_carry_no_secret(client, inject, capfd):  # noqa: F811  # noqa: F811
    w = W(client)
    b = w.broker(credit=100)
    password = "Sup3r-secret-" + uuid.uuid4().hex[:8]
    name = "lg_" + uuid.uuid4().hex[:8]
    r = w.api.post("/api/auth/register", {"username": name, "password": password})
    token = r.json["token"]
    import logging

    from chalicelib.common.logging import logger
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage() + " " + repr(record.__dict__))
    keep = Keep()
    logger._logger.addHandler(keep)  # every line the app logs, whatever stream powertools writes to
    inject.arm(at=2, kind="throttle")
    r1 = w.api.post("/api/auth/login", {"username": name, "password": password})
    inject.disarm()
    inject.arm(at=1, kind="internal")
    r2 = w.api.get(f"{V1}/balance", key=b.key)
    inject.disarm()
    inject.arm(at=1, kind="read_timeout")
    r3 = w.api.get("/api/accounts/me", token=token)
    inject.disarm()
    assert {r1.status, r2.status, r3.status} <= {503, 504}, (r1, r2, r3)
    logger._logger.removeHandler(keep)
    out, err = capfd.readouterr()
    text = out + err + "\n".join(lines)
    assert "storage fault" in text
    for secret in (password, token, b.key, b.token):
        assert secret not in text


def test_zz_print_security_figures():
    print(f"\nSECURITY FIGURES: bola_probes={STATS['bola_probes']} "
          f"mass_assignment_probes={STATS['mass_assignment_probes']}")

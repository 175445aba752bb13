"""Accounts, wallet checksums, the error envelope and request validation (nothing written on a 4xx)."""
from decimal import Decimal

import boto3
import pytest

from tests.helpers import Api


@pytest.fixture
def api(client):
    return Api(client)


def scan_all(stack):
    ddb = boto3.client("dynamodb")
    return {name: sorted(map(str, ddb.scan(TableName=t)["Items"])) for name, t in stack.tables.items()}


def test_me_has_the_contract_fields(api):
    admin = api.admin_token()
    token, uid = api.register()
    api.credit(admin, uid, "1234.5678")
    me = api.me(token)
    assert set(me) >= {"userId", "username", "role", "currency", "balance", "availableBalance", "frozenMargin",
                       "positionMargin", "unrealizedPnl", "equity", "walletAddress"}
    assert me["currency"] == "DCT" and me["balance"] == Decimal("1234.5678") == me["availableBalance"] == me["equity"]
    assert me["frozenMargin"] == 0 and me["positionMargin"] == 0 and me["walletAddress"] is None


# EIP-55's own test vectors (https://eips.ethereum.org/EIPS/eip-55), written out: (sent, stored and answered).
# The all-lowercase and all-uppercase vectors are their own checksummed form; a lowercase copy of a mixed-case
# vector comes back checksummed.
@pytest.mark.parametrize("address,expected", [
    ("0x52908400098527886E0F7030069857D2E4169EE7", "0x52908400098527886E0F7030069857D2E4169EE7"),  # all caps
    ("0x8617E340B3D01FA5F11F306F4090FD50E238070D", "0x8617E340B3D01FA5F11F306F4090FD50E238070D"),  # all caps
    ("0xde709f2102306220921060314715629080e2fb77", "0xde709f2102306220921060314715629080e2fb77"),  # all lower
    ("0x27b1fdb04752bbc536007a920d24acb045561c26", "0x27b1fdb04752bbc536007a920d24acb045561c26"),  # all lower
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),  # mixed
    ("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"),  # mixed
    ("0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb", "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"),  # lower in
    ("0xD1220A0CF47C7B9BE7A2E6BA89F429762E7B9ADB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"),  # upper in
    ("0x52908400098527886E0F7030069857D2E4169Ee7", None),   # one letter's case wrong
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", None),   # mixed case, last letter's case wrong
    ("0x5290840009852788", None),
    ("52908400098527886E0F7030069857D2E4169EE7", None),
    ("0xZZ908400098527886E0F7030069857D2E4169EE7", None),
])
def test_wallet_checksum(api, address, expected):
    token, _ = api.register()
    r = api.put("/api/accounts/me/wallet", {"walletAddress": address}, token=token)
    if expected is not None:
        assert r.status == 200, r
        assert r.json["walletAddress"] == expected
        assert api.me(token)["walletAddress"] == expected
    else:
        assert r.status == 400 and r.json["code"] in ("INVALID_WALLET", "VALIDATION_ERROR")
        assert api.me(token)["walletAddress"] is None


BAD_BODIES = [
    ('{"amount": 5, "reference": "x"', "MALFORMED_JSON"),
    ('{"amount": NaN, "reference": "x"}', "MALFORMED_JSON"),
    ('{"amount": Infinity, "reference": "x"}', "MALFORMED_JSON"),
    ('{"amount": -5, "reference": "x"}', "VALIDATION_ERROR"),
    ('{"amount": 0, "reference": "x"}', "VALIDATION_ERROR"),
    ('{"amount": "five", "reference": "x"}', "VALIDATION_ERROR"),
    ('{"amount": true, "reference": "x"}', "VALIDATION_ERROR"),
    ('{"amount": [5], "reference": "x"}', "VALIDATION_ERROR"),
    ('{"amount": 5, "reference": 7}', "VALIDATION_ERROR"),
    ('{"amount": 1e999999, "reference": "x"}', "VALIDATION_ERROR"),
    ('[1, 2]', "VALIDATION_ERROR"),
    ('"str"', "VALIDATION_ERROR"),
]


@pytest.mark.parametrize("raw,code", BAD_BODIES)
def test_bad_bodies_are_400_and_write_nothing(api, moto_db, raw, code):
    admin = api.admin_token()
    _, uid = api.register()
    before = scan_all(moto_db)
    r = api.call("POST", f"/api/admin/accounts/{uid}/credit", raw=raw, token=admin)
    assert r.status == 400, r
    assert r.json["code"] == code and isinstance(r.json["error"], str) and r.json["error"]
    assert scan_all(moto_db) == before


def test_oversize_body_is_413(api, moto_db):
    admin = api.admin_token()
    _, uid = api.register()
    before = scan_all(moto_db)
    r = api.call("POST", f"/api/admin/accounts/{uid}/credit", raw='{"amount": 1, "reference": "' + "x" * 70000 + '"}',
                 token=admin)
    assert r.status == 413 and r.json["code"] == "PAYLOAD_TOO_LARGE"
    assert scan_all(moto_db) == before


def test_unknown_account_credit_is_404(api):
    admin = api.admin_token()
    r = api.post("/api/admin/accounts/00000000-0000-0000-0000-000000000000/credit", {"amount": 1}, token=admin)
    assert r.status == 404 and r.json["code"] == "NOT_FOUND"


def test_cors_is_open_and_allows_our_headers(api):
    token, _ = api.register()
    r = api.get("/api/accounts/me", token=token, headers={"Origin": "https://any.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    allowed = r.headers["Access-Control-Allow-Headers"].lower()
    assert "idempotency-key" in allowed and "x-api-key" in allowed and "authorization" in allowed


def test_exact_decimals_on_the_wire(api):
    admin = api.admin_token()
    token, uid = api.register()
    api.credit(admin, uid, "0.1")
    api.credit(admin, uid, "0.2")
    r = api.client.http.get("/api/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert b'"balance":0.3,' in r.body  # not 0.30000000000000004

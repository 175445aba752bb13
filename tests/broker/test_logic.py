"""Pure rules of the broker capability: scopes and ceilings, usernames, amounts, times, signatures, the secret box,
cursors, and the conflict retry of money transactions."""
from decimal import Decimal

import pytest

from chalicelib.broker import logic, scopes, store
from chalicelib.common import paging
from chalicelib.common import secretbox
from chalicelib.common.errors import ApiError
from chalicelib.ledger.store import TxConflict


def test_scope_ceiling_is_the_intersection_down_the_chain():
    all_ = frozenset(scopes.ALL_SCOPES)
    assert scopes.ceiling([]) == all_ and scopes.ceiling([None, None]) == all_
    assert scopes.ceiling([None, ["a:b", "clients:list"], ["clients:list", "balance:read"]]) == {"clients:list"}
    assert scopes.normalize(["clients:list", "balance:read", "clients:list"]) == ["balance:read", "clients:list"]
    with pytest.raises(ValueError):
        scopes.normalize(["clients:*"])
    assert len(scopes.ALL_SCOPES) == 17


def test_username_and_claim():
    uid = "bb6eb7e1-0000-4000-8000-000000000000"
    assert logic.client_username(uid, "usr_12345") == "sso_bb6eb7_usr_12345"
    assert logic.client_username(uid, "x" * 100).endswith("x" * 100)  # never truncated
    assert logic.client_username(uid, "u", 12) == "sso_bb6eb7e10000_u"
    assert logic.client_claim(uid, "u") == ("client", f"{uid}#u")


@pytest.mark.parametrize("amount,ok", [("1", True), ("0.000001", True), ("0.0000001", False), ("0", False),
                                       ("-1", False), ("1000000000000", True), ("1000000000000.1", False),
                                       ("1.500000000", True)])
def test_amounts(amount, ok):
    assert (logic.check_amount(Decimal(amount)) is None) == ok


def test_iso():
    assert logic.iso(0) == "1970-01-01T00:00:00.000Z"
    assert logic.iso(1700000000123) == "2023-11-14T22:13:20.123Z"
    assert logic.iso(None) is None


def test_signature_matches_the_guides_formula():
    import hashlib
    import hmac
    body, secret = '{"a":1,"b":"é"}'.encode(), "whsec_x"
    assert logic.sign(body, secret) == "sha256=" + hmac.new(b"whsec_x", body, hashlib.sha256).hexdigest()
    assert logic.verify(body, logic.sign(body, secret), secret)
    assert not logic.verify(body + b" ", logic.sign(body, secret), secret)


def test_secretbox_round_trip_and_binding(monkeypatch):
    monkeypatch.setenv("SECRETS_KEY", "k1")
    sealed = secretbox.seal("whsec_abc", aad="key_1")
    assert sealed.startswith("v1:") and "whsec_abc" not in sealed
    assert secretbox.seal("whsec_abc", aad="key_1") != sealed  # a fresh nonce each time
    assert secretbox.open_(sealed, aad="key_1") == "whsec_abc"
    with pytest.raises(ValueError):
        secretbox.open_(sealed, aad="key_2")
    monkeypatch.setenv("SECRETS_KEY", "k2")
    with pytest.raises(ValueError):
        secretbox.open_(sealed, aad="key_1")


def test_cursor_round_trip_and_binding():
    class Item:
        pk, sk, gsi1pk, gsi1sk = "ACCT#1", "A", "DOWN#b", "trader#1#1"
    attrs = ("pk", "sk", "gsi1pk", "gsi1sk")
    c = paging.encode(Item, attrs)
    assert paging.decode(c, attrs, "gsi1pk", "DOWN#b") == {a: {"S": getattr(Item, a)} for a in attrs}
    for bad, hv in ((c, "DOWN#other"), ("!!", "DOWN#b"), ("e30", "DOWN#b"), ("x" * 3000, "DOWN#b")):
        with pytest.raises(ApiError) as e:
            paging.decode(bad, attrs, "gsi1pk", hv)
        assert e.value.code == "INVALID_CURSOR"


def test_commit_retries_transaction_conflicts(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)

    class FlakyTx:
        def __init__(self, conflicts):
            self.conflicts, self.calls = conflicts, 0

        def commit(self):
            self.calls += 1
            if self.calls <= self.conflicts:
                raise TxConflict()
            return "txn"

    tx = FlakyTx(3)
    assert store.commit_with_retry(tx) == "txn" and tx.calls == 4
    tx = FlakyTx(100)
    with pytest.raises(ApiError) as e:
        store.commit_with_retry(tx, attempts=5)
    assert e.value.status == 503 and e.value.code == "TX_CONFLICT" and tx.calls == 5

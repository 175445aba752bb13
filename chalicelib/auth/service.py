"""Orchestration of session auth (auth/routes.py): self-registration."""
from chalicelib.accounts import store as accounts
from chalicelib.accounts.logic import check_username, user_view
from chalicelib.auth import store
from chalicelib.auth.logic import hash_password
from chalicelib.common.errors import bad_request, conflict


def _registering_broker(broker_uid: str | None):
    if not broker_uid:
        return None
    parent = accounts.get(broker_uid)
    if parent is None or parent.role not in ("broker", "admin"):
        raise bad_request("unknown brokerUid", "UNKNOWN_BROKER")
    return None if parent.role == "admin" else parent


def register(b) -> dict:
    check_username(b.username)
    parent = _registering_broker(b.brokerUid)
    acct = accounts.new_account(username=b.username, role="trader", password_hash=hash_password(b.password),
                                parent=parent, email=b.email)
    claims = []
    if parent is not None:  # a self-registered client's broker-side user_id is its platform userId
        acct.external_id = acct.user_id
        claims.append(("client", f"{parent.user_id}#{acct.user_id}"))
    try:
        accounts.create(acct, claims)
    except accounts.AlreadyExists:
        raise conflict("username already taken", "USERNAME_TAKEN") from None
    token = store.create_session(acct.user_id, acct.role)
    return {"token": token, "user": user_view(acct)}

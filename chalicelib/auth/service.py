"""Orchestration of session auth (auth/routes.py): self-registration, login (throttled: chalicelib/limits)."""
from chalicelib.accounts import store as accounts
from chalicelib.accounts.logic import check_username, user_view
from chalicelib.auth import store
from chalicelib.auth.logic import hash_password, verify_password
from chalicelib.common.errors import ApiError, bad_request, conflict
from chalicelib.limits import service as limits


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


def login(username: str, password: str, source_ip: str) -> dict:
    """Failed logins slow the next attempt per username and per source address (429 LOGIN_THROTTLED with
    Retry-After while a delay runs; the password is not even checked then); the right password resets the
    username's failures."""
    gate = limits.login_gate(username, source_ip)
    acct = accounts.by_username(username)
    if not verify_password(password, acct.password_hash if acct else None) or acct.role == "system":
        limits.login_failed(username, source_ip, gate)
        raise ApiError(401, "INVALID_CREDENTIALS", "invalid username or password")
    limits.login_succeeded(username, gate)
    return {"token": store.create_session(acct.user_id, acct.role), "user": user_view(acct)}

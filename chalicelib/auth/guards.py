"""Authentication guards for routes: Bearer session tokens (one read of the session item)."""
from chalicelib.auth import store
from chalicelib.common.errors import ApiError, session_invalid
from chalicelib.common.http import Principal


def bearer_token(raw_request) -> str | None:
    h = (raw_request.headers or {}).get("authorization") or ""
    if h[:7].lower() == "bearer ":
        tok = h[7:].strip()
        return tok or None
    return None


def session(*roles: str):
    """Guard: a valid session token; when roles are given, the account must hold one of them (else 403)."""
    def guard(raw_request) -> Principal:
        tok = bearer_token(raw_request)
        if not tok or len(tok) > 256:
            raise session_invalid()
        s = store.lookup(tok)
        if s is None:
            raise session_invalid()
        if roles and s.role not in roles:
            raise ApiError(403, "ROLE_REQUIRED", f"role {' or '.join(roles)} required")
        return Principal(user_id=s.user_id, role=s.role)
    return guard


any_user = session()
broker_or_admin = session("broker", "admin")
admin_only = session("admin")

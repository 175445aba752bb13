"""The first admin comes from configuration (ADMIN_USERNAME + ADMIN_PASSWORD or ADMIN_PASSWORD_HASH)."""
from chalicelib import settings
from chalicelib.accounts import store as accounts
from chalicelib.auth.logic import hash_password
from chalicelib.common.logging import logger


def ensure_first_admin() -> str | None:
    s = settings.get()
    username = s.admin_username
    pw_hash = s.admin_password_hash or (hash_password(s.admin_password) if s.admin_password else "")
    if not pw_hash:
        return None
    existing = accounts.by_username(username)
    if existing is not None:
        return existing.user_id
    acct = accounts.new_account(username=username, role="admin", password_hash=pw_hash)
    try:
        accounts.create(acct)
    except accounts.AlreadyExists:  # another cold start won the race
        return accounts.by_username(username).user_id
    logger.info("first admin created", extra={"userId": acct.user_id})
    return acct.user_id

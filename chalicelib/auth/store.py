"""Sessions: one item per token, keyed by the token's hash; revocation deletes it (effective at once)."""

from chalicelib.storage.db import get_or_none
from chalicelib.auth.logic import new_token, token_hash
from chalicelib.common.clock import now_ms
from chalicelib.storage.models import Session


def create_session(user_id: str, role: str) -> str:
    token = new_token()
    pk, sk = Session.key(token_hash(token))
    now = now_ms()
    Session(pk, sk, user_id=user_id, role=role, created_at=now, gsi1pk=f"SESSIONS#{user_id}",
            gsi1sk=f"{now:013d}").save(condition=Session.pk.does_not_exist())
    return token


def lookup(token: str) -> Session | None:
    return get_or_none(Session, *Session.key(token_hash(token)))


def revoke(token: str) -> None:
    Session(*Session.key(token_hash(token))).delete()


def revoke_all(user_id: str) -> int:
    n = 0
    for s in Session.by_user.query(f"SESSIONS#{user_id}"):
        Session(s.pk, s.sk).delete()
        n += 1
    return n


def set_role(user_id: str, role: str) -> None:
    """After a role change (upgrade-to-broker), live sessions carry the new role."""
    for s in Session.by_user.query(f"SESSIONS#{user_id}"):
        Session(s.pk, s.sk).update(actions=[Session.role.set(role)], condition=Session.pk.exists())

"""Accounts: creation claims the username (and any other unique key) in the same transaction as the account."""

from chalicelib.storage.db import get_or_none
from chalicelib.common.clock import new_id, now_ms
from chalicelib.ledger.store import ConditionFailed, Tx
from chalicelib.storage.models import Account, Unique


class AlreadyExists(Exception):
    def __init__(self, kind: str, value: str):
        super().__init__(f"{kind} {value} exists")
        self.kind, self.value = kind, value


def get(user_id: str, consistent: bool = False) -> Account | None:
    return get_or_none(Account, *Account.key(user_id), consistent_read=consistent)


def get_unique(kind: str, value: str) -> str | None:
    claim = get_or_none(Unique, *Unique.key(kind, value))
    return claim.owner_id if claim is not None else None


def by_username(username: str) -> Account | None:
    uid = get_unique("username", username.lower())
    return get(uid) if uid else None


def new_account(*, username: str, role: str, password_hash: str | None, parent: Account | None = None,
                user_id: str | None = None, **fields) -> Account:
    """An Account object (not yet saved) placed under `parent` in the broker hierarchy."""
    user_id = user_id or new_id()
    now = now_ms()
    acct = Account(*Account.key(user_id), user_id=user_id, username=username, role=role,
                   password_hash=password_hash, created_at=now, **fields)
    if parent is not None:
        acct.parent_broker_id = parent.user_id
        acct.brand_root_id = parent.brand_root_id or parent.user_id
        acct.ancestors = list(parent.ancestors or []) + [parent.user_id]
        acct.gsi1pk = f"DOWN#{parent.user_id}"
        acct.gsi1sk = f"{role}#{now:013d}#{user_id}"
    acct.gsi2pk = f"ROLE#{role}"
    acct.gsi2sk = f"{now:013d}#{user_id}"
    return acct


def claims_for(acct: Account, extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    return [("username", acct.username.lower())] + list(extra or [])


def create(acct: Account, extra_claims: list[tuple[str, str]] | None = None, tx: Tx | None = None) -> Account:
    """Save the account and its unique claims atomically; AlreadyExists names the claim that was taken."""
    own_tx = tx is None
    tx = tx or Tx()
    for kind, value in claims_for(acct, extra_claims):
        tx.put(Unique(*Unique.key(kind, value), kind=kind, value=value, owner_id=acct.user_id),
               condition=Unique.pk.does_not_exist(), tag=f"unique:{kind}:{value}")
    tx.put(acct, condition=Account.pk.does_not_exist(), tag="account")
    if own_tx:
        try:
            tx.commit()
        except ConditionFailed as e:
            if e.tag.startswith("unique:"):
                _, kind, value = e.tag.split(":", 2)
                raise AlreadyExists(kind, value) from None
            raise
    return acct


def set_wallet(user_id: str, address: str) -> Account:
    acct = Account(*Account.key(user_id))
    acct.update(actions=[Account.wallet_address.set(address)], condition=Account.pk.exists())
    return get(user_id, consistent=True)


def is_downstream(broker_id: str, acct: Account) -> bool:
    """True when `acct` sits anywhere below broker `broker_id` in the hierarchy."""
    return broker_id in (acct.ancestors or [])

"""Broker hierarchy storage: scope grants, transfer records, client identity and resolution.

  BrokerGrant  pk=BGRANT#<brokerId>  sk=G    scopes granted when the account became a (sub-)broker
  Transfer     pk=XFER#<id>          sk=T    gsi1pk=XFERB#<actingBrokerId>  gsi1sk=<createdAt>#<id>
                                             gsi2pk=XFERC#<clientAccountId> gsi2sk=<createdAt>#<id>

A client's identity is the pair (broker, user_id): the unique claim `client#<brokerId>#<user_id>` owned by the
account (created by v1 `POST /clients`, by the widget's register and by SSO). `create_client` is the one place
that makes such an account; SSO should call it too.
"""
import random
import time

from pynamodb.attributes import ListAttribute, UnicodeAttribute

from chalicelib.accounts import store as accounts
from chalicelib.broker import logic
from chalicelib.common import paging
from chalicelib.broker import scopes as scope_rules
from chalicelib.common.clock import new_id, now_ms
from chalicelib.common.errors import ApiError, conflict, not_found
from chalicelib.ledger.store import ConditionFailed, Tx, TxConflict
from chalicelib.storage.db import DecimalAttribute, Gsi1, Gsi2, IntAttribute, MainModel, get_or_none, register
from chalicelib.storage.models import Account, Unique

XFER_BROKER_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk")
XFER_CLIENT_KEYS = ("pk", "sk", "gsi2pk", "gsi2sk")
ACCT_DOWN_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk")
ACCT_ROLE_KEYS = ("pk", "sk", "gsi2pk", "gsi2sk")


@register
class BrokerGrant(MainModel):
    broker_id = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute)
    granted_by = UnicodeAttribute()
    created_at = IntAttribute()

    @staticmethod
    def key(broker_id: str) -> tuple[str, str]:
        return f"BGRANT#{broker_id}", "G"


@register
class Transfer(MainModel):
    transfer_id = UnicodeAttribute()
    type = UnicodeAttribute()                    # deposit | withdraw
    broker_id = UnicodeAttribute()               # the broker (or admin) that made it
    visible_to = ListAttribute(of=UnicodeAttribute, default=list)  # the acting broker and every broker above it
    client_account_id = UnicodeAttribute()
    client_user_id = UnicodeAttribute()          # the broker-side user_id of the client
    amount = DecimalAttribute()
    reference = UnicodeAttribute(null=True)
    status = UnicodeAttribute()                  # completed (deposit); pending... (withdraw: the withdrawal's)
    withdrawal_id = UnicodeAttribute(null=True)
    txn_id = UnicodeAttribute()
    created_at = IntAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_broker = Gsi1()
    by_client = Gsi2()

    @staticmethod
    def key(transfer_id: str) -> tuple[str, str]:
        return f"XFER#{transfer_id}", "T"


# --- scope ceilings ----------------------------------------------------------------------------------------

def grant_item(broker_id: str, granted_scopes, granted_by: str) -> BrokerGrant:
    return BrokerGrant(*BrokerGrant.key(broker_id), broker_id=broker_id,
                       scopes=scope_rules.normalize(granted_scopes), granted_by=granted_by, created_at=now_ms())


def scope_ceiling(acct: Account) -> frozenset[str]:
    """The scopes any key of `acct` may hold (scopes.py): everything for admins and top-level brokers; otherwise
    the intersection of the grants from the root down to the account itself."""
    if acct.role == "admin" or not acct.parent_broker_id:
        return frozenset(scope_rules.ALL_SCOPES)
    chain = list(acct.ancestors or []) + [acct.user_id]
    found = {}
    for g in BrokerGrant.batch_get([BrokerGrant.key(b) for b in chain]):
        found[g.broker_id] = list(g.scopes)
    return scope_rules.ceiling([found.get(b) for b in chain])


# --- clients -----------------------------------------------------------------------------------------------

def external_id(acct: Account) -> str:
    """The broker-side user_id of an account (its platform id when it has none)."""
    return acct.external_id or acct.user_id


def resolve_account(principal, client_id: str) -> Account:
    """The account `{id}` names for the caller, or 404 (also when it exists outside the caller's downstream).

    A broker names a client by its own user_id for it (claim client#<broker>#<id>) or, for anything deeper in
    its downstream (clients of its sub-brokers), by the platform userId. Admin keys use the platform userId."""
    if not client_id or len(client_id) > 128:
        raise not_found("client")
    acct = None
    if not principal.is_admin:  # strongly consistent: a client made a moment ago is found
        claim = get_or_none(Unique, *Unique.key(*logic.client_claim(principal.user_id, client_id)),
                            consistent_read=True)
        owner = claim.owner_id if claim is not None else None
        if owner:
            acct = accounts.get(owner, consistent=True)
    if acct is None:
        acct = accounts.get(client_id, consistent=True)
    if acct is None or acct.role in ("admin", "system"):
        raise not_found("client")
    if not principal.is_admin and not accounts.is_downstream(principal.user_id, acct):
        raise not_found("client")
    return acct


def create_client(broker: Account, user_id: str, *, email: str | None = None, password_hash: str | None = None,
                  wallet_address: str | None = None, tx_extra=None) -> Account:
    """Create the trader (broker, user_id) with username sso_{brokerShort}_{user_id}.

    409 CLIENT_EXISTS with the guide's message when the pair exists. `tx_extra(tx, acct)` may add items (e.g. the
    client.created event) to the same transaction. A username already taken by another identity (another broker
    with the same 6-character prefix, or a user_id differing only in case) gets a longer broker prefix."""
    claim = logic.client_claim(broker.user_id, user_id)
    for short_len in (6, 12, 32):
        username = logic.client_username(broker.user_id, user_id, short_len)
        acct = accounts.new_account(username=username, role="trader", password_hash=password_hash, parent=broker,
                                    email=email, wallet_address=wallet_address, external_id=user_id)
        tx = Tx()
        accounts.create(acct, [claim], tx=tx)
        if tx_extra is not None:
            tx_extra(tx, acct)
        try:
            commit_with_retry(tx)
            return acct
        except ConditionFailed as e:
            if e.tag == f"unique:{claim[0]}:{claim[1]}":
                raise client_exists(broker.user_id, user_id) from None
            if not e.tag.startswith("unique:username:"):
                raise
    raise conflict("username already taken", "USERNAME_TAKEN")


def client_exists(broker_id: str, user_id: str) -> ApiError:
    owner = accounts.get_unique(*logic.client_claim(broker_id, user_id))
    existing = accounts.get(owner) if owner else None
    return ApiError(409, "CLIENT_EXISTS", f"Client already exists: user_id={user_id}",
                    username=existing.username if existing else None)


def commit_with_retry(tx, attempts: int = 10):
    """Commit, retrying a TransactionConflict (another transaction on the same items) with jittered backoff.
    Items of a cancelled transaction were not written, so the same Tx can simply be sent again."""
    for n in range(attempts):
        try:
            return tx.commit()
        except TxConflict:
            if n == attempts - 1:
                raise ApiError(503, "TX_CONFLICT", "too many concurrent updates of the same account; retry") \
                    from None
            time.sleep(random.uniform(0, min(0.5, 0.02 * 2 ** n)))


def list_down(parent_id: str, role: str, limit: int, cursor: str | None):
    """Direct downstream accounts of `parent_id` with `role` (trader | broker), oldest first."""
    return paging.query_page(Account.by_parent, f"DOWN#{parent_id}", key_attrs=ACCT_DOWN_KEYS, hash_attr="gsi1pk",
                             limit=limit, cursor=cursor, newest_first=False,
                             range_key_condition=Account.gsi1sk.startswith(f"{role}#"))


def list_role(role: str, limit: int, cursor: str | None):
    """Every account with `role` (admin keys)."""
    return paging.query_page(Account.by_role, f"ROLE#{role}", key_attrs=ACCT_ROLE_KEYS, hash_attr="gsi2pk",
                             limit=limit, cursor=cursor, newest_first=False)


def list_visible(principal, role: str, limit: int, cursor: str | None):
    """The accounts with `role` a v1 caller lists: every one for an admin key, else the caller's direct downstream."""
    if principal.is_admin:
        return list_role(role, limit, cursor)
    return list_down(principal.user_id, role, limit, cursor)


# --- transfers ---------------------------------------------------------------------------------------------

def new_transfer(kind: str, acting: Account | None, acting_id: str, client: Account, amount, *, reference=None,
                 status: str, txn_id: str, withdrawal_id: str | None = None, now: int | None = None) -> Transfer:
    now = now or now_ms()
    tid = "tr_" + new_id().replace("-", "")
    visible = list((acting.ancestors or []) if acting is not None else []) + [acting_id]
    return Transfer(*Transfer.key(tid), transfer_id=tid, type=kind, broker_id=acting_id, visible_to=visible,
                    client_account_id=client.user_id, client_user_id=external_id(client), amount=amount,
                    reference=reference, status=status, withdrawal_id=withdrawal_id, txn_id=txn_id, created_at=now,
                    gsi1pk=f"XFERB#{acting_id}", gsi1sk=f"{now:013d}#{tid}",
                    gsi2pk=f"XFERC#{client.user_id}", gsi2sk=f"{now:013d}#{tid}")


def transfer_history(principal, client: Account | None, kind: str | None, limit: int, cursor: str | None):
    """Newest first. Without a client: the transfers the caller made. With one: that client's transfers made by
    the caller or a broker below it (admin: all of them)."""
    cond = None
    if kind:
        cond = Transfer.type == kind
    if client is None:
        return paging.query_page(Transfer.by_broker, f"XFERB#{principal.user_id}", key_attrs=XFER_BROKER_KEYS,
                                 hash_attr="gsi1pk", limit=limit, cursor=cursor, filter_condition=cond)
    if not principal.is_admin:
        vis = Transfer.visible_to.contains(principal.user_id)
        cond = vis if cond is None else cond & vis
    return paging.query_page(Transfer.by_client, f"XFERC#{client.user_id}", key_attrs=XFER_CLIENT_KEYS,
                             hash_attr="gsi2pk", limit=limit, cursor=cursor, filter_condition=cond)


def get_transfer(transfer_id: str) -> Transfer | None:
    return get_or_none(Transfer, *Transfer.key(transfer_id))

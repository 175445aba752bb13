"""Foundation items of the main table: accounts, uniqueness claims, sessions, ledger entries, idempotency records.

Key design (single table `main`, pk/sk, overloaded gsi1/gsi2):
  Account          pk=ACCT#<userId>              sk=A       gsi1pk=DOWN#<parentBrokerId> gsi1sk=<createdAt>#<userId>
  Unique claim     pk=UNIQ#<kind>#<value>        sk=U       (username, tenant code, broker client id, ...)
  Session          pk=SESS#<sha256(token)>       sk=S       gsi1pk=SESSIONS#<userId>
  Ledger entry     pk=LEDGER#<accountId>         sk=<ts>#<txnId>#<n>   gsi1pk=TXN#<txnId>
  Idempotency      pk=IDEM#<principal>#<key>     sk=I       ttl
Capability folders add their own item types (see their store.py).
"""
from pynamodb.attributes import ListAttribute, UnicodeAttribute

from chalicelib.storage.db import DecimalAttribute, Gsi1, Gsi2, IntAttribute, MainModel, register

@register
class Account(MainModel):
    user_id = UnicodeAttribute()
    username = UnicodeAttribute()
    role = UnicodeAttribute()  # admin | broker | trader | system
    password_hash = UnicodeAttribute(null=True)
    balance = DecimalAttribute(default=0)
    frozen_margin = DecimalAttribute(default=0)
    position_margin = DecimalAttribute(default=0)
    available_balance = DecimalAttribute(default=0)  # kept equal to balance - frozen - position (conditions need one attribute)
    wallet_address = UnicodeAttribute(null=True)
    parent_broker_id = UnicodeAttribute(null=True)  # the service broker (traders) or parent broker (sub-brokers)
    brand_root_id = UnicodeAttribute(null=True)
    ancestors = ListAttribute(of=UnicodeAttribute, default=list)  # broker ids from the root down to the parent
    tenant_code = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    external_id = UnicodeAttribute(null=True)  # the broker's own user_id for this client (v1 API, SSO)
    sso_secret = UnicodeAttribute(null=True)  # AES-GCM sealed (chalicelib.common.secretbox), aad "sso:<userId>"
    sso_public_key = UnicodeAttribute(null=True)
    sso_algorithm = UnicodeAttribute(null=True)
    created_at = IntAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_parent = Gsi1()
    by_role = Gsi2()

    @staticmethod
    def key(user_id: str) -> tuple[str, str]:
        return f"ACCT#{user_id}", "A"


@register
class Unique(MainModel):
    kind = UnicodeAttribute()
    value = UnicodeAttribute()
    owner_id = UnicodeAttribute()

    @staticmethod
    def key(kind: str, value: str) -> tuple[str, str]:
        return f"UNIQ#{kind}#{value}", "U"


@register
class Session(MainModel):
    user_id = UnicodeAttribute()
    role = UnicodeAttribute()
    created_at = IntAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_user = Gsi1()

    @staticmethod
    def key(token_hash: str) -> tuple[str, str]:
        return f"SESS#{token_hash}", "S"


@register
class LedgerEntry(MainModel):
    account_id = UnicodeAttribute()
    txn_id = UnicodeAttribute()
    amount = DecimalAttribute()  # signed: + credit, - debit; the entries of one txn sum to zero
    kind = UnicodeAttribute()  # credit, deposit, fill, fee, settlement, ...
    reference = UnicodeAttribute(null=True)
    created_at = IntAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_txn = Gsi1()


@register
class IdempotencyRecord(MainModel):
    request_hash = UnicodeAttribute()
    state = UnicodeAttribute()  # in_progress | done
    lease_until = IntAttribute(default=0)
    status_code = IntAttribute(null=True)
    body = UnicodeAttribute(null=True)
    ttl = IntAttribute()

    @staticmethod
    def key(principal: str, idem_key: str) -> tuple[str, str]:
        return f"IDEM#{principal}#{idem_key}", "I"

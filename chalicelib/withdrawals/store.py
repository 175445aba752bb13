"""Withdrawal requests (main table) and the money hold that backs them.

  Withdrawal  pk=WD#<id>  sk=W   gsi1pk=WDUSER#<userId>     gsi1sk=<createdAt>#<id>        (a user's withdrawals)
                                 gsi2pk=WDSTATUS#<status>   gsi2sk=<coolingEndsAt>#<id>    (queues by status)

Creating a request moves `amount` from the user to the system hold account `system:withdrawals` in the same
transaction as the request item (the amount leaves balance and availableBalance at once; the ledger stays
balanced). Later steps post from the hold: back to the user (cancel), to system:external + system:fees (platform
payout), or to the settling broker + system:fees (P2P OTC). Keep the gsi2 keys in step with `status` (set_status).
"""
from decimal import Decimal

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist

from chalicelib.common import paging
from chalicelib.common.clock import new_id, now_ms
from chalicelib.ledger import logic as ledger
from chalicelib.ledger.store import Tx
from chalicelib.storage.db import DecimalAttribute, Gsi1, Gsi2, IntAttribute, MainModel, register
from chalicelib.withdrawals import logic

HOLD_ACCOUNT = "system:withdrawals"
KEY_ATTRS_USER = ("pk", "sk", "gsi1pk", "gsi1sk")
KEY_ATTRS_STATUS = ("pk", "sk", "gsi2pk", "gsi2sk")


@register
class Withdrawal(MainModel):
    withdrawal_id = UnicodeAttribute()
    user_id = UnicodeAttribute()                 # the account the money leaves
    amount = DecimalAttribute()
    fee = DecimalAttribute()
    fee_rate = DecimalAttribute()
    net_amount = DecimalAttribute()              # amount - fee: what the user receives on chain
    wallet_address = UnicodeAttribute()
    status = UnicodeAttribute()
    cooling_ends_at = IntAttribute()
    created_at = IntAttribute()
    updated_at = IntAttribute()
    requested_by = UnicodeAttribute()            # the user itself, or the broker (v1 `withdraw`) that asked
    service_broker_id = UnicodeAttribute(null=True)
    ancestors = ListAttribute(of=UnicodeAttribute, default=list)  # the user's brokers, root down (for 404 checks)
    txn_id = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_user = Gsi1()
    by_status = Gsi2()

    @staticmethod
    def key(withdrawal_id: str) -> tuple[str, str]:
        return f"WD#{withdrawal_id}", "W"


def status_keys(status: str, cooling_ends_at: int, withdrawal_id: str) -> tuple[str, str]:
    return f"WDSTATUS#{status}", f"{cooling_ends_at:013d}#{withdrawal_id}"


def new_request(account, amount: Decimal, wallet_address: str, requested_by: str, now: int | None = None
                ) -> Withdrawal:
    """A pending request (not saved): fee = amount x fee rate (6 decimals), coolingEndsAt = now + cooling."""
    now = now or now_ms()
    rate = logic.fee_rate()
    fee = logic.fee_for(amount, rate)
    wid = new_id()
    cooling_ends = now + logic.cooling_ms()
    g2pk, g2sk = status_keys(logic.PENDING, cooling_ends, wid)
    return Withdrawal(*Withdrawal.key(wid), withdrawal_id=wid, user_id=account.user_id, amount=amount, fee=fee,
                      fee_rate=rate, net_amount=amount - fee, wallet_address=wallet_address, status=logic.PENDING,
                      cooling_ends_at=cooling_ends, created_at=now, updated_at=now, requested_by=requested_by,
                      service_broker_id=account.parent_broker_id, ancestors=list(account.ancestors or []),
                      gsi1pk=f"WDUSER#{account.user_id}", gsi1sk=f"{now:013d}#{wid}", gsi2pk=g2pk, gsi2sk=g2sk)


def stage(tx: Tx, w: Withdrawal) -> Tx:
    """Add the request and its hold (user -> system:withdrawals) to `tx`; InsufficientFunds on commit if short."""
    w.txn_id = tx.txn_id
    tx.post(ledger.transfer(w.user_id, HOLD_ACCOUNT, w.amount), kind="withdrawal_hold", reference=w.withdrawal_id)
    tx.put(w, condition=Withdrawal.pk.does_not_exist(), tag="withdrawal")
    return tx


def get(withdrawal_id: str, consistent: bool = False) -> Withdrawal | None:
    if not withdrawal_id or len(withdrawal_id) > 64:
        return None
    try:
        return Withdrawal.get(*Withdrawal.key(withdrawal_id), consistent_read=consistent)
    except DoesNotExist:
        return None


def for_user(user_id: str, limit: int = 50, cursor: str | None = None):
    """(withdrawals newest first, next_cursor)."""
    return paging.query_page(Withdrawal.by_user, f"WDUSER#{user_id}", key_attrs=KEY_ATTRS_USER, hash_attr="gsi1pk",
                             limit=limit, cursor=cursor)


def pool(now: int | None = None, limit: int = 50, cursor: str | None = None):
    """The OTC pool: pending requests still in their cooling period, the soonest to end first."""
    now = now or now_ms()
    return paging.query_page(Withdrawal.by_status, f"WDSTATUS#{logic.PENDING}", key_attrs=KEY_ATTRS_STATUS,
                             hash_attr="gsi2pk", limit=limit, cursor=cursor, newest_first=False,
                             range_key_condition=Withdrawal.gsi2sk > f"{now:013d}~")


def set_status_actions(w: Withdrawal, status: str, now: int | None = None) -> list:
    """Update actions for a status change that keep the gsi2 queue keys in step (for the life-cycle issue)."""
    now = now or now_ms()
    g2pk, g2sk = status_keys(status, w.cooling_ends_at, w.withdrawal_id)
    return [Withdrawal.status.set(status), Withdrawal.updated_at.set(now), Withdrawal.gsi2pk.set(g2pk),
            Withdrawal.gsi2sk.set(g2sk)]

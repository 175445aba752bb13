"""Withdrawal requests (main table) and the money hold that backs them.

  Withdrawal  pk=WD#<id>  sk=W   gsi1pk=WDUSER#<userId>     gsi1sk=<createdAt>#<id>        (a user's withdrawals)
                                 gsi2pk=WDSTATUS#<status>   gsi2sk=<coolingEndsAt>#<id>    (queues by status;
                                 broker_locked sorts by its lock's expiry instead: the 24 h release queue)
  Chain claim pk=WDCLAIM#<txHash> sk=C                       (one per settling transaction: R9, "settled nothing
                                                              before", is this item's does-not-exist condition)
  Chain cursor pk=CHAIN#<token>  sk=CURSOR                   (the poller's next block)

Creating a request moves `amount` from the user to the system hold account `system:withdrawals` in the same
transaction as the request item (the amount leaves balance and availableBalance at once; the ledger stays
balanced). Later steps post from the hold: back to the user (cancel), to system:external + system:fees (platform
payout), or to the settling broker + system:fees (P2P OTC). Keep the gsi2 keys in step with `status` (set_status).
"""
from decimal import Decimal

from pynamodb.attributes import ListAttribute, UnicodeAttribute

from chalicelib.common import clock, paging
from chalicelib.common.clock import new_id
from chalicelib.ledger import logic as ledger
from chalicelib.ledger.store import Tx
from chalicelib.storage import db
from chalicelib.storage.db import DecimalAttribute, Gsi1, Gsi2, IntAttribute, MainModel, register
from chalicelib.withdrawals import logic, states


def now_ms() -> int:
    return clock.now_ms()

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
    # the current lock (broker_locked) and, once settled, the lock that settled it
    lock_id = UnicodeAttribute(null=True)
    locked_by = UnicodeAttribute(null=True)
    locked_at = IntAttribute(null=True)
    lock_expires_at = IntAttribute(null=True)
    broker_wallet = UnicodeAttribute(null=True)  # the locker's bound wallet when it locked: the `from` to match
    settled_by = UnicodeAttribute(null=True)     # broker credited (broker_completed)
    tx_hash = UnicodeAttribute(null=True)        # the settling chain transaction, or the platform's payout
    settled_block = IntAttribute(null=True)
    settled_value = DecimalAttribute(null=True)  # USDC the log carried
    closed_at = IntAttribute(null=True)          # broker_completed / completed / cancelled
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
    return db.get_or_none(Withdrawal, *Withdrawal.key(withdrawal_id), consistent_read=consistent)


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


# --- life cycle: every transition is one conditional write, staged into a Tx with its ledger entries ---------

class ChainClaim(MainModel):
    tx_hash = UnicodeAttribute()
    withdrawal_id = UnicodeAttribute()
    log_index = IntAttribute()
    block_number = IntAttribute()
    created_at = IntAttribute()

    @staticmethod
    def key(tx_hash: str) -> tuple[str, str]:
        return f"WDCLAIM#{tx_hash.lower()}", "C"


register(ChainClaim)


class ChainCursor(MainModel):
    token = UnicodeAttribute()
    next_block = IntAttribute()
    updated_at = IntAttribute()

    @staticmethod
    def key(token: str) -> tuple[str, str]:
        return f"CHAIN#{token.lower()}", "CURSOR"


register(ChainCursor)

W = Withdrawal


def _ref(w: Withdrawal) -> Withdrawal:
    return Withdrawal(*Withdrawal.key(w.withdrawal_id))


def _status_actions(w: Withdrawal, status: str, now: int, sort_at: int | None = None) -> list:
    g2pk, g2sk = status_keys(status, w.cooling_ends_at if sort_at is None else sort_at, w.withdrawal_id)
    return [W.status.set(status), W.updated_at.set(now), W.gsi2pk.set(g2pk), W.gsi2sk.set(g2sk)]


def _apply(w: Withdrawal, status: str, now: int, **fields) -> Withdrawal:
    """The in-memory copy after a committed transition (what the caller answers with)."""
    w.status, w.updated_at = status, now
    for k, v in fields.items():
        setattr(w, k, v)
    return w


def stage_lock(tx: Tx, w: Withdrawal, broker_id: str, broker_wallet: str, timeout_hours: Decimal) -> dict:
    """pending -> broker_locked, only while pending AND in its cooling period (one conditional update: of many
    brokers racing, exactly one condition holds). Returns the fields to _apply after commit."""
    now = tx.now
    expires = states.lock_expiry(now, timeout_hours)
    fields = {"lock_id": new_id(), "locked_by": broker_id, "locked_at": now, "lock_expires_at": expires,
              "broker_wallet": broker_wallet}
    actions = _status_actions(w, states.BROKER_LOCKED, now, sort_at=expires)
    actions += [getattr(W, k).set(v) for k, v in fields.items()]
    tx.update(_ref(w), actions=actions,
              condition=(W.status == states.PENDING) & (W.cooling_ends_at > now), tag="withdrawal")
    return fields


def _unlock_actions(w: Withdrawal, now: int) -> list:
    return _status_actions(w, states.PENDING, now) + [
        W.lock_id.remove(), W.locked_by.remove(), W.locked_at.remove(), W.lock_expires_at.remove(),
        W.broker_wallet.remove()]


UNLOCKED_FIELDS = {"lock_id": None, "locked_by": None, "locked_at": None, "lock_expires_at": None,
                   "broker_wallet": None}


def stage_unlock(tx: Tx, w: Withdrawal, broker_id: str) -> dict:
    """broker_locked -> pending, by the locker only."""
    tx.update(_ref(w), actions=_unlock_actions(w, tx.now),
              condition=(W.status == states.BROKER_LOCKED) & (W.locked_by == broker_id), tag="withdrawal")
    return dict(UNLOCKED_FIELDS)


def stage_release(tx: Tx, w: Withdrawal) -> dict:
    """broker_locked -> pending when this very lock expired (24 h) without a matching payment."""
    tx.update(_ref(w), actions=_unlock_actions(w, tx.now),
              condition=(W.status == states.BROKER_LOCKED) & (W.lock_id == w.lock_id)
              & (W.lock_expires_at <= tx.now), tag="withdrawal")
    return dict(UNLOCKED_FIELDS)


def stage_cancel(tx: Tx, w: Withdrawal) -> dict:
    """pending -> cancelled by the user: the held amount goes back (escrow -> user) in the same transaction."""
    tx.update(_ref(w), actions=_status_actions(w, states.CANCELLED, tx.now) + [W.closed_at.set(tx.now)],
              condition=W.status == states.PENDING, tag="withdrawal")
    tx.post(ledger.transfer(HOLD_ACCOUNT, w.user_id, w.amount), kind="withdrawal_cancel", reference=w.withdrawal_id)
    return {"closed_at": tx.now}


def stage_cool(tx: Tx, w: Withdrawal) -> dict:
    """pending -> processing once its cooling period is over (the timer; never a read)."""
    tx.update(_ref(w), actions=_status_actions(w, states.PROCESSING, tx.now),
              condition=(W.status == states.PENDING) & (W.cooling_ends_at <= tx.now), tag="withdrawal")
    return {}


def _pay_out(tx: Tx, w: Withdrawal, to_account: str, kind: str) -> None:
    tx.post(ledger.transfer(HOLD_ACCOUNT, to_account, w.net_amount), kind=kind, reference=w.withdrawal_id)
    if w.fee > 0:
        tx.post(ledger.transfer(HOLD_ACCOUNT, ledger.SYSTEM_FEES, w.fee), kind="withdrawal_fee",
                reference=w.withdrawal_id)


def stage_complete(tx: Tx, w: Withdrawal, tx_hash: str) -> dict:
    """processing -> completed (the platform paid on chain): escrow -> system:external (net) + system:fees."""
    tx.update(_ref(w), actions=_status_actions(w, states.COMPLETED, tx.now)
              + [W.tx_hash.set(tx_hash), W.closed_at.set(tx.now)],
              condition=W.status == states.PROCESSING, tag="withdrawal")
    _pay_out(tx, w, ledger.SYSTEM_EXTERNAL, "withdrawal_payout")
    return {"tx_hash": tx_hash, "closed_at": tx.now}


def stage_settle(tx: Tx, w: Withdrawal, lock_id: str, broker_id: str, tx_hash: str, log_index: int,
                 block_number: int, value) -> dict:
    """broker_locked -> broker_completed on a matching chain payment: the claim item of the transaction (does not
    exist yet, or the whole transaction is cancelled: one chain transaction settles one withdrawal, ever), the
    withdrawal (still locked by this very lock), escrow -> broker (net) + system:fees (fee)."""
    tx_hash = tx_hash.lower()
    tx.put(ChainClaim(*ChainClaim.key(tx_hash), tx_hash=tx_hash, withdrawal_id=w.withdrawal_id,
                      log_index=log_index, block_number=block_number, created_at=tx.now),
           condition=ChainClaim.pk.does_not_exist(), tag="claim")
    tx.update(_ref(w), actions=_status_actions(w, states.BROKER_COMPLETED, tx.now)
              + [W.settled_by.set(broker_id), W.tx_hash.set(tx_hash), W.settled_block.set(block_number),
                 W.settled_value.set(value), W.closed_at.set(tx.now)],
              condition=(W.status == states.BROKER_LOCKED) & (W.lock_id == lock_id), tag="withdrawal")
    _pay_out(tx, w, broker_id, "withdrawal_otc_settlement")
    return {"settled_by": broker_id, "tx_hash": tx_hash, "settled_block": block_number, "settled_value": value,
            "closed_at": tx.now}


def apply(w: Withdrawal, status: str, now: int, fields: dict) -> Withdrawal:
    return _apply(w, status, now, **fields)


# --- queues of the timers and the poller -------------------------------------------------------------------

def due(status: str, now: int, limit: int = 100):
    """Withdrawals in `status` whose sort time passed: pending past cooling, broker_locked past its lock expiry."""
    return list(Withdrawal.by_status.query(f"WDSTATUS#{status}", Withdrawal.gsi2sk < f"{now:013d}~", limit=limit))


def by_status(status: str, limit: int = 50, cursor: str | None = None, newest_first: bool = False):
    return paging.query_page(Withdrawal.by_status, f"WDSTATUS#{status}", key_attrs=KEY_ATTRS_STATUS,
                             hash_attr="gsi2pk", limit=limit, cursor=cursor, newest_first=newest_first)


def all_locked(limit: int = 1000) -> list[Withdrawal]:
    return list(Withdrawal.by_status.query(f"WDSTATUS#{states.BROKER_LOCKED}", limit=limit))


def claim_of(tx_hash: str) -> ChainClaim | None:
    return db.get_or_none(ChainClaim, *ChainClaim.key(tx_hash), consistent_read=True)


def cursor(token: str) -> int | None:
    c = db.get_or_none(ChainCursor, *ChainCursor.key(token), consistent_read=True)
    return c.next_block if c is not None else None


def save_cursor(token: str, next_block: int) -> None:
    """Forward only (a slower, concurrent poll never moves it back)."""
    from pynamodb.exceptions import PutError
    item = ChainCursor(*ChainCursor.key(token), token=token.lower(), next_block=next_block, updated_at=now_ms())
    try:
        item.save(condition=ChainCursor.pk.does_not_exist() | (ChainCursor.next_block < next_block))
    except PutError as e:
        if not db.is_condition_failure(e):
            raise

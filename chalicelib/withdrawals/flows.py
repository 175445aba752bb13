"""Withdrawal life cycle orchestration: each step is one Tx (the conditional state write, its ledger entries, its
webhook events) committed at once, then the events dispatched. Adapters (HTTP routes, the timers, the chain
poller) call these; none of them imports web3.

Error strings of the contract (api-contract.md, "Error strings from the guide") are raised from here.
"""
from decimal import Decimal

from chalicelib.accounts import store as accounts
from chalicelib.broker import events
from chalicelib.broker import logic as broker_logic
from chalicelib.broker.store import commit_with_retry, external_id
from chalicelib.common import clock
from chalicelib.common.errors import ApiError, bad_request, insufficient_balance, not_found
from chalicelib.common.logging import logger
from chalicelib.ledger.store import ConditionFailed, InsufficientFunds, Tx
from chalicelib.withdrawals import logic, settings, states
from chalicelib.withdrawals import store as wd_store

ALREADY_LOCKED = ("此申請已被其他交易商搶定", "WITHDRAWAL_ALREADY_LOCKED", "Another broker locked this withdrawal first")
COOLING_ENDED = ("冷靜期已結束", "COOLING_PERIOD_ENDED",
                 "The cooling period is over: the platform handles this withdrawal")
WALLET_NOT_BOUND = ("交易商帳號尚未綁定錢包地址", "BROKER_WALLET_NOT_BOUND",
                    "Bind your broker wallet first (PUT /api/broker/wallet): it is the `from` address checked on chain")


def _err(status: int, spec) -> ApiError:
    error, code, message = spec
    return ApiError(status, code, error, message)


def already_locked() -> ApiError:
    return _err(409, ALREADY_LOCKED)


def cooling_ended() -> ApiError:
    return _err(400, COOLING_ENDED)


def wallet_not_bound() -> ApiError:
    return _err(400, WALLET_NOT_BOUND)


def not_locker() -> ApiError:
    return ApiError(409, "NOT_LOCK_HOLDER", "only the broker holding the lock can unlock it",
                    "The withdrawal is not locked by the calling broker")


def wrong_state(w, action: str) -> ApiError:
    return ApiError(409, "INVALID_WITHDRAWAL_STATE", f"withdrawal is {w.status}: cannot {action}",
                    withdrawalStatus=w.status)


# --- webhook events ----------------------------------------------------------------------------------------

def event_data(w, client=None) -> dict:
    """The full object (sent to the user's own brokers)."""
    iso = broker_logic.iso
    out = {"withdrawal_id": w.withdrawal_id, "status": w.status, "amount": w.amount, "fee": w.fee,
           "net_amount": w.net_amount, "currency": "DCT", "wallet_address": w.wallet_address,
           "user_id": external_id(client) if client is not None else None, "account_id": w.user_id,
           "broker_id": w.service_broker_id, "cooling_ends_at": iso(w.cooling_ends_at),
           "created_at": iso(w.created_at), "updated_at": iso(w.updated_at)}
    out.update(_lock_data(w))
    return out


def _lock_data(w) -> dict:
    iso = broker_logic.iso
    out = {}
    if w.locked_by:
        out.update({"locked_by": w.locked_by, "locked_at": iso(w.locked_at), "lock_expires_at": iso(w.lock_expires_at)})
    if w.settled_by:
        out["settled_by"] = w.settled_by
    if w.tx_hash:
        out["tx_hash"] = w.tx_hash
    return out


def locker_event_data(w, broker_id: str, reveal_wallet: bool) -> dict:
    """What a locking broker outside the user's hierarchy is told: no user identity; the wallet only while it
    holds (or has just settled) the lock."""
    iso = broker_logic.iso
    out = {"withdrawal_id": w.withdrawal_id, "status": w.status, "amount": w.amount, "fee": w.fee,
           "net_amount": w.net_amount, "currency": "DCT", "cooling_ends_at": iso(w.cooling_ends_at),
           "created_at": iso(w.created_at), "updated_at": iso(w.updated_at), "broker_id": broker_id}
    if reveal_wallet:
        out["wallet_address"] = w.wallet_address
    out.update(_lock_data(w))
    return out


def _prepare(name: str, w, client, locker: str | None = None, reveal_wallet: bool = False, now=None) -> list:
    """The events of one transition: the full object to the user's brokers (ancestors); to a locker outside them
    a separate event with the locker's view (each event's body is byte-identical for all its targets)."""
    out = [events.prepare(name, client, event_data(w, client), now=now)]
    if locker and locker not in (client.ancestors or []):
        out.append(events.prepare(name, _Only(locker), locker_event_data(w, locker, reveal_wallet), now=now))
    return [e for e in out if e]


class _Only:
    """Aims an event at one broker's own keys: prepare() sends to account.ancestors, recorded under user_id."""
    def __init__(self, broker_id):
        self.user_id = broker_id
        self.ancestors = [broker_id]


def _commit(tx: Tx, evs: list) -> None:
    for ev in evs:
        ev.stage(tx)
    commit_with_retry(tx)


def _dispatch(evs: list) -> None:
    for ev in evs:
        ev.dispatch()


def _client(w):
    acct = accounts.get(w.user_id)
    if acct is None:
        raise not_found("withdrawal")
    return acct


# --- user: request, list, cancel ---------------------------------------------------------------------------

def request(account, amount: Decimal, wallet: str, requested_by: str, tx: Tx | None = None, extra=None):
    """A new pending withdrawal; `amount` moves from the user to the escrow system account in the same
    transaction. `extra(tx, w)` may stage more items (the broker v1 transfer record). Returns the withdrawal."""
    tx = tx or Tx(now=clock.now_ms())
    w = wd_store.new_request(account, amount, wallet, requested_by=requested_by, now=tx.now)
    if w.net_amount <= 0:
        raise bad_request("amount does not cover the withdrawal fee", "INVALID_AMOUNT")
    wd_store.stage(tx, w)
    if extra is not None:
        extra(tx, w)
    evs = [ev for ev in [events.prepare("withdrawal.created", account, {
        **event_data(w, account), "requested_by": requested_by}, now=tx.now)] if ev]
    try:
        _commit(tx, evs)
    except InsufficientFunds:
        raise insufficient_balance() from None
    _dispatch(evs)
    return w


def own(user_id: str, withdrawal_id: str):
    w = wd_store.get(withdrawal_id, consistent=True)
    if w is None or w.user_id != user_id:
        raise not_found("withdrawal")
    return w


def cancel(user_id: str, withdrawal_id: str):
    w = own(user_id, withdrawal_id)
    if not states.user_can_cancel(w.status):
        raise wrong_state(w, "cancel")
    tx = Tx(now=clock.now_ms())
    fields = wd_store.stage_cancel(tx, w)
    try:
        commit_with_retry(tx)
    except ConditionFailed:
        w = wd_store.get(withdrawal_id, consistent=True)
        raise wrong_state(w, "cancel") from None
    return wd_store.apply(w, states.CANCELLED, tx.now, fields)


def _hours(h: Decimal) -> int | Decimal:
    """The lock answer's timeoutHours: 24, not 24.0 (a fraction stays exact)."""
    return int(h) if h == h.to_integral_value() else h


# --- broker: wallet, lock, unlock --------------------------------------------------------------------------

def lock(broker, withdrawal_id: str) -> dict:
    """First come, first served: one conditional update (status pending and still cooling)."""
    if not broker.wallet_address:
        raise wallet_not_bound()
    for _ in range(3):
        w = wd_store.get(withdrawal_id, consistent=True)
        if w is None:
            raise not_found("withdrawal")
        tx = Tx(now=clock.now_ms())
        refusal = states.check(states.LOCK, w, tx.now, broker.user_id)
        if refusal is not None:
            break
        fields = wd_store.stage_lock(tx, w, broker.user_id, broker.wallet_address, settings.lock_hours())
        w2 = wd_store.apply(w, states.BROKER_LOCKED, tx.now, dict(fields))
        client = _client(w)
        evs = _prepare("withdrawal.locked", w2, client, locker=broker.user_id, reveal_wallet=True, now=tx.now)
        try:
            _commit(tx, evs)
        except ConditionFailed:
            continue  # someone else changed it first: re-read and answer with the right error
        _dispatch(evs)
        return {"ok": True, "status": states.BROKER_LOCKED, "id": w2.withdrawal_id,
                "withdrawalId": w2.withdrawal_id, "userWalletAddress": w2.wallet_address,
                "amount": w2.net_amount, "currency": "USDC", "timeoutHours": _hours(settings.lock_hours()),
                "lockedAt": w2.locked_at, "lockExpiresAt": w2.lock_expires_at,
                "brokerWalletAddress": w2.broker_wallet}
    else:
        raise already_locked()
    if refusal.reason == "already_locked":
        raise already_locked()
    if refusal.reason == "cancelled":
        raise wrong_state(w, "lock")
    raise cooling_ended()


def unlock(broker_id: str, withdrawal_id: str) -> dict:
    w = wd_store.get(withdrawal_id, consistent=True)
    if w is None:
        raise not_found("withdrawal")
    if w.status != states.BROKER_LOCKED or w.locked_by != broker_id:
        raise not_locker() if w.status == states.BROKER_LOCKED else wrong_state(w, "unlock")
    tx = Tx(now=clock.now_ms())
    fields = wd_store.stage_unlock(tx, w, broker_id)
    w2 = wd_store.apply(w, states.PENDING, tx.now, fields)
    evs = _prepare("withdrawal.unlocked", w2, _client(w), locker=broker_id, now=tx.now)
    try:
        _commit(tx, evs)
    except ConditionFailed:
        w = wd_store.get(withdrawal_id, consistent=True)
        raise (not_locker() if w.status == states.BROKER_LOCKED else wrong_state(w, "unlock")) from None
    _dispatch(evs)
    return {"ok": True, "status": states.PENDING, "id": w2.withdrawal_id, "withdrawalId": w2.withdrawal_id,
            "coolingEndsAt": w2.cooling_ends_at}


# --- platform: payout queue ----------------------------------------------------------------------------------

def complete(withdrawal_id: str, tx_hash: str):
    w = wd_store.get(withdrawal_id, consistent=True)
    if w is None:
        raise not_found("withdrawal")
    if w.status != states.PROCESSING:
        raise wrong_state(w, "complete")
    tx = Tx(now=clock.now_ms())
    fields = wd_store.stage_complete(tx, w, tx_hash)
    w2 = wd_store.apply(w, states.COMPLETED, tx.now, fields)
    evs = _prepare("withdrawal.completed", w2, _client(w), now=tx.now)
    try:
        _commit(tx, evs)
    except ConditionFailed:
        raise wrong_state(wd_store.get(withdrawal_id, consistent=True), "complete") from None
    _dispatch(evs)
    return w2


# --- timers (schedule): cooling -> processing, 24 h lock release ---------------------------------------------

def _transition(w, transition: str, stage, now: int, locker: str | None = None) -> bool:
    tx = Tx(now=now)
    fields = stage(tx, w)
    w2 = wd_store.apply(w, states.target(transition), now, fields)
    client = accounts.get(w.user_id)
    evs = _prepare(states.event(transition), w2, client, locker=locker, now=now) if client is not None else []
    try:
        _commit(tx, evs)
    except ConditionFailed:
        return False  # changed meanwhile (locked, cancelled, settled): nothing to do
    _dispatch(evs)
    return True


def run_timers(now: int | None = None, limit: int = 100) -> dict:
    """Release expired locks (back to pending), then move pending requests past their cooling period to
    processing. Idempotent; run by a schedule (never by a read)."""
    now = now or clock.now_ms()
    released = cooled = 0
    for w in wd_store.due(states.BROKER_LOCKED, now, limit):
        if states.check(states.RELEASE, w, now) is None and \
                _transition(w, states.RELEASE, wd_store.stage_release, now, locker=w.locked_by):
            released += 1
    for w in wd_store.due(states.PENDING, now, limit):
        if states.check(states.COOL, w, now) is None and _transition(w, states.COOL, wd_store.stage_cool, now):
            cooled += 1
    if released or cooled:
        logger.info("withdrawal timers", extra={"released": released, "processing": cooled})
    return {"released": released, "processing": cooled}


# --- chain settlement (called by the poller with a verified match) --------------------------------------------

def settle(lock_facts, log) -> bool:
    """Settle one verified match. False when it no longer applies (the lock changed, or the transaction already
    settled a withdrawal: the claim item exists)."""
    w = wd_store.get(lock_facts.withdrawal_id, consistent=True)
    if w is None or w.status != states.BROKER_LOCKED or w.lock_id != lock_facts.lock_id:
        return False
    tx = Tx(now=clock.now_ms())
    fields = wd_store.stage_settle(tx, w, w.lock_id, w.locked_by, log.tx_hash, log.log_index, log.block_number,
                                   log.amount)
    w2 = wd_store.apply(w, states.BROKER_COMPLETED, tx.now, fields)
    evs = _prepare("withdrawal.broker_completed", w2, _client(w), locker=w.locked_by, reveal_wallet=True,
                   now=tx.now)
    try:
        _commit(tx, evs)
    except ConditionFailed as e:
        logger.info("settlement skipped", extra={"withdrawalId": w.withdrawal_id, "txHash": log.tx_hash,
                                                 "failed": e.tag})
        return False
    _dispatch(evs)
    logger.info("withdrawal settled on chain", extra={"withdrawalId": w.withdrawal_id, "txHash": log.tx_hash,
                                                      "broker": w.locked_by})
    return True

"""The one way to change money: a Tx collects balance/margin deltas, ledger postings and any other item writes,
and commits them as ONE DynamoDB transaction (TransactWriteItems) — all or nothing.

Per account the deltas are coalesced into a single UpdateItem (DynamoDB forbids two operations on one item in a
transaction) whose condition keeps available_balance >= 0 (a debit beyond it cancels the whole transaction:
InsufficientFunds) and frozen/position margin >= 0. Ledger entries are puts of new items, one per posting.

    tx = Tx()
    tx.post(ledger.transfer(SYSTEM_EXTERNAL, user_id, amount), kind="credit", reference="...")
    tx.freeze(user_id, margin)                  # balance unchanged, available down
    tx.put(SomeModel(...), condition=SomeModel.pk.does_not_exist())
    tx.commit()                                 # raises InsufficientFunds / ConditionFailed / TxConflict
"""
import uuid
from collections import defaultdict
from contextvars import ContextVar
from decimal import Decimal

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.common import idempotency
from chalicelib.common.clock import now_ms
from chalicelib.common.errors import ApiError
from chalicelib.ledger.logic import Posting, check_balanced, is_system
from chalicelib.storage.db import connection
from chalicelib.storage.models import Account, LedgerEntry

ZERO = Decimal(0)


class InsufficientFunds(Exception):
    """An account's condition failed (the first such account); `failed`: the tags of every item whose condition
    failed in the same transaction (a stale plan often fails an order and its owner's account together)."""
    def __init__(self, account_id: str, failed: tuple = ()):
        super().__init__(account_id)
        self.account_id = account_id
        self.failed = tuple(failed) or (f"account:{account_id}",)


class ConditionFailed(Exception):
    """A condition on a non-account item failed (e.g. order no longer pending, id already used); `failed` as
    above."""
    def __init__(self, tag: str, reasons=None, failed: tuple = ()):
        super().__init__(tag)
        self.tag = tag
        self.reasons = reasons
        self.failed = tuple(failed) or (tag,)


class TxConflict(Exception):
    """Another transaction touched the same items at the same time; safe to retry."""


# A rider: one more item another layer adds to the next transaction committed in this context (the request's
# rate-limit counter, set by chalicelib/limits/service.py), so no caller of Tx needs to know about it. A rider has
# `due` (still to be written), `add(tw)`, `committed()`, `skip()` (ride no more: a conflict on its item) and
# `refused()` (the exception to raise when its condition failed: nothing else was written).
RIDER: ContextVar = ContextVar("tx_rider", default=None)
RIDER_TAG = "rider"
MAX_ITEMS = 100  # DynamoDB's limit of items per transaction


def _rider_reason(rider, tags, reasons):
    if rider is None or not tags or tags[-1] != RIDER_TAG or len(reasons) < len(tags):
        return None
    mine = reasons[len(tags) - 1]
    others = [r.code for r in reasons[:len(tags) - 1] if r is not None and r.code not in (None, "None")]
    return (mine.code if mine is not None else None), others


class Tx:
    def __init__(self, txn_id: str | None = None, now: int | None = None):
        self.txn_id = txn_id or str(uuid.uuid4())
        self.now = now or now_ms()
        self._deltas: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        self._postings: list[tuple[Posting, str, str | None]] = []
        self._ops: list[tuple[str, tuple, dict, str]] = []  # (kind, args, kwargs, tag)
        self._account_conditions: dict[str, object] = {}  # extra conditions on account items (require())

    # --- money -------------------------------------------------------------------------------------------
    def post(self, postings: list[Posting], kind: str, reference: str | None = None) -> "Tx":
        check_balanced(postings)
        for p in postings:
            self._postings.append((p, kind, reference))
            if not is_system(p.account_id):
                self._deltas[p.account_id]["balance"] += p.amount
                self._deltas[p.account_id]["available_balance"] += p.amount
        return self

    def freeze(self, account_id: str, amount: Decimal) -> "Tx":
        """Hold margin for an order: available down, frozen up."""
        d = self._deltas[account_id]
        d["frozen_margin"] += amount
        d["available_balance"] -= amount
        return self

    def release(self, account_id: str, amount: Decimal) -> "Tx":
        return self.freeze(account_id, -amount)

    def hold_position_margin(self, account_id: str, amount: Decimal) -> "Tx":
        d = self._deltas[account_id]
        d["position_margin"] += amount
        d["available_balance"] -= amount
        return self

    def touch(self, account_id: str) -> "Tx":
        """Make the account part of the transaction (its existence and available >= 0 are checked)."""
        self._deltas[account_id]
        return self

    def require(self, account_id: str, condition) -> "Tx":
        """An extra condition on the account's item, ANDed to its update (e.g. no market-maker freeze); when it
        fails the transaction fails as InsufficientFunds(account_id): the caller tells the two apart."""
        self.touch(account_id)
        prev = self._account_conditions.get(account_id)
        self._account_conditions[account_id] = condition if prev is None else prev & condition
        return self

    # --- other items -------------------------------------------------------------------------------------
    def put(self, model, condition=None, tag: str = "") -> "Tx":
        self._ops.append(("put", (model,), {"condition": condition}, tag or type(model).__name__))
        return self

    def update(self, model, actions, condition=None, tag: str = "") -> "Tx":
        self._ops.append(("update", (model,), {"actions": actions, "condition": condition},
                          tag or type(model).__name__))
        return self

    def delete(self, model, condition=None, tag: str = "") -> "Tx":
        self._ops.append(("delete", (model,), {"condition": condition}, tag or type(model).__name__))
        return self

    def check(self, model_cls, hash_key, range_key, condition, tag: str = "") -> "Tx":
        self._ops.append(("condition_check", (model_cls, hash_key, range_key), {"condition": condition},
                          tag or model_cls.__name__))
        return self

    @property
    def size(self) -> int:
        return len(self._ops) + len(self._postings) + len(self._deltas)

    # --- commit ------------------------------------------------------------------------------------------
    def _entries(self):
        for n, (p, kind, ref) in enumerate(self._postings):
            yield LedgerEntry(f"LEDGER#{p.account_id}", f"{self.now:013d}#{self.txn_id}#{n:03d}",
                              account_id=p.account_id, txn_id=self.txn_id, amount=p.amount, kind=kind,
                              reference=ref, created_at=self.now, gsi1pk=f"TXN#{self.txn_id}", gsi1sk=f"{n:03d}")

    def commit(self, client_request_token: str | None = None) -> str:
        # pynamodb sends condition checks, deletes, puts, updates in that order (pynamodb issue 1284):
        # keep the same order here so cancellation reasons map back to our tags.
        order: dict[str, list[str]] = {"condition_check": [], "delete": [], "put": [], "update": []}
        with_tokens = {"client_request_token": client_request_token} if client_request_token else {}
        claim = idempotency.held_claim()  # the request's Idempotency-Key moves with the money
        rider = RIDER.get()  # the request's rate-limit counter rides along when there is room
        rider = rider if rider is not None and rider.due and self.size + (claim is not None) < MAX_ITEMS else None
        try:
            with TransactWrite(connection=connection(), **with_tokens) as tw:
                methods = {"put": tw.save, "update": tw.update, "delete": tw.delete,
                           "condition_check": tw.condition_check}
                for kind, args, kwargs, tag in self._ops:
                    methods[kind](*args, **{k: v for k, v in kwargs.items() if v is not None or k == "actions"})
                    order[kind].append(tag)
                if claim is not None:
                    actions, cond = idempotency.commit_actions()
                    tw.update(claim, actions=actions, condition=cond)
                    order["update"].append("idempotency")
                for entry in self._entries():
                    tw.save(entry, condition=LedgerEntry.pk.does_not_exist())
                    order["put"].append("ledger")
                for account_id, d in self._deltas.items():
                    pk, sk = Account.key(account_id)
                    actions, cond = [], Account.pk.exists()
                    if account_id in self._account_conditions:
                        cond &= self._account_conditions[account_id]
                    for field, delta in d.items():
                        if delta != 0:
                            actions.append(getattr(Account, field).add(delta))
                            if delta < 0:
                                cond &= getattr(Account, field) >= -delta
                    if not actions:  # touch only: checked, not changed
                        tw.condition_check(Account, pk, sk, condition=cond & (Account.available_balance >= 0))
                        order["condition_check"].append(f"account:{account_id}")
                    else:
                        tw.update(Account(pk, sk), actions=actions, condition=cond)
                        order["update"].append(f"account:{account_id}")
                if rider is not None:  # last: the last of the updates, the last item sent
                    rider.add(tw)
                    order["update"].append(RIDER_TAG)
        except TransactWriteError as e:
            tags = order["condition_check"] + order["delete"] + order["put"] + order["update"]
            reasons = e.cancellation_reasons or []
            mine = _rider_reason(rider, tags, reasons)
            if mine and mine[0] == "ConditionalCheckFailed":
                raise rider.refused() from e
            if mine and mine[0] == "TransactionConflict" and not mine[1]:  # only the counter clashed
                rider.skip()
                return self.commit(client_request_token)
            failed = [tags[i] for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"
                      and i < len(tags)]
            if any(r is not None and r.code == "TransactionConflict" for r in reasons) or \
                    "TransactionConflict" in str(e.cause_response_code or ""):
                raise TxConflict() from e
            if "idempotency" in failed:
                raise ApiError(409, "IDEMPOTENCY_IN_PROGRESS", "a request with this Idempotency-Key is in progress") \
                    from e
            for tag in failed:
                if tag.startswith("account:"):
                    raise InsufficientFunds(tag.split(":", 1)[1], failed) from e
            if failed:
                raise ConditionFailed(failed[0], reasons, failed) from e
            raise
        if claim is not None:
            idempotency.claim_committed()
        if rider is not None:
            rider.committed()
        return self.txn_id

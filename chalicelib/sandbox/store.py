"""Sandbox items of the main table, and the archive moves of a reset.

  Epoch     pk=SANDBOX#<accountId>  sk=E   epoch (resets so far), reset_at (ms of the latest)
  Archived  an order   ORDER#<id>/O              -> pk=ARCH#<epoch>#ORDER#<id>,  gsi2pk=ARCH#<epoch>#ORDERS#<acct>
            a fill     FILLS#<acct>/<sk>          -> pk=ARCH#<epoch>#FILLS#<acct> (same sk)
            a pair     PAIR#<acct>#<pairId>/P     -> pk=ARCH#<epoch>#PAIR#<acct>#<pairId>, gsi2pk=ARCH#<epoch>#PAIRS#<acct>
            (the pair item is the pairId claim: after a reset the account may use its old pairIds again)

Archived items keep every attribute; the `ARCH#` prefix has no stream publisher (realtime/private.py dispatches
on the pk prefix) and no history query reads it, so GET /api/orders, /api/trades and /api/liquidity/pairs show
only the new epoch. A move is a put of the copy, then the delete of the original: a reset interrupted half way
and run again copies the same items again (an overwrite) and finishes the deletes.
"""
from pynamodb.attributes import UnicodeAttribute

from chalicelib.storage.db import IntAttribute, MainModel, get_or_none, register
from chalicelib.trading.models import FillItem, OrderItem, PairItem
from chalicelib.trading.orders import PENDING


@register
class SandboxEpoch(MainModel):
    account_id = UnicodeAttribute()
    epoch = IntAttribute(default=0)
    reset_at = IntAttribute(null=True)

    @staticmethod
    def key(account_id: str) -> tuple[str, str]:
        return f"SANDBOX#{account_id}", "E"


def epoch_of(account_id: str) -> int:
    item = get_or_none(SandboxEpoch, *SandboxEpoch.key(account_id), consistent_read=True)
    return item.epoch if item is not None else 0


def next_epoch(account_id: str, now: int) -> int:
    """Claim the next epoch (atomic ADD): two resets never archive under the same epoch."""
    item = SandboxEpoch(*SandboxEpoch.key(account_id))
    item.update(actions=[SandboxEpoch.epoch.add(1), SandboxEpoch.account_id.set(account_id),
                         SandboxEpoch.reset_at.set(now)])
    return item.epoch


def _prefix(epoch: int) -> str:
    return f"ARCH#{epoch}#"


def archive_orders(account_id: str, epoch: int) -> int:
    """Every order of the account that is no longer pending, moved under the epoch."""
    n = 0
    for listed in OrderItem.by_account.query(f"ORDERS#{account_id}"):
        item = get_or_none(OrderItem, listed.pk, listed.sk, consistent_read=True)
        if item is None or item.status == PENDING:
            continue
        values = dict(item.attribute_values)
        values.update(pk=_prefix(epoch) + item.pk, gsi2pk=_prefix(epoch) + item.gsi2pk, gsi1pk=None, gsi1sk=None)
        OrderItem(**values).save()
        item.delete()  # a terminal order never becomes pending again
        n += 1
    return n


def archive_fills(account_id: str, epoch: int) -> int:
    n = 0
    for item in FillItem.query(f"FILLS#{account_id}", consistent_read=True):
        values = dict(item.attribute_values)
        values["pk"] = _prefix(epoch) + item.pk
        FillItem(**values).save()
        item.delete()
        n += 1
    return n


def archive_pairs(account_id: str, epoch: int) -> int:
    """Every pair no longer pending, moved under the epoch with its orders (its pairId may be used again)."""
    n = 0
    for listed in PairItem.by_account.query(f"PAIRS#{account_id}"):
        item = get_or_none(PairItem, listed.pk, listed.sk, consistent_read=True)
        if item is None or item.status == PENDING:
            continue
        values = dict(item.attribute_values)
        values.update(pk=_prefix(epoch) + item.pk, gsi2pk=_prefix(epoch) + item.gsi2pk)
        PairItem(**values).save()
        item.delete()  # an ended pair never becomes pending again
        n += 1
    return n

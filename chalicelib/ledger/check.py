"""Verify the ledger invariants on a live table (make ledger-check; tests call it after every scenario)."""
from collections import defaultdict
from decimal import Decimal

from chalicelib.ledger.logic import is_system
from chalicelib.storage.models import Account, LedgerEntry


def verify() -> dict:
    per_account: dict[str, Decimal] = defaultdict(Decimal)
    per_txn: dict[str, Decimal] = defaultdict(Decimal)
    entries = 0
    for e in LedgerEntry.scan(LedgerEntry.pk.startswith("LEDGER#")):
        per_account[e.account_id] += e.amount
        per_txn[e.txn_id] += e.amount
        entries += 1
    problems = []
    for txn, total in per_txn.items():
        if total != 0:
            problems.append(f"transaction {txn} sums to {total}")
    accounts = 0
    for a in Account.scan(Account.pk.startswith("ACCT#")):
        accounts += 1
        if is_system(a.user_id):
            continue
        if a.balance != per_account.get(a.user_id, Decimal(0)):
            problems.append(f"account {a.user_id}: balance {a.balance} != ledger {per_account.get(a.user_id, 0)}")
        if a.available_balance != a.balance - a.frozen_margin - a.position_margin:
            problems.append(f"account {a.user_id}: available {a.available_balance} != balance - frozen - position")
        for field in ("available_balance", "frozen_margin", "position_margin"):
            if getattr(a, field) < 0:
                problems.append(f"account {a.user_id}: {field} is negative")
    total = sum(per_account.values(), Decimal(0))
    if total != 0:
        problems.append(f"sum over all accounts is {total}, not 0")
    system = {k: v for k, v in per_account.items() if is_system(k)}
    return {"ok": not problems, "sum": total, "entries": entries, "accounts": accounts,
            "transactions": len(per_txn), "system": system, "problems": problems[:50]}

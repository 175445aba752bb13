"""Double-entry rules (pure). Every transaction is a set of postings whose amounts sum to exactly zero.

Invariants (checked by chalicelib.ledger.check and the tests):
  I1  the postings of one transaction sum to zero, so the sum over every account's ledger is always zero;
  I2  a user account's `balance` equals the sum of its ledger entries;
  I3  available_balance = balance - frozen_margin - position_margin, and it never goes below zero by a debit.
System accounts (the external world, the platform's fees and house accounts) keep no balance item: their balance
is the sum of their entries. That keeps them from being a hot item that every transaction would conflict on.
"""
from dataclasses import dataclass
from decimal import Decimal

SYSTEM_EXTERNAL = "system:external"  # the world outside the platform: admin credits and chain settlements
SYSTEM_FEES = "system:fees"          # fees the platform earns
SYSTEM_HOUSE = "system:house"        # the platform as counterparty (fills at the reference price, liquidations)
SYSTEM_ACCOUNTS = (SYSTEM_EXTERNAL, SYSTEM_FEES, SYSTEM_HOUSE)


def is_system(account_id: str) -> bool:
    return account_id.startswith("system:")


@dataclass(frozen=True)
class Posting:
    account_id: str
    amount: Decimal  # + credit to the account, - debit


class UnbalancedTransaction(ValueError):
    pass


def transfer(debit_account: str, credit_account: str, amount: Decimal) -> list[Posting]:
    """Move `amount` from debit_account to credit_account."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValueError("transfer amount must be a positive finite Decimal")
    if debit_account == credit_account:
        raise ValueError("cannot transfer to the same account")
    return [Posting(debit_account, -amount), Posting(credit_account, amount)]


def check_balanced(postings: list[Posting]) -> None:
    total = sum((p.amount for p in postings), Decimal(0))
    if total != 0:
        raise UnbalancedTransaction(f"postings sum to {total}, not 0")

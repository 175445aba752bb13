"""Broker API v1 scopes and the sub-broker scope rule (pure).

Rule (docs/broker-api.md, "Scopes"): every broker has a scope *ceiling*; an API key of that broker may hold only
scopes inside it.
  - a top-level broker (no parent broker) and the platform admin: every scope;
  - any other broker: the scopes *granted* to it when it became a broker (the scopes of the API key that created
    it with `POST /sub-brokers` or upgraded it with `upgrade-to-broker`; every scope when an admin did it),
    intersected with the ceiling of each broker above it.
So a sub-broker's key can never hold a scope its parent's keys could not: ceiling(child) is a subset of
ceiling(parent), because the chain intersection contains ceiling(parent) by construction.
"""
SUB_BROKERS_CREATE = "sub-brokers:create"
SUB_BROKERS_LIST = "sub-brokers:list"
SUB_BROKERS_UPGRADE = "sub-brokers:upgrade"
BALANCE_READ = "balance:read"
CLIENTS_LIST = "clients:list"
CLIENTS_CREATE = "clients:create"
CLIENTS_BALANCE = "clients:balance"
CLIENTS_ORDERS = "clients:orders"
CLIENTS_POSITIONS = "clients:positions"
CLIENTS_WITHDRAWALS = "clients:withdrawals"
TRANSFER_DEPOSIT = "transfer:deposit"
TRANSFER_WITHDRAW = "transfer:withdraw"
TRANSFER_HISTORY = "transfer:history"
WITHDRAWAL_READ = "withdrawal:read"
WITHDRAWAL_LIST = "withdrawal:list"
WITHDRAWAL_LOCK = "withdrawal:lock"
WITHDRAWAL_UNLOCK = "withdrawal:unlock"

ALL_SCOPES: tuple[str, ...] = (
    SUB_BROKERS_CREATE, SUB_BROKERS_LIST, SUB_BROKERS_UPGRADE, BALANCE_READ,
    CLIENTS_LIST, CLIENTS_CREATE, CLIENTS_BALANCE, CLIENTS_ORDERS, CLIENTS_POSITIONS, CLIENTS_WITHDRAWALS,
    TRANSFER_DEPOSIT, TRANSFER_WITHDRAW, TRANSFER_HISTORY,
    WITHDRAWAL_READ, WITHDRAWAL_LIST, WITHDRAWAL_LOCK, WITHDRAWAL_UNLOCK,
)
_ORDER = {s: i for i, s in enumerate(ALL_SCOPES)}


def normalize(scopes) -> list[str]:
    """Deduplicated, in the canonical order; ValueError names an unknown scope."""
    out = set()
    for s in scopes:
        if s not in _ORDER:
            raise ValueError(f"unknown scope: {s}")
        out.add(s)
    return sorted(out, key=_ORDER.__getitem__)


def ceiling(grants_root_to_self: list[list[str] | None]) -> frozenset[str]:
    """Intersection of the grants along the chain (None = no restriction recorded at that level)."""
    out = frozenset(ALL_SCOPES)
    for g in grants_root_to_self:
        if g is not None:
            out &= frozenset(g)
    return out


def excess(requested, allowed) -> list[str]:
    """Scopes of `requested` outside `allowed`, canonical order."""
    return [s for s in normalize(requested) if s not in allowed]

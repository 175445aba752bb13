"""Chain verification rules (pure): which ERC-20 Transfer log settles which locked withdrawal.

No web3 here, no I/O, no clock: the chain reader (chain.py) turns raw logs into `TransferLog`s and the poller
feeds them, with the locked withdrawals (`LockFacts`), to `match`. A log settles a lock when ALL hold
(api-contract.md, "Withdrawals and P2P OTC"; guide, "Chain Verification Rules"):

  R1 contract   the log was emitted by the configured USDC contract (a lookalike with the same event is ignored)
  R2 event      topic0 is Transfer(address,address,uint256), with from/to indexed (3 topics)
  R3 live       the log is not `removed` (dropped by a reorg)
  R4 confirmed  its block has at least `confirmations` blocks on top (head - block >= confirmations)
  R5 from       `from` is the locking broker's bound wallet (the one it had when it locked)
  R6 to         `to` is the user's withdrawal wallet
  R7 amount     value / 10**6 >= netAmount x 0.99 (USDC has 6 decimals; exact Decimal arithmetic)
  R8 time       block time >= lock time (seconds: block timestamps have one-second resolution), less an optional
                clock-skew allowance `skew_s` (CHAIN_TIME_SKEW_SECONDS, 0 by default; the local hardhat node
                stamps blocks a few seconds behind the wall clock, so the local stack allows 10 s)
  R9 unused     the transaction hash has settled nothing before. Within one batch `match` uses a transaction once;
                across batches storage enforces it with a conditional write on a claim item per hash.
"""
from dataclasses import dataclass
from decimal import Decimal

USDC_DECIMALS = 6
UNIT = Decimal(10) ** USDC_DECIMALS
TOLERANCE = Decimal("0.99")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"  # keccak Transfer(...)

RULES = ("contract", "event", "live", "confirmed", "from", "to", "amount", "time", "unused")


@dataclass(frozen=True)
class TransferLog:
    tx_hash: str          # 0x-prefixed lowercase hex
    log_index: int
    block_number: int
    block_time: int | None  # seconds (block timestamp); None until the reader looked it up
    address: str          # the emitting contract
    topic0: str
    sender: str           # `from`
    recipient: str        # `to`
    value: int            # raw token units
    removed: bool = False
    topics: int = 3

    @property
    def amount(self) -> Decimal:
        return Decimal(self.value) / UNIT


@dataclass(frozen=True)
class LockFacts:
    withdrawal_id: str
    lock_id: str
    broker_id: str
    broker_wallet: str    # the locker's bound wallet at lock time
    user_wallet: str
    net_amount: Decimal
    locked_at: int        # ms


def norm(address: str | None) -> str:
    return (address or "").lower()


def min_amount(net_amount: Decimal) -> Decimal:
    return net_amount * TOLERANCE


def to_units(amount: Decimal) -> int:
    """DCT/USDC amount -> raw token units (exact for up to 6 decimals)."""
    q = amount * UNIT
    if q != q.to_integral_value():
        raise ValueError(f"{amount} has more than {USDC_DECIMALS} decimals")
    return int(q)


def log_failures(log: TransferLog, token: str, head_block: int, confirmations: int) -> list[str]:
    """The rules about the log alone (R1-R4) that it breaks."""
    out = []
    if norm(log.address) != norm(token):
        out.append("contract")
    if norm(log.topic0) != TRANSFER_TOPIC or log.topics != 3:
        out.append("event")
    if log.removed:
        out.append("live")
    if head_block - log.block_number < confirmations:
        out.append("confirmed")
    return out


def lock_failures(log: TransferLog, lock: LockFacts, skew_s: int = 0) -> list[str]:
    """The rules about the log against one lock (R5-R8) that it breaks."""
    out = []
    if norm(log.sender) != norm(lock.broker_wallet):
        out.append("from")
    if norm(log.recipient) != norm(lock.user_wallet):
        out.append("to")
    if log.amount < min_amount(lock.net_amount):
        out.append("amount")
    if log.block_time is None or log.block_time < lock.locked_at // 1000 - skew_s:
        out.append("time")
    return out


def candidates(logs, locks) -> set[int]:
    """Block numbers whose timestamps the reader must fetch: logs whose (from, to) fit some lock."""
    pairs = {(norm(lk.broker_wallet), norm(lk.user_wallet)) for lk in locks}
    return {lg.block_number for lg in logs if (norm(lg.sender), norm(lg.recipient)) in pairs}


@dataclass(frozen=True)
class Match:
    log: TransferLog
    lock: LockFacts


def match(logs, locks, token: str, head_block: int, confirmations: int, used_tx=frozenset(),
          skew_s: int = 0) -> list[Match]:
    """Pair logs with locks: every rule holds, each transaction and each withdrawal at most once. Logs are taken in
    chain order; a lock takes the first log that fits it (locks oldest first for a log that fits several)."""
    used = set(h.lower() for h in used_tx)
    done: set[str] = set()
    out = []
    ordered_locks = sorted(locks, key=lambda lk: (lk.locked_at, lk.withdrawal_id))
    for lg in sorted(logs, key=lambda g: (g.block_number, g.log_index)):
        if log_failures(lg, token, head_block, confirmations) or lg.tx_hash.lower() in used:
            continue
        for lk in ordered_locks:
            if lk.withdrawal_id in done or lock_failures(lg, lk, skew_s):
                continue
            out.append(Match(lg, lk))
            used.add(lg.tx_hash.lower())
            done.add(lk.withdrawal_id)
            break
    return out


def explain(log: TransferLog, lock: LockFacts, token: str, head_block: int, confirmations: int,
            used_tx=frozenset(), skew_s: int = 0) -> list[str]:
    """Every rule `log` breaks for `lock` (empty: it settles it). For logs and tests."""
    out = log_failures(log, token, head_block, confirmations) + lock_failures(log, lock, skew_s)
    if log.tx_hash.lower() in {h.lower() for h in used_tx}:
        out.append("unused")
    return out


def safe_head(head_block: int, confirmations: int) -> int:
    """The last block whose logs count now."""
    return head_block - confirmations

"""Settings of withdrawals and the chain poller, read from the one settings object (chalicelib/settings.py) (set by .chalice/config.json in AWS
and by the local stack). Every one has a default that is right for AWS except the chain's addresses.

  WITHDRAWAL_FEE_RATE          0.01     fee = amount x rate (6 decimals, half up)
  WITHDRAWAL_COOLING_SECONDS   300      the OTC window: a broker may lock only before coolingEndsAt
  WITHDRAWAL_LOCK_HOURS        24       a lock with no matching payment is released after this
  WITHDRAWAL_TIMER_RATE        rate(1 minute)   the timers' schedule (cooling -> processing, lock release)
  CHAIN_POLL_SECONDS           1800     the chain poller's schedule (locally a few seconds)
  CHAIN_RPC_URL                         JSON-RPC endpoint of the chain (empty: the poller does nothing)
  USDC_CONTRACT_ADDRESS                 the USDC (ERC-20, 6 decimals) contract whose Transfer logs count
  CHAIN_CONFIRMATIONS          12       blocks on top of a log's block before it counts
  CHAIN_MAX_BLOCK_RANGE        2000     blocks per eth_getLogs call (public RPCs cap ranges)
  CHAIN_MAX_RANGES             20       eth_getLogs calls per poll (the rest waits for the next poll)
  CHAIN_START_BLOCK                     first block when no cursor is stored (default: the last range only)
  CHAIN_TIME_SKEW_SECONDS      0        a block stamped this many seconds before the lock still counts
"""
from decimal import Decimal

from chalicelib import settings


def _s():
    return settings.get()


def fee_rate() -> Decimal:
    return _s().withdrawal_fee_rate


def cooling_ms() -> int:
    return int(_s().withdrawal_cooling_seconds * 1000)


def lock_hours() -> Decimal:
    return _s().withdrawal_lock_hours  # exact, as declared (24, or e.g. 0.5 in a test)


def timer_rate() -> str:
    return _s().withdrawal_timer_rate


def poll_seconds() -> int:
    return _s().chain_poll_seconds


def poll_rate() -> str:
    """An EventBridge rate expression (AWS: whole minutes, at least 1; seconds are accepted by the local stack)."""
    s = poll_seconds()
    if s % 60 == 0:
        m = s // 60
        return f"rate({m} minute{'s' if m != 1 else ''})"
    return f"rate({s} second{'s' if s != 1 else ''})"


def rpc_url() -> str:
    return _s().chain_rpc_url


def usdc_address() -> str:
    return _s().usdc_contract_address


def confirmations() -> int:
    return _s().chain_confirmations


def max_block_range() -> int:
    return max(1, _s().chain_max_block_range)


def max_ranges() -> int:
    return max(1, _s().chain_max_ranges)


def start_block() -> int | None:
    return _s().chain_start_block


def time_skew_seconds() -> int:
    return max(0, _s().chain_time_skew_seconds)

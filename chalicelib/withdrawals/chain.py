"""The chain reader: ERC-20 Transfer logs of one token contract over JSON-RPC, with web3.

Imported only by the poller (poller.py, the `chain_poller` Lambda): web3 costs ~0.5 s to import and must never be
on the HTTP handler's import path (tests/withdrawals/test_imports.py checks it).

    eth_getLogs {address: <USDC>, topics: [Transfer], fromBlock, toBlock}

in bounded block ranges (public RPCs cap them), from a stored cursor up to the confirmed head (head minus the
confirmations depth); logs marked `removed` (reorgs) are dropped; block timestamps are fetched only for the
blocks that hold a candidate log.
"""
from dataclasses import replace

from web3 import Web3
from web3.providers.rpc import HTTPProvider

from chalicelib.withdrawals import verify


def connect(rpc_url: str, timeout: float = 10.0) -> Web3:
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))


def _hex(v) -> str:
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    s = str(v)
    return s if s.startswith("0x") else "0x" + s


def _topic_address(topic) -> str:
    return "0x" + _hex(topic)[-40:]


def to_transfer_log(raw) -> verify.TransferLog | None:
    """A raw eth_getLogs entry -> TransferLog (None when it is not a well-formed Transfer with 3 topics)."""
    topics = list(raw.get("topics") or [])
    if len(topics) != 3:
        return None
    data = _hex(raw.get("data") or b"")
    try:
        value = int(data, 16) if data not in ("0x", "") else 0
    except ValueError:
        return None
    return verify.TransferLog(
        tx_hash=_hex(raw["transactionHash"]).lower(), log_index=int(raw["logIndex"]),
        block_number=int(raw["blockNumber"]), block_time=None, address=str(raw["address"]),
        topic0=_hex(topics[0]).lower(), sender=_topic_address(topics[1]), recipient=_topic_address(topics[2]),
        value=value, removed=bool(raw.get("removed", False)), topics=len(topics))


def read_range(w3: Web3, token: str, from_block: int, to_block: int) -> list[verify.TransferLog]:
    """Transfer logs of `token` in [from_block, to_block], removed ones dropped."""
    raw = w3.eth.get_logs({"address": Web3.to_checksum_address(token), "fromBlock": from_block,
                           "toBlock": to_block, "topics": [verify.TRANSFER_TOPIC]})
    out = []
    for r in raw:
        lg = to_transfer_log(r)
        if lg is not None and not lg.removed:
            out.append(lg)
    return out


def ranges(start: int, end: int, size: int, count: int) -> list[tuple[int, int]]:
    """At most `count` inclusive block ranges of at most `size` blocks from `start` up to `end`."""
    out = []
    lo = start
    while lo <= end and len(out) < count:
        hi = min(end, lo + size - 1)
        out.append((lo, hi))
        lo = hi + 1
    return out


def with_times(w3: Web3, logs: list[verify.TransferLog], blocks: set[int]) -> list[verify.TransferLog]:
    times = {n: int(w3.eth.get_block(n)["timestamp"]) for n in sorted(blocks)}
    return [replace(lg, block_time=times[lg.block_number]) if lg.block_number in times else lg for lg in logs]


def head(w3: Web3) -> int:
    return int(w3.eth.block_number)

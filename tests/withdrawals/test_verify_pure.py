"""The pure verification rules (chalicelib/withdrawals/verify.py) one by one: a log that breaks exactly one rule
is refused for exactly that rule (the chain reader and the cursor add a second line of defence for some of them:
the address filter of eth_getLogs, the confirmed head; the real-EVM tests cover those end to end)."""
from dataclasses import replace
from decimal import Decimal

import pytest

from chalicelib.withdrawals import chain, verify

TOKEN = "0x" + "aa" * 20
BROKER, USER, OTHER = "0x" + "b1" * 20, "0x" + "c2" * 20, "0x" + "d3" * 20
LOCK = verify.LockFacts(withdrawal_id="w1", lock_id="l1", broker_id="B", broker_wallet=BROKER, user_wallet=USER,
                        net_amount=Decimal("99"), locked_at=1_000_000_500)
GOOD = verify.TransferLog(tx_hash="0x" + "11" * 32, log_index=0, block_number=100, block_time=1_000_000,
                          address=TOKEN, topic0=verify.TRANSFER_TOPIC, sender=BROKER, recipient=USER,
                          value=99_000_000)
HEAD, DEPTH = 105, 5

BROKEN = {
    "contract": {"address": "0x" + "ee" * 20},
    "event": {"topic0": "0x" + "00" * 32},
    "live": {"removed": True},
    "confirmed": {"block_number": 101},
    "from": {"sender": OTHER},
    "to": {"recipient": OTHER},
    "amount": {"value": 98_009_999},
    "time": {"block_time": 999_999},
}


def test_the_good_log_settles():
    assert verify.explain(GOOD, LOCK, TOKEN, HEAD, DEPTH) == []
    assert [m.lock.withdrawal_id for m in verify.match([GOOD], [LOCK], TOKEN, HEAD, DEPTH)] == ["w1"]


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_rule_broken_alone_settles_nothing(rule):
    log = replace(GOOD, **BROKEN[rule])
    assert verify.explain(log, LOCK, TOKEN, HEAD, DEPTH) == [rule]
    assert verify.match([log], [LOCK], TOKEN, HEAD, DEPTH) == []


def test_unused_rule_and_one_transaction_once():
    assert verify.explain(GOOD, LOCK, TOKEN, HEAD, DEPTH, used_tx={GOOD.tx_hash.upper()}) == ["unused"]
    assert verify.match([GOOD], [LOCK], TOKEN, HEAD, DEPTH, used_tx={GOOD.tx_hash}) == []
    lock2 = replace(LOCK, withdrawal_id="w2", lock_id="l2", locked_at=LOCK.locked_at + 1)
    second_log = replace(GOOD, log_index=1)  # same transaction, another Transfer log
    ms = verify.match([GOOD, second_log], [lock2, LOCK], TOKEN, HEAD, DEPTH)
    assert [m.lock.withdrawal_id for m in ms] == ["w1"]  # the older lock, once
    third = replace(GOOD, tx_hash="0x" + "22" * 32)
    ms = verify.match([GOOD, third], [LOCK, lock2], TOKEN, HEAD, DEPTH)
    assert [(m.log.tx_hash[:4], m.lock.withdrawal_id) for m in ms] == [("0x11", "w1"), ("0x22", "w2")]


def test_tolerance_boundary_and_decimals():
    assert verify.min_amount(Decimal("99")) == Decimal("98.01")
    assert verify.explain(replace(GOOD, value=98_010_000), LOCK, TOKEN, HEAD, DEPTH) == []
    assert verify.explain(replace(GOOD, value=98_009_999), LOCK, TOKEN, HEAD, DEPTH) == ["amount"]
    odd = replace(LOCK, net_amount=Decimal("0.000101"))  # netAmount x 0.99 = 0.00009999: needs 100 units
    assert verify.explain(replace(GOOD, value=100), odd, TOKEN, HEAD, DEPTH) == []
    assert verify.explain(replace(GOOD, value=99), odd, TOKEN, HEAD, DEPTH) == ["amount"]
    assert verify.to_units(Decimal("98.01")) == 98_010_000
    with pytest.raises(ValueError):
        verify.to_units(Decimal("0.0000001"))


def test_block_time_same_second_as_the_lock_counts():
    # lock at ...500 ms; a block stamped in that second counts (block times have 1 s resolution)
    assert verify.explain(replace(GOOD, block_time=1_000_000), LOCK, TOKEN, HEAD, DEPTH) == []
    assert verify.explain(replace(GOOD, block_time=None), LOCK, TOKEN, HEAD, DEPTH) == ["time"]


def test_clock_skew_allowance():
    early = replace(GOOD, block_time=999_990)  # 10 s before the lock's second
    assert verify.explain(early, LOCK, TOKEN, HEAD, DEPTH) == ["time"]
    assert verify.explain(early, LOCK, TOKEN, HEAD, DEPTH, skew_s=10) == []
    assert verify.explain(replace(GOOD, block_time=999_989), LOCK, TOKEN, HEAD, DEPTH, skew_s=10) == ["time"]


def test_addresses_compare_case_insensitively():
    log = replace(GOOD, sender=BROKER.upper().replace("0X", "0x"), address=TOKEN.upper().replace("0X", "0x"))
    assert verify.explain(log, LOCK, TOKEN, HEAD, DEPTH) == []


def test_reader_decodes_raw_logs_and_skips_malformed_ones():
    raw = {"transactionHash": bytes.fromhex("ab" * 32), "logIndex": 3, "blockNumber": 7, "address": TOKEN,
           "data": bytes.fromhex("%064x" % 5_000_000),
           "topics": [bytes.fromhex(verify.TRANSFER_TOPIC[2:]), bytes(12) + bytes.fromhex(BROKER[2:]),
                      bytes(12) + bytes.fromhex(USER[2:])], "removed": False}
    lg = chain.to_transfer_log(raw)
    assert (lg.sender, lg.recipient, lg.value, lg.amount, lg.block_number) == (BROKER, USER, 5_000_000,
                                                                               Decimal(5), 7)
    assert chain.to_transfer_log({**raw, "topics": raw["topics"][:2]}) is None  # not an ERC-20 Transfer shape
    assert chain.to_transfer_log({**raw, "removed": True}).removed is True


def test_bounded_ranges():
    assert chain.ranges(0, 9, 4, 10) == [(0, 3), (4, 7), (8, 9)]
    assert chain.ranges(0, 100, 10, 2) == [(0, 9), (10, 19)]
    assert chain.ranges(5, 4, 10, 3) == []

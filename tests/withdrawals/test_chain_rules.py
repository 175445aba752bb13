"""The chain verification rules against a real EVM (eth-tester/py-evm) and the repo's TestUSDC ERC-20, through
the real app (moto): for each rule a payment that breaks only that rule settles nothing; the correct payment
settles exactly once; one transaction cannot settle two withdrawals; the 1% tolerance boundary both ways; a
payment before the lock is ignored; a lookalike token is ignored; an unconfirmed log waits."""
from decimal import Decimal

import pytest

from chalicelib.common import clock
from tests.withdrawals.conftest import ledger_ok

pytestmark = pytest.mark.timeout(120)


class Setup:
    """Client of broker A asks 100 DCT (fee 1, net 99) to `user_wallet`; broker B (wallet `broker_wallet`,
    funded on chain) locks it."""

    def __init__(self, otc, chain, amount=100):
        self.otc, self.chain = otc, chain
        acc = chain.accounts
        self.broker_wallet, self.user_wallet, self.other = acc[1], acc[2], acc[3]
        chain.fund(self.broker_wallet, 10_000)
        chain.fund(self.other, 10_000)
        self.home = otc.broker_with_wallet(None, credit=1000)
        self.client = otc.funded_client(self.home, self.user_wallet, 500)
        self.locker = otc.broker_with_wallet(self.broker_wallet)
        self.w = otc.withdraw(self.home, self.client, amount)
        self.wid = self.w["id"]

    def lock(self):
        r = self.otc.lock(self.locker, self.wid)
        assert r.status == 200, r
        return r.json

    def balance(self):
        return self.otc.balance(self.locker.uid)


@pytest.fixture
def s(otc, chain):
    return Setup(otc, chain)


def test_correct_payment_settles_exactly_once(s, chain, otc):
    ans = s.lock()
    assert ans["ok"] is True and ans["status"] == "broker_locked" and ans["timeoutHours"] == 24
    assert ans["userWalletAddress"] == s.user_wallet and Decimal(str(ans["amount"])) == Decimal("99")
    chain.pay(s.broker_wallet, ans["userWalletAddress"], ans["amount"])
    assert chain.poll()["settled"] == 1
    assert otc.status(s.wid) == "broker_completed"
    assert s.balance() == Decimal("99")
    # read again from block 0 (cursor reset): the settled withdrawal is not settled twice
    from chalicelib.withdrawals import store
    store.ChainCursor(*store.ChainCursor.key(chain.address)).delete()
    assert chain.poll()["settled"] == 0
    assert s.balance() == Decimal("99")
    r = ledger_ok()
    assert r["system"]["system:withdrawals"] == 0 and r["system"]["system:fees"] == Decimal("1")
    w = store.get(s.wid, consistent=True)
    assert w.settled_by == s.locker.uid and w.tx_hash.startswith("0x")
    # the settling broker may read it (the locker's view: no user identity)
    v = otc.api.get(f"/api/v1/broker/withdrawal/{s.wid}", key=s.locker.key).json
    assert v["status"] == "broker_completed" and "userId" not in v and "user_id" not in v


def _nothing_settles(s, chain, otc):
    chain.mine(2)
    assert chain.poll()["settled"] == 0
    assert otc.status(s.wid) == "broker_locked"
    assert s.balance() == 0
    ledger_ok()


def test_rule_from_other_wallet(s, chain, otc):
    ans = s.lock()
    chain.pay(s.other, s.user_wallet, ans["amount"])  # only `from` is wrong
    _nothing_settles(s, chain, otc)


def test_rule_to_other_wallet(s, chain, otc):
    ans = s.lock()
    chain.pay(s.broker_wallet, s.other, ans["amount"])  # only `to` is wrong
    _nothing_settles(s, chain, otc)


def test_rule_amount_below_tolerance(s, chain, otc):
    s.lock()
    chain.pay_units(s.broker_wallet, s.user_wallet, 98_009_999)  # 99 x 0.99 = 98.01; one unit short
    _nothing_settles(s, chain, otc)


def test_tolerance_boundary_exactly_099_settles(s, chain, otc):
    s.lock()
    chain.pay_units(s.broker_wallet, s.user_wallet, 98_010_000)  # exactly netAmount x 0.99
    assert chain.poll()["settled"] == 1
    assert otc.status(s.wid) == "broker_completed" and s.balance() == Decimal("99")  # credited netAmount
    ledger_ok()


def test_rule_time_payment_before_lock_ignored(s, chain, otc):
    chain.pay(s.broker_wallet, s.user_wallet, "99")  # paid first...
    clock.advance(5_000)  # ...locked seconds later (still in the cooling period)
    s.lock()
    _nothing_settles(s, chain, otc)


def test_rule_contract_lookalike_token_ignored(s, chain, otc):
    fake = chain.lookalike()
    chain.w3.eth.wait_for_transaction_receipt(
        fake.functions.mint(s.broker_wallet, 10 ** 12).transact({"from": chain.deployer}))
    ans = s.lock()
    chain.pay(s.broker_wallet, s.user_wallet, ans["amount"], token=fake)  # same event, from, to, value
    _nothing_settles(s, chain, otc)


def test_rule_confirmations_unconfirmed_log_waits(s, chain, otc):
    ans = s.lock()
    chain.pay(s.broker_wallet, s.user_wallet, ans["amount"])
    assert chain.poll(confirmations=3)["settled"] == 0  # head - block = 0 < 3
    chain.mine(2)
    assert chain.poll(confirmations=3)["settled"] == 0  # 2 < 3: still waits (the cursor did not pass it)
    assert otc.status(s.wid) == "broker_locked"
    chain.mine(1)
    assert chain.poll(confirmations=3)["settled"] == 1  # 3 confirmations: counts
    assert otc.status(s.wid) == "broker_completed"
    ledger_ok()


def test_rule_unused_one_transaction_cannot_settle_two_withdrawals(otc, chain):
    """Two withdrawals to one wallet, both locked by one broker; ONE transaction with two Transfer logs (a
    multi-send) pays both in full: only one settles. Another poll over the same blocks changes nothing."""
    acc = chain.accounts
    broker_wallet, user_wallet = acc[1], acc[2]
    chain.fund(broker_wallet, 1000)
    home = otc.broker_with_wallet(None, credit=1000)
    client = otc.funded_client(home, user_wallet, 500)
    locker = otc.broker_with_wallet(broker_wallet)
    w1, w2 = otc.withdraw(home, client, 100), otc.withdraw(home, client, 100)
    assert otc.lock(locker, w1["id"]).status == 200 and otc.lock(locker, w2["id"]).status == 200
    chain.batch(broker_wallet, [(user_wallet, "99"), (user_wallet, "99")])
    assert chain.poll()["settled"] == 1
    from chalicelib.withdrawals import store
    store.ChainCursor(*store.ChainCursor.key(chain.address)).delete()
    assert chain.poll()["settled"] == 0
    assert sorted([otc.status(w1["id"]), otc.status(w2["id"])]) == ["broker_completed", "broker_locked"]
    assert otc.balance(locker.uid) == Decimal("99")
    ledger_ok()


def test_claim_item_blocks_a_second_settlement_by_the_same_hash(otc, chain):
    """Across polls (storage, not the batch matcher): a transaction hash that settled one withdrawal is refused
    for another by the claim item's condition, even when the caller hands it over directly."""
    from chalicelib.withdrawals import flows, poller, store, verify
    acc = chain.accounts
    chain.fund(acc[1], 1000)
    home = otc.broker_with_wallet(None, credit=1000)
    client = otc.funded_client(home, acc[2], 500)
    locker = otc.broker_with_wallet(acc[1])
    w1, w2 = otc.withdraw(home, client, 100), otc.withdraw(home, client, 100)
    otc.lock(locker, w1["id"])
    otc.lock(locker, w2["id"])
    chain.pay(acc[1], acc[2], "99")
    assert chain.poll()["settled"] == 1
    done = [w for w in (w1, w2) if otc.status(w["id"]) == "broker_completed"][0]
    left = [w for w in (w1, w2) if w is not done][0]
    claim_hash = store.get(done["id"], consistent=True).tx_hash
    log = verify.TransferLog(tx_hash=claim_hash, log_index=0, block_number=1, block_time=2 ** 40,
                             address=chain.address, topic0=verify.TRANSFER_TOPIC, sender=acc[1], recipient=acc[2],
                             value=99 * 10 ** 6)
    assert flows.settle(poller.lock_facts(store.get(left["id"], consistent=True)), log) is False
    assert otc.status(left["id"]) == "broker_locked"
    ledger_ok()


def test_transfer_to_the_user_without_a_lock_settles_nothing(s, chain, otc):
    chain.pay(s.broker_wallet, s.user_wallet, "99")
    assert chain.poll()["settled"] == 0
    assert otc.status(s.wid) == "pending"

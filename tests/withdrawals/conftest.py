"""Fixtures of the withdrawal tests: a real EVM (eth-tester + py-evm, in process, through web3's
EthereumTesterProvider) with the repo's TestUSDC ERC-20 deployed from its solc build, and a small world of
brokers and clients over the real app (tests/broker/conftest.World)."""
import time
import uuid
from decimal import Decimal

import pytest

from chalicelib.common import clock
from tests.broker.conftest import World, pump_webhooks, receiver  # noqa: F401  (fixtures re-exported)

V1 = "/api/v1/broker"


@pytest.fixture(autouse=True)
def _clock_reset():
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
def evm():  # a fresh chain per test (~20 ms): block times never leak between tests
    from web3 import EthereumTesterProvider, Web3
    return Web3(EthereumTesterProvider())


class Chain:
    """The token and helpers on the in-process EVM. accounts[0] deploys and mints."""

    def __init__(self, w3):
        from local import chain as devchain
        self.w3, self.devchain = w3, devchain
        self.accounts = w3.eth.accounts
        self.deployer = self.accounts[0]
        self.token = devchain.deploy(w3, self.deployer)
        self.tester = w3.provider.ethereum_tester

    @property
    def address(self) -> str:
        return self.token.address

    def fund(self, who: str, amount) -> None:
        self.w3.eth.wait_for_transaction_receipt(
            self.token.functions.mint(who, self.devchain.units(amount)).transact({"from": self.deployer}))

    def _next_block_at_now(self):
        """eth-tester stamps a block with the time its pending block was opened (after the previous one was
        mined); stamp the next block with the (test) clock's now, as a real chain would."""
        ts = max(clock.now_ms() // 1000, self.w3.eth.get_block("latest").timestamp + 1)
        self.tester.time_travel(ts)

    def pay(self, sender: str, to: str, amount, token=None) -> str:
        self._next_block_at_now()
        return self.devchain.transfer(self.w3, token or self.token, sender, to, amount)

    def pay_units(self, sender: str, to: str, value: int) -> str:
        self._next_block_at_now()
        h = self.token.functions.transfer(to, value).transact({"from": sender})
        self.w3.eth.wait_for_transaction_receipt(h)
        return "0x" + bytes(h).hex()

    def batch(self, sender: str, pays: list[tuple[str, object]]) -> str:
        self._next_block_at_now()
        h = self.token.functions.batchTransfer([t for t, _ in pays],
                                               [self.devchain.units(a) for _, a in pays]).transact({"from": sender})
        self.w3.eth.wait_for_transaction_receipt(h)
        return "0x" + bytes(h).hex()

    def mine(self, n=1):
        self.tester.mine_blocks(n)

    def lookalike(self):
        """Another deployment of the same contract: same Transfer event signature, another address."""
        return self.devchain.deploy(self.w3, self.deployer, "USD Coin", "USDC")

    def poll(self, confirmations=0):
        from chalicelib.withdrawals import poller
        return poller.poll(self.w3, self.address, confirmations=confirmations)


@pytest.fixture
def chain(evm, monkeypatch):
    c = Chain(evm)
    monkeypatch.setenv("USDC_CONTRACT_ADDRESS", c.address)
    monkeypatch.setenv("CHAIN_START_BLOCK", "0")
    return c


class OtcWorld(World):
    """World + the OTC steps through the public API."""

    def broker_with_wallet(self, wallet: str | None, credit=None, webhook_url=None):
        b = self.broker(credit=credit, webhook_url=webhook_url)
        if wallet:
            r = self.api.put("/api/broker/wallet", {"walletAddress": wallet}, token=b.token)
            assert r.status == 200, r
        return b

    def funded_client(self, broker, wallet: str, amount) -> dict:
        c = self.client_of(broker, "c_" + uuid.uuid4().hex[:8], wallet_address=wallet)
        self.api.credit(self.admin, c["account_id"], amount)
        return c

    def withdraw(self, broker, client: dict, amount) -> dict:
        r = self.api.post(f"{V1}/clients/{client['user_id']}/withdraw", {"amount": Decimal(str(amount))},
                          key=broker.key)
        assert r.status == 201, r
        return r.json

    def lock(self, broker, wid: str):
        return self.api.post(f"{V1}/withdrawal/{wid}/lock", key=broker.key)

    def status(self, wid: str) -> str:
        from chalicelib.withdrawals import store
        return store.get(wid, consistent=True).status


def ledger_ok():
    from chalicelib.ledger import check
    r = check.verify()
    assert r["ok"], r["problems"]
    assert r["sum"] == 0
    return r


@pytest.fixture
def otc(client):
    return OtcWorld(client)


@pytest.fixture
def ddb_otc(ddb_client):
    return OtcWorld(ddb_client)


def wait_for(pred, timeout=10.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(every)
    return pred()

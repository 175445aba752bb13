"""web3 stays off the HTTP handler's import path; the whole OTC flow over JSON-RPC against the hardhat 2 node of
`make run` (npm, offline) with the token deployed from its committed solc build."""
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from tests.fixtures.aws import ROOT
from tests.withdrawals.conftest import ledger_ok

pytestmark = pytest.mark.timeout(180)


def test_http_handler_import_never_loads_web3():
    code = ("import sys, app; bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('web3', 'eth_tester', 'eth_account', 'eth_abi', 'eth', 'chalicelib') and "
            "(m.startswith(('web3', 'eth')) or m in ('chalicelib.withdrawals.chain', 'chalicelib.withdrawals.poller')));"
            "print('LOADED=' + ','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LOADED="  # (the app may log a line before)


def test_poller_schedule_is_configurable(monkeypatch):
    from chalicelib.withdrawals import settings
    assert settings.poll_rate() == "rate(30 minutes)"
    monkeypatch.setenv("CHAIN_POLL_SECONDS", "60")
    assert settings.poll_rate() == "rate(1 minute)"
    monkeypatch.setenv("CHAIN_POLL_SECONDS", "5")
    assert settings.poll_rate() == "rate(5 seconds)"  # the local stack's scheduler only


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "node_modules", ".bin", "hardhat")),
                    reason="hardhat is not installed (make node-deps)")
def test_otc_flow_over_json_rpc_on_the_hardhat_node(otc, monkeypatch):
    from local import chain as devchain
    from chalicelib.withdrawals import chain, poller
    node = devchain.HardhatNode(port=0).start()
    try:
        info = devchain.setup(node.url)
        monkeypatch.setenv("CHAIN_RPC_URL", node.url)
        monkeypatch.setenv("USDC_CONTRACT_ADDRESS", info["usdc"])
        monkeypatch.setenv("CHAIN_CONFIRMATIONS", "1")
        monkeypatch.setenv("CHAIN_START_BLOCK", "0")
        monkeypatch.setenv("CHAIN_TIME_SKEW_SECONDS", "10")  # as the local stack: hardhat's blocks lag ~3 s
        monkeypatch.setenv("CHAIN_MAX_BLOCK_RANGE", "2")  # several bounded eth_getLogs ranges per poll
        home = otc.broker_with_wallet(None, credit=1000)
        client = otc.funded_client(home, info["traderWallet"], 500)
        locker = otc.broker_with_wallet(info["brokerWallet"])
        w = otc.withdraw(home, client, "250.5")
        ans = otc.lock(locker, w["id"]).json
        assert ans["amount"] == Decimal("247.995")
        w3 = chain.connect(node.url)
        token = devchain.token_at(w3, info["usdc"])
        devchain.transfer(w3, token, info["brokerWallet"], ans["userWalletAddress"], ans["amount"])
        assert poller.poll()["settled"] == 0  # 0 confirmations yet: waits
        w3.provider.make_request("evm_mine", [])
        r = poller.poll()
        assert r["settled"] == 1, r
        assert otc.status(w["id"]) == "broker_completed"
        assert otc.balance(locker.uid) == Decimal("247.995")
        assert poller.poll()["settled"] == 0
        ledger_ok()
    finally:
        node.stop()

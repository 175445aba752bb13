"""Every withdrawal transition emits its webhook event, delivered through the webhooks queue and the app's queue
handler, and verified by the guide's own Node.js code (tests/broker/test_webhooks.node_verify). The user's brokers
get the full object; a locking broker outside the user's hierarchy gets its own event without user identity."""
import json
import shutil

import pytest

from chalicelib.common import clock
from tests.broker.test_webhooks import node_verify
from tests.withdrawals.conftest import V1, ledger_ok, pump_webhooks

pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")]
EVENTS = ["withdrawal.created", "withdrawal.locked", "withdrawal.unlocked", "withdrawal.broker_completed",
          "withdrawal.released", "withdrawal.processing", "withdrawal.completed"]


def test_each_withdrawal_event_is_delivered_and_verified_by_the_guides_node_code(otc, chain, receiver, tmp_path):
    acc = chain.accounts
    broker_wallet, user_wallet = acc[1], acc[2]
    chain.fund(broker_wallet, 1000)
    home = otc.broker_with_wallet(None, credit=1000, webhook_url=receiver.url + "/home")
    locker = otc.broker_with_wallet(broker_wallet, webhook_url=receiver.url + "/locker")
    client = otc.funded_client(home, user_wallet, 500)
    w1 = otc.withdraw(home, client, 100)
    assert otc.lock(locker, w1["id"]).status == 200
    assert otc.api.post(f"{V1}/withdrawal/{w1['id']}/unlock", key=locker.key).status == 200
    ans = otc.lock(locker, w1["id"]).json
    chain.pay(broker_wallet, ans["userWalletAddress"], ans["amount"])
    assert chain.poll()["settled"] == 1                                     # broker_completed
    w2 = otc.withdraw(home, client, 50)
    assert otc.lock(locker, w2["id"]).status == 200
    clock.advance(24 * 3600 * 1000 + 1000)
    from chalicelib.withdrawals import flows
    flows.run_timers()                                                      # released (and processing)
    flows.run_timers()
    r = otc.api.post(f"/api/admin/withdrawals/{w2['id']}/complete", {"txHash": "0x" + "cd" * 32}, token=otc.admin)
    assert r.status == 200                                                  # completed
    pump_webhooks(otc.client)

    home_events = [json.loads(r["body"]) for r in receiver.requests if r["path"] == "/home"]
    locker_events = [json.loads(r["body"]) for r in receiver.requests if r["path"] == "/locker"]
    assert set(e["event"] for e in home_events) == set(EVENTS) | {"client.created"}
    assert sorted(e["event"] for e in locker_events) == sorted(
        ["withdrawal.locked"] * 3 + ["withdrawal.unlocked", "withdrawal.broker_completed", "withdrawal.released"])
    secrets = {"/home": home.secret, "/locker": locker.secret}
    for req in receiver.requests:
        sig = req["headers"]["X-Webhook-Signature"]
        assert node_verify(tmp_path, req["body"], sig, secrets[req["path"]]) is True
        assert node_verify(tmp_path, req["body"], sig, secrets[req["path"]] + "x") is False
    for e in locker_events:  # no user identity for a broker outside the user's hierarchy
        assert "user_id" not in e["data"] and "account_id" not in e["data"]
    done = next(e for e in home_events if e["event"] == "withdrawal.broker_completed")["data"]
    assert done["withdrawal_id"] == w1["id"] and done["settled_by"] == locker.uid and done["tx_hash"].startswith("0x")
    assert done["account_id"] == client["account_id"] and done["net_amount"] == 99
    locked = next(e for e in locker_events if e["event"] == "withdrawal.locked")["data"]
    assert locked["wallet_address"] == user_wallet and locked["locked_by"] == locker.uid
    ledger_ok()

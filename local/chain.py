"""The development chain of `make run`: a hardhat 2 node (npm, offline) on 127.0.0.1, the TestUSDC token deployed
from its committed build (contracts/build), demo wallets funded. Also the by-hand payment command:

    .venv/bin/python -m local.chain info                      # RPC URL, token, demo wallets
    .venv/bin/python -m local.chain pay --to 0xUSER --amount 98.01   # USDC from the demo broker's wallet
    .venv/bin/python -m local.chain balance --of 0xADDR

Hardhat's node unlocks its 20 well-known development accounts (eth_sendTransaction needs no key): #0 deploys and
mints, #1 is the demo broker's wallet, #2 the demo trader's. Nothing here is platform logic.
"""
import argparse
import json
import logging
import os
import subprocess
import sys
import time
from decimal import Decimal

from local import engines

log = logging.getLogger("local.chain")
ROOT = engines.ROOT
BUILD = os.path.join(ROOT, "contracts", "build")
HARDHAT = os.path.join(ROOT, "node_modules", ".bin", "hardhat")
INFO_PATH = os.path.join(ROOT, ".local", "chain.json")
DEFAULT_PORT = 8547
UNIT = 10 ** 6


def artifact() -> tuple[list, str]:
    with open(os.path.join(BUILD, "TestUSDC.abi")) as f:
        abi = json.load(f)
    with open(os.path.join(BUILD, "TestUSDC.bin")) as f:
        return abi, f.read().strip()


def deploy(w3, deployer: str, name: str = "USD Coin", symbol: str = "USDC"):
    abi, bytecode = artifact()
    h = w3.eth.contract(abi=abi, bytecode=bytecode).constructor(name, symbol).transact({"from": deployer})
    address = w3.eth.wait_for_transaction_receipt(h).contractAddress
    return w3.eth.contract(address=address, abi=abi)


def token_at(w3, address: str):
    abi, _ = artifact()
    return w3.eth.contract(address=w3.to_checksum_address(address), abi=abi)


def units(amount) -> int:
    q = Decimal(str(amount)) * UNIT
    if q != q.to_integral_value():
        raise ValueError("USDC has 6 decimals")
    return int(q)


def transfer(w3, token, sender: str, to: str, amount) -> str:
    """Send `amount` USDC from `sender` (an unlocked account) to `to`; returns the transaction hash."""
    h = token.functions.transfer(w3.to_checksum_address(to), units(amount)).transact({"from": sender})
    w3.eth.wait_for_transaction_receipt(h)
    return "0x" + bytes(h).hex()


class HardhatNode:
    """`hardhat node --hostname 127.0.0.1 --port N`, a child process (hardhat@2 from package.json, offline)."""

    def __init__(self, port: int = DEFAULT_PORT):
        self.port = port or engines.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.dir = os.path.join(ROOT, ".local", "hardhat")

    def start(self, timeout_s: float = 60) -> "HardhatNode":
        if not os.path.exists(HARDHAT):
            raise RuntimeError("hardhat is not installed: run `make node-deps` (npm install)")
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "hardhat.config.js"), "w") as f:
            f.write("// written by local/chain.py: the development chain of `make run`\n"
                    "module.exports = { networks: { hardhat: { chainId: 31337 } } };\n")
        env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "DO_NOT_TRACK": "1"}
        self.log_path = os.path.join(self.dir, "node.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([HARDHAT, "node", "--hostname", "127.0.0.1", "--port", str(self.port)],
                                     cwd=self.dir, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        import requests
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hardhat node exited with code {self.proc.returncode} (see {self.log_path}); "
                                   f"port {self.port} in use? set CHAIN_PORT")
            try:
                r = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber",
                                                  "params": []}, timeout=1)
                if r.ok and "result" in r.json():
                    log.info("hardhat node up on %s (pid %d)", self.url, self.proc.pid)
                    return self
            except Exception:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"hardhat node did not answer on {self.url} within {timeout_s:.0f} s")
            time.sleep(0.3)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "_log", None):
            self._log.close()
        self.proc = None


def setup(rpc_url: str, broker_funds=1_000_000, trader_funds=1_000) -> dict:
    """Deploy TestUSDC and fund the demo wallets; returns the chain info (also written to .local/chain.json)."""
    from web3 import Web3
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    accts = w3.eth.accounts
    deployer, broker_wallet, trader_wallet = accts[0], accts[1], accts[2]
    token = deploy(w3, deployer)
    for who, amount in ((broker_wallet, broker_funds), (trader_wallet, trader_funds)):
        w3.eth.wait_for_transaction_receipt(token.functions.mint(who, units(amount)).transact({"from": deployer}))
    info = {"rpcUrl": rpc_url, "chainId": w3.eth.chain_id, "usdc": token.address, "deployer": deployer,
            "brokerWallet": broker_wallet, "traderWallet": trader_wallet, "brokerFunds": broker_funds,
            "traderFunds": trader_funds}
    os.makedirs(os.path.dirname(INFO_PATH), exist_ok=True)
    with open(INFO_PATH, "w") as f:
        json.dump(info, f, indent=2)
    return info


def _info() -> dict:
    try:
        with open(INFO_PATH) as f:
            return json.load(f)
    except OSError:
        sys.exit(f"no {INFO_PATH}: is `make run` running (with CHAIN=on)?")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m local.chain", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info")
    pay = sub.add_parser("pay", help="send USDC from the demo broker's wallet (or --from) to --to")
    pay.add_argument("--to", required=True)
    pay.add_argument("--amount", required=True)
    pay.add_argument("--from", dest="sender")
    bal = sub.add_parser("balance")
    bal.add_argument("--of", required=True)
    sub.add_parser("mine", help="mine one empty block (adds a confirmation)")
    a = p.parse_args(argv)
    info = _info()
    if a.cmd == "info":
        print(json.dumps(info, indent=2))
        return
    from web3 import Web3
    w3 = Web3(Web3.HTTPProvider(info["rpcUrl"]))
    token = token_at(w3, info["usdc"])
    if a.cmd == "pay":
        h = transfer(w3, token, a.sender or info["brokerWallet"], a.to, a.amount)
        print(json.dumps({"txHash": h, "from": a.sender or info["brokerWallet"], "to": a.to,
                          "amount": a.amount, "block": w3.eth.block_number}))
    elif a.cmd == "balance":
        print(Decimal(token.functions.balanceOf(w3.to_checksum_address(a.of)).call()) / UNIT)
    elif a.cmd == "mine":
        w3.provider.make_request("evm_mine", [])
        print(w3.eth.block_number)


if __name__ == "__main__":
    main()

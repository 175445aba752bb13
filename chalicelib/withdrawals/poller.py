"""The chain poller (the `chain_poller` scheduled Lambda; every 30 min in AWS, seconds locally).

One poll:
  1. head = eth_blockNumber; the confirmed head is head - CHAIN_CONFIRMATIONS (a log above it waits);
  2. from the stored cursor (the next block to read), eth_getLogs over at most CHAIN_MAX_RANGES ranges of
     CHAIN_MAX_BLOCK_RANGE blocks, filtered by the USDC contract address and the Transfer topic;
  3. the locked withdrawals (read AFTER the logs: a lock always precedes its payment);
  4. verify.match: the pure rules pair logs with locks (each transaction and each withdrawal at most once);
  5. each match settles in one transaction (claim item of the transaction hash, withdrawal, ledger, events);
  6. the cursor moves past the blocks read (forward only). A failure before this point leaves the cursor: the
     next poll reads the same blocks again, which is harmless (settled locks are gone, claims exist).
"""
from chalicelib.common.logging import logger
from chalicelib.withdrawals import chain, flows, settings, states, verify
from chalicelib.withdrawals import store as wd_store


def lock_facts(w) -> verify.LockFacts:
    return verify.LockFacts(withdrawal_id=w.withdrawal_id, lock_id=w.lock_id, broker_id=w.locked_by,
                            broker_wallet=w.broker_wallet or "", user_wallet=w.wallet_address,
                            net_amount=w.net_amount, locked_at=w.locked_at or 0)


def poll(w3=None, token: str | None = None, confirmations: int | None = None) -> dict:
    token = token or settings.usdc_address()
    if w3 is None:
        if not settings.rpc_url() or not token:
            return {"skipped": "CHAIN_RPC_URL or USDC_CONTRACT_ADDRESS not set"}
        w3 = chain.connect(settings.rpc_url())
    depth = settings.confirmations() if confirmations is None else confirmations
    head = chain.head(w3)
    safe = verify.safe_head(head, depth)
    start = wd_store.cursor(token)
    if start is None:
        configured = settings.start_block()
        start = configured if configured is not None else max(0, safe - settings.max_block_range() + 1)
    spans = chain.ranges(start, safe, settings.max_block_range(), settings.max_ranges())
    logs = []
    for lo, hi in spans:
        logs.extend(chain.read_range(w3, token, lo, hi))
    locks = [lock_facts(w) for w in wd_store.all_locked() if w.status == states.BROKER_LOCKED and w.lock_id]
    settled = 0
    if logs and locks:
        logs = chain.with_times(w3, logs, verify.candidates(logs, locks))
        for m in verify.match(logs, locks, token, head, depth, skew_s=settings.time_skew_seconds()):
            if flows.settle(m.lock, m.log):
                settled += 1
    if spans:
        wd_store.save_cursor(token, spans[-1][1] + 1)
    result = {"head": head, "confirmedHead": safe, "from": start, "to": spans[-1][1] if spans else None,
              "logs": len(logs), "locks": len(locks), "settled": settled}
    logger.info("chain poll", extra=result)
    return result

"""Sandbox controls (docs/market-maker.md, "Sandbox"): reset an account, drop its WebSocket connections.

reset(account):
  1. claim the next epoch (one atomic ADD on SANDBOX#<account>);
  2. cancel every pending pair and trader order, close every open position, all through the trading service
     (its transactions release the margin and post the ledger entries, as a bot's own calls would);
  3. bring the balance back to SANDBOX_START_BALANCE with one ledger transfer against system:external
     (kind `sandbox_reset`), so the ledger still sums to zero;
  4. archive the history (terminal orders, fills, ended pairs) under the epoch (sandbox/store.py).
A position that cannot be closed (no reference price and no liquidity) is reported in `positionsLeft` and keeps
its margin; the reset is then not complete and says so. A reset is meant for a quiet account: what the account
does while it runs (a new pair, a fill) may survive it.
"""
from decimal import Decimal

from chalicelib import settings
from chalicelib.accounts import store as accounts
from chalicelib.common.clock import now_ms
from chalicelib.common.errors import ApiError, not_found
from chalicelib.common.logging import logger
from chalicelib.ledger import logic as ledger
from chalicelib.ledger.store import Tx
from chalicelib.realtime import broadcaster
from chalicelib.realtime import store as rt
from chalicelib.sandbox import store
from chalicelib.trading import service as trading
from chalicelib.trading import store as trading_store
from chalicelib.trading.orders import PENDING, TRADER

DISABLED = ApiError(404, "NOT_FOUND", "sandbox controls are off on this deployment")


def enabled() -> bool:
    return settings.get().sandbox


def _all(lister, account_id: str, **kw) -> list:
    out, cursor = [], None
    while True:
        items, cursor = lister(account_id, limit=100, cursor=cursor, **kw)
        out += items
        if not cursor:
            return out


def _quietly(fn, *args) -> bool:
    """A cancel/close through the trading service; False when something ended it first (a 4xx)."""
    try:
        fn(*args)
        return True
    except ApiError as e:
        if e.status >= 500:
            raise
        return False


def _end_trading(account_id: str) -> dict:
    pairs = [p.pair_id for p in _all(trading_store.list_pairs, account_id, status=PENDING)]
    cancelled_pairs = sum(_quietly(trading.cancel_pair, account_id, pid) for pid in pairs)
    orders = [o.order_id for o in _all(trading_store.list_orders, account_id, status=PENDING, kind=TRADER)]
    cancelled_orders = sum(_quietly(trading.cancel_trader_or_pair_order, account_id, oid) for oid in orders)
    closed, left = 0, []
    for pos in trading_store.open_positions(account_id):
        if _quietly(trading.close_position, account_id, pos.position_id):
            closed += 1
    left = [p.position_id for p in trading_store.open_positions(account_id)]
    return {"cancelledPairs": cancelled_pairs, "cancelledOrders": cancelled_orders, "closedPositions": closed,
            "positionsLeft": left}


def _restore_balance(account_id: str, epoch: int) -> Decimal:
    start = settings.get().sandbox_start_balance
    balance = accounts.get(account_id, consistent=True).balance
    delta = start - balance
    if delta:
        postings = (ledger.transfer(ledger.SYSTEM_EXTERNAL, account_id, delta) if delta > 0
                    else ledger.transfer(account_id, ledger.SYSTEM_EXTERNAL, -delta))
        Tx().post(postings, kind="sandbox_reset", reference=f"sandbox-reset:{epoch}").commit()
    return delta


def reset(account_id: str) -> dict:
    if accounts.get(account_id) is None:
        raise not_found("account")
    epoch = store.next_epoch(account_id, now_ms())
    ended = _end_trading(account_id)
    delta = _restore_balance(account_id, epoch)
    archived = {"orders": store.archive_orders(account_id, epoch), "fills": store.archive_fills(account_id, epoch),
                "pairs": store.archive_pairs(account_id, epoch)}
    acct = accounts.get(account_id, consistent=True)
    logger.info("sandbox reset", extra={"userId": account_id, "epoch": epoch, **ended})
    return {"ok": not ended["positionsLeft"], "epoch": epoch, "balance": acct.balance,
            "availableBalance": acct.available_balance, "balanceAdjustment": delta, **ended, "archived": archived}


def drop_connections(account_id: str) -> int:
    """Close every WebSocket connection authenticated as the account (API Gateway's delete_connection).

    Connections have no index by user: a Scan of the connections table (sandbox only, a few hundred items)."""
    ids = [c.connection_id for c in rt.Connection.scan(
        (rt.Connection.sk == "C") & (rt.Connection.user_id == account_id))]
    client = broadcaster._client()
    dropped = 0
    for cid in ids:
        try:
            client.delete_connection(ConnectionId=cid)
            dropped += 1
        except client.exceptions.GoneException:
            pass
        except Exception:
            logger.warning("delete_connection failed", extra={"connectionId": cid})
        rt.remove_connection(cid)
    return dropped

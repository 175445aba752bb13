"""Orchestration of the market-maker tools (docs/market-maker.md): reprice-batch, cancel-all, the dead-man's switch
(cancel-all-after), cancel-on-disconnect and market-maker protection (MMP).

Round trips:
  reprice-batch          per entry as a single reprice (1 consistent GetItem + 1 transaction); atomic: true is
                         1 consistent BatchGetItem + 1 TransactWriteItems for the whole batch (at most 16 pairs)
  cancel-all             1 Query of the account's pending pairs (the sparse LIVEPAIRS#<account> index, never a scan)
                         + 1 transaction per 25 pairs (a pair that moved meanwhile: its own re-read and transaction)
  cancel-all-after       1 PutItem + 1 SendMessage (a delayed message on the `mmtimers` queue)
  cancelOnDisconnect     1 PutItem (+ 1 DeleteItem of a disconnect timer it calls off); $disconnect: 1 GetItem,
                         1 Query, 1 PutItem + 1 SendMessage when it was the account's last protected connection
  MMP                    the main-table stream: each liquidity fill is 1 GetItem of the account's MMP item (+ 1
                         conditional PutItem when MMP is on); a trip freezes the account and runs cancel-all
"""
import time
from decimal import Decimal

from chalicelib.common.clock import new_id, now_ms
from chalicelib.common.errors import ApiError, Rejected, refusals_as_api_errors
from chalicelib.common.logging import logger
from chalicelib.ledger.store import ConditionFailed, InsufficientFunds, TxConflict
from chalicelib.trading import mm_store, mmp, pairs, service, store
from chalicelib.trading.models import pair_orders
from chalicelib.trading.orders import PENDING

CANCEL_CHUNK = 25  # pairs cancelled per transaction: 3 items each + the account update = 76 items
ATOMIC_ATTEMPTS = 5
MAX_WAIT_MS = 2000  # a timer message at most this early waits for its deadline (SQS delays are whole seconds)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _due(kind: str, account_id: str, token: str, deadline: int, now: int) -> bool:
    """False when the message came too early (sent again for the rest); else waits out the last second or two."""
    wait = deadline - now
    if wait > MAX_WAIT_MS:
        mm_store.enqueue_timer(kind, account_id, token, deadline, now)
        return False
    if wait > 0:
        _sleep(wait / 1000)
    return True


# ---- cancel-all ---------------------------------------------------------------------------------------------

def cancel_all(account_id: str, symbol: str | None = None, reason: str = "cancelled") -> dict:
    """Every pending pair of the account (of `symbol` when given) cancelled, margin released."""
    items = [p for p in store.live_pairs(account_id, symbol) if p.status == PENDING]
    cancelled: list[str] = []
    released = Decimal(0)
    for i in range(0, len(items), CANCEL_CHUNK):
        chunk = items[i:i + CANCEL_CHUNK]
        plans = []
        for p in chunk:
            try:
                plans.append(pairs.plan_pair_cancel(account_id=account_id, pair_id=p.pair_id, orders=pair_orders(p)))
            except Rejected:
                continue
        changes = [c for plan in plans for c in plan.cancelled]
        try:
            if changes:
                store.commit_cancel(changes, chunk[0].symbol, now_ms(), reason)
            for plan in plans:
                cancelled.append(plan.pair_id)
                released -= plan.account_delta.frozen_margin
        except (ConditionFailed, InsufficientFunds, TxConflict):  # a pair moved on: each on its own, re-read
            for plan in plans:
                try:
                    out = service.cancel_pair(account_id, plan.pair_id)
                except ApiError:  # filled, repriced or cancelled meanwhile
                    continue
                cancelled.append(plan.pair_id)
                released += out["releasedMargin"]
    return {"cancelledPairIds": cancelled, "count": len(cancelled), "releasedMargin": released,
            **({"symbol": symbol} if symbol else {})}


def cancel_all_request(account_id: str, body) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "VALIDATION_ERROR", "request body must be a JSON object")
    symbol = body.get("symbol")
    if symbol is not None:
        symbol = service.symbol_spec(symbol).symbol
    return cancel_all(account_id, symbol)


# ---- reprice-batch -------------------------------------------------------------------------------------------

def _failure(index: int, entry, e: ApiError) -> dict:
    pid = entry.get("pairId") if isinstance(entry, dict) else None
    return {"ok": False, "index": index, "pairId": pid, "status": e.status, **e.body()}


@refusals_as_api_errors
def reprice_batch(account_id: str, body) -> dict:
    """Each entry is a single reprice, in order, each atomic on its own (results in order, a failed one with the
    status and error a single reprice answers); atomic: true makes the whole batch ONE transaction."""
    entries, atomic = mmp.batch_entries(body)
    if atomic:
        return _reprice_atomic(account_id, entries)
    results = []
    for i, entry in enumerate(entries):
        try:
            out = service.reprice(account_id, entry)
            results.append({"ok": True, "index": i, "status": 200, **out})
        except ApiError as e:
            results.append(_failure(i, entry, e))
    ok = sum(1 for r in results if r["status"] == 200)
    return {"atomic": False, "succeeded": ok, "failed": len(results) - ok, "results": results}


def _rejected_batch(results: list[dict], n: int) -> ApiError:
    """An atomic batch refused: 400 with the first failure's error and code (the contract), every entry's outcome
    in `results` (the others: NOT_APPLIED), nothing changed."""
    by_index = {r["index"]: r for r in results}
    full = [by_index.get(i) or {"ok": False, "index": i, "status": 424, "code": "NOT_APPLIED",
                                "error": "not applied: another reprice of the atomic batch failed"}
            for i in range(n)]
    first = min(results, key=lambda r: r["index"])
    return ApiError(400, first["code"], first["error"], first.get("message"), index=first["index"],
                    pairId=first["pairId"], atomic=True, results=full)


def _reprice_atomic(account_id: str, entries: list) -> dict:
    requests, failures = [], []
    for i, entry in enumerate(entries):
        try:
            requests.append(pairs.parse_reprice(entry))
        except Rejected as e:
            failures.append(_failure(i, entry, e.as_api_error()))
    if failures:
        raise _rejected_batch(failures, len(entries))
    for attempt in range(ATOMIC_ATTEMPTS):
        got = store.get_pairs(account_id, [r.pair_id for r in requests])
        now, plans = now_ms(), []
        for i, r in enumerate(requests):
            pair = got.get(r.pair_id)
            try:
                if pair is None or pair.status != PENDING:
                    raise pairs.api_error(pairs.pair_not_pending(r.pair_id))
                plans.append(pairs.plan_reprice(account_id=account_id, request=r, orders=pair_orders(pair),
                                                available=service.INFINITE, new_pair_id=new_id(),
                                                buy_order_id=new_id(), sell_order_id=new_id(), now=now,
                                                spec=service.symbol_spec(pair.symbol)))
            except Rejected as e:
                failures.append(_failure(i, entries[i], e.as_api_error()))
            except ApiError as e:
                failures.append(_failure(i, entries[i], e))
        if failures:
            raise _rejected_batch(failures, len(entries))
        try:
            store.commit_reprices(plans, now)
            return {"atomic": True, "succeeded": len(plans), "failed": 0,
                    "results": [{"ok": True, "index": i, "status": 200, **p.response()}
                                for i, p in enumerate(plans)]}
        except InsufficientFunds:
            service._raise_if_mmp_frozen(account_id)
            raise pairs.api_error(pairs.INSUFFICIENT_MARGIN) from None
        except ConditionFailed as e:
            label = e.tag.rsplit("@", 1)
            index = int(label[1]) if len(label) == 2 and label[1].isdigit() else 0
            if e.tag.startswith(("pair:new", "order:new")):
                err = ApiError(409, "PAIR_ID_IN_USE", f"pairId {plans[index].pair_id} is already used")
            else:
                err = pairs.api_error(pairs.pair_not_pending(requests[index].pair_id)).as_api_error()
            raise _rejected_batch([_failure(index, entries[index], err)], len(entries)) from None
        except TxConflict:
            service.backoff(attempt)
    raise service.Busy()


# ---- the dead-man's switch (cancel-all-after) ---------------------------------------------------------------

@refusals_as_api_errors
def cancel_all_after(account_id: str, body) -> dict:
    """Arm (or refresh) the switch: unless called again within timeoutMs, every pending pair is cancelled (within
    5 s of the deadline). timeoutMs 0 disarms it."""
    timeout = mmp.parse_timeout(body)
    now = now_ms()
    if timeout == 0:
        mm_store.disarm_dead_man(account_id)
        return {"enabled": False, "timeoutMs": 0, "deadline": None, "currentTime": now}
    token, deadline = new_id(), now + timeout
    mm_store.arm_dead_man(account_id, token, timeout, deadline, now)
    try:
        mm_store.enqueue_timer("dms", account_id, token, deadline, now)
    except Exception:  # no queue (misconfigured stage) or SQS down: never an armed switch without its timer
        logger.exception("dead-man's switch timer not sent")
        mm_store.disarm_dead_man(account_id, token)
        raise ApiError(503, "TIMERS_UNAVAILABLE", "the dead-man's switch is unavailable; retry",
                       "The timer queue did not accept the deadline; the switch is not armed") from None
    return {"enabled": True, "timeoutMs": timeout, "deadline": deadline, "currentTime": now}


def _fire_dead_man(account_id: str, token: str, now: int) -> str:
    item = mm_store.get_dead_man(account_id)
    if item is None or item.token != token:
        return "stale"  # refreshed or disarmed since this message was sent
    if not _due("dms", account_id, token, item.deadline, now):
        return "again"
    if not mm_store.disarm_dead_man(account_id, token):
        return "stale"
    out = cancel_all(account_id, reason="cancel-all-after")
    logger.info("dead-man's switch fired", extra={"accountId": account_id, "pairs": out["count"],
                                                  "lateMs": now - item.deadline})
    return "fired"


# ---- cancel-on-disconnect ------------------------------------------------------------------------------------

def ws_cancel_on_disconnect(connection_id: str, user_id: str | None, msg: dict) -> dict:
    """WebSocket {"type": "cancelOnDisconnect", "enabled", "graceMs"} after auth."""
    if not user_id:
        return {"type": "error", "code": "AUTH_REQUIRED", "error": "cancelOnDisconnect needs auth first"}
    try:
        enabled, grace = mmp.parse_cod(msg)
    except Rejected as e:
        return {"type": "error", "code": e.code, "error": e.error}
    if enabled:
        mm_store.enable_cod(user_id, connection_id, grace)
    else:
        mm_store.disable_cod(user_id, connection_id)
    return {"type": "cancelOnDisconnect", "enabled": enabled, **({"graceMs": grace} if enabled else {})}


def ws_disconnected(connection_id: str, user_id: str | None) -> None:
    """$disconnect: when this was the account's last connection with cancel-on-disconnect on, a timer cancels every
    pending pair after its grace window unless a connection of the account enables it again before."""
    if not user_id:
        return
    conn = mm_store.get_cod_conn(user_id, connection_id)
    if conn is None:
        return
    mm_store.disable_cod(user_id, connection_id)
    if mm_store.cod_connections(user_id):
        return  # another connection still protects the quotes
    now, token = now_ms(), new_id()
    deadline = now + conn.grace_ms
    mm_store.set_cod_pending(user_id, token, deadline, connection_id)
    mm_store.enqueue_timer("cod", user_id, token, deadline, now)


def _fire_cod(account_id: str, token: str, now: int) -> str:
    item = mm_store.get_cod_pending(account_id)
    if item is None or item.token != token:
        return "stale"  # a connection re-enabled it within the grace window
    if not _due("cod", account_id, token, item.deadline, now):
        return "again"
    if mm_store.cod_connections(account_id) or not mm_store.clear_cod_pending(account_id, token):
        return "stale"
    out = cancel_all(account_id, reason="cancel-on-disconnect")
    logger.info("cancel-on-disconnect fired", extra={"accountId": account_id, "pairs": out["count"],
                                                     "lateMs": now - item.deadline})
    return "fired"


def fire_timer(body: dict | None, now: int | None = None) -> str:
    """One message of the `mmtimers` queue."""
    if not body or body.get("kind") not in ("dms", "cod") or not isinstance(body.get("accountId"), str) \
            or not isinstance(body.get("token"), str):
        return "ignored"
    now = now if now is not None else now_ms()
    fire = _fire_dead_man if body["kind"] == "dms" else _fire_cod
    return fire(body["accountId"], body["token"], now)


# ---- market-maker protection ---------------------------------------------------------------------------------

def _config(item) -> mmp.MmpConfig | None:
    if item is None or not item.window_ms:
        return None
    return mmp.MmpConfig(item.window_ms, item.quantity_limit, item.frozen_ms)


def mmp_view(account_id: str) -> dict:
    item = mm_store.get_mmp(account_id)
    cfg = _config(item)
    until, now = mm_store.frozen_until(account_id), now_ms()
    frozen = mmp.is_frozen(until, now)
    out = {"enabled": cfg is not None, **(cfg.view() if cfg else {}), "frozen": frozen,
           "frozenUntil": until if frozen and until < mmp.FOREVER else None}
    if cfg is not None:
        window = mmp.inside(cfg, map(mmp.WindowFill.decode, item.fills), now)
        out["windowQuantity"] = sum((f.quantity for f in window), Decimal(0))
    return out


@refusals_as_api_errors
def put_mmp(account_id: str, body) -> dict:
    cfg = mmp.parse_config(body)
    now = now_ms()
    prev = mm_store.get_mmp(account_id)
    if cfg is None:
        if prev is not None:
            prev.delete()
        return mmp_view(account_id)
    item = mm_store.Mmp(*mm_store.Mmp.key(account_id), window_ms=cfg.window_ms, quantity_limit=cfg.quantity_limit,
                        frozen_ms=cfg.frozen_ms, fills=[], version=(prev.version + 1) if prev else 1, updated_at=now)
    item.save()
    return mmp_view(account_id)


def reset_mmp(account_id: str) -> dict:
    """POST /api/liquidity/mmp/reset: the freeze lifted and the window emptied."""
    mm_store.set_frozen_until(account_id, None)
    for _ in range(3):
        item = mm_store.get_mmp(account_id)
        if item is None:
            break
        version = item.version
        item.fills, item.tripped_at, item.version, item.updated_at = [], None, version + 1, now_ms()
        if mm_store.save_mmp(item, version):
            break
    return mmp_view(account_id)


def on_liquidity_fill(fill: dict) -> bool:
    """A liquidity fill of the main-table stream (a FILLS# image): count it in the owner's MMP window; on a trip
    freeze the account, then cancel every pending pair. Returns True when it tripped."""
    account_id = fill.get("account_id")
    if not account_id or fill.get("order_kind") != "liquidity":
        return False
    new = mmp.WindowFill(int(fill["ts"]), Decimal(str(fill["quantity"])), str(fill.get("fill_id")))
    for _ in range(5):
        item = mm_store.get_mmp(account_id)
        cfg = _config(item)
        if cfg is None:
            return False
        step = mmp.record_fill(cfg, map(mmp.WindowFill.decode, item.fills), new)
        if step.duplicate:
            return False
        version = item.version
        item.fills = [f.encode() for f in step.fills]
        item.version, item.updated_at = version + 1, now_ms()
        if step.tripped:
            item.tripped_at = new.ts
        if mm_store.save_mmp(item, version):
            break
    else:
        raise RuntimeError(f"MMP window of {account_id} kept changing")
    if not step.tripped:
        return False
    mm_store.set_frozen_until(account_id, mmp.frozen_until(cfg, new.ts))
    out = cancel_all(account_id, reason="mmp")
    logger.info("market-maker protection tripped", extra={"accountId": account_id, "pairs": out["count"],
                                                          "windowQuantity": str(step.window_quantity)})
    return True

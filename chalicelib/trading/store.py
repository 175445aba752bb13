"""Trading repository: reads of orders, pairs, positions and fills, and the conditional transactions that apply
the pure plans (chalicelib.trading.matching / pairs) — each plan step is ONE DynamoDB transaction built on
chalicelib.ledger.store.Tx, so order changes, pair endings, positions, fills, balances and ledger entries commit
together or not at all. Item layout: chalicelib/trading/models.py.

Conditions that make the concurrent cases safe:
  * an existing order is changed only while `status = pending` (trader orders also on their `version`);
  * a pair is ended, cancelled or repriced only while `status = pending`;
  * a position is written only on the `version` it was read at (a new one: only if it does not exist);
  * new orders, pairs and clientOrderId claims only if they do not exist;
  * the account update (Tx) only if no balance field goes below zero — the margin check.

Also the functions other capabilities call: best_bid_ask / depth (market data), unrealized_pnl_for (accounts),
orders_for / positions_for / fills_for (Broker API v1).
"""
import uuid
from dataclasses import dataclass, field
from decimal import Decimal


from chalicelib import config
from chalicelib.common import paging
from chalicelib.common.decimals import exact
from chalicelib.ledger import logic as ledger
from chalicelib.ledger.store import Tx
from chalicelib.storage.db import connection, get_or_none
from chalicelib.storage.models import Account
from chalicelib.trading import keys
from chalicelib.trading.margin import MONEY_QUANTUM
from chalicelib.trading.matching import Fill, Settlement, aggregate_depth
from chalicelib.trading.models import (ClientOrderClaim, FillItem, MmpFreeze, OrderItem, PairItem, PositionItem,
                                       order_item, to_order, to_position)
from chalicelib.trading.orders import BUY, LIQUIDITY, PENDING, SELL, Order, OrderChange
from chalicelib.trading.positions import FLAT, PositionChange, unrealized_pnl

ZERO = Decimal(0)
MAX_TX_ITEMS = 100  # DynamoDB's limit of items per transaction
DEPTH_SCAN_CAP = 2000  # book items read at most to build one depth snapshot


# ---- reads ------------------------------------------------------------------------------------------------

def get_order(order_id: str, consistent: bool = True) -> OrderItem | None:
    return get_or_none(OrderItem, *OrderItem.key(order_id), consistent_read=consistent)


def get_pair(account_id: str, pair_id: str, consistent: bool = True) -> PairItem | None:
    return get_or_none(PairItem, *PairItem.key(account_id, pair_id), consistent_read=consistent)


def book(symbol: str, kind: str, side: str, bound: str | None = None, limit: int | None = None,
         page_size: int | None = None) -> list[OrderItem]:
    """Pending orders of one book (symbol, kind, side), best price first, then oldest. With `bound`
    (keys.crossing_bound) only the orders whose key sorts below it: exactly the ones that cross."""
    cond = OrderItem.gsi1sk < bound if bound is not None else None
    return list(OrderItem.book.query(keys.book_partition(symbol, kind, side), cond, limit=limit,
                                     page_size=page_size or (min(limit, 500) if limit else 500)))


def liquidation_candidates(symbol: str, reference: Decimal, limit: int | None = None) -> list[PositionItem]:
    """Open positions whose (rounded-towards-the-mark) liquidation price the reference reaches: a superset of
    what positions.should_liquidate confirms, read by a range query on the liquidation index."""
    out = []
    for side in (BUY, SELL):
        out += list(PositionItem.liquidation.query(
            keys.liquidation_partition(symbol, side), PositionItem.gsi2sk < keys.crossing_bound(side, reference),
            limit=limit, page_size=min(limit, 500) if limit else 500))
    return out


def _batch_get(item_keys: list[tuple[str, str]]) -> list[dict]:
    """Strongly consistent BatchGetItem of main-table keys (raw DynamoDB JSON items); one call per 100 keys."""
    client = connection().client
    table = config.table_name("main")
    out = []
    unique = list(dict.fromkeys(item_keys))
    for i in range(0, len(unique), 100):
        request = {table: {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in unique[i:i + 100]],
                           "ConsistentRead": True}}
        for _ in range(8):
            resp = client.batch_get_item(RequestItems=request)
            out += resp.get("Responses", {}).get(table, [])
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise RuntimeError("BatchGetItem kept returning unprocessed keys")
    return out


def read_positions(symbol: str, account_ids, with_account: str | None = None
                   ) -> tuple[Account | None, dict[str, PositionItem | None]]:
    """The positions of `account_ids` in `symbol` (None: never had one) and optionally one account item, in one
    strongly consistent BatchGetItem."""
    account_ids = sorted(set(account_ids))
    item_keys = [PositionItem.key(a, symbol) for a in account_ids]
    if with_account:
        item_keys.append(Account.key(with_account))
    positions: dict[str, PositionItem | None] = {a: None for a in account_ids}
    account = None
    for raw in _batch_get(item_keys) if item_keys else []:
        pk = raw["pk"]["S"]
        if pk.startswith("ACCT#"):
            account = Account.from_raw_data(raw)
        else:
            item = PositionItem.from_raw_data(raw)
            positions[item.account_id] = item
    return account, positions


def get_pairs(account_id: str, pair_ids) -> dict[str, PairItem]:
    """Several pairs of one account in one strongly consistent BatchGetItem (reprice-batch with atomic: true)."""
    raw = _batch_get([PairItem.key(account_id, p) for p in pair_ids])
    return {i.pair_id: i for i in map(PairItem.from_raw_data, raw)}


def positions_of(account_id: str) -> list[PositionItem]:
    """Every position item of an account (one per symbol ever traded; flat ones included)."""
    return list(PositionItem.query(f"POS#{account_id}", consistent_read=True))


def get_position(account_id: str, symbol: str) -> PositionItem | None:
    return get_or_none(PositionItem, *PositionItem.key(account_id, symbol), consistent_read=True)


# ---- pagination ---------------------------------------------------------------------------------------------

def _page(source, hash_value: str, *, attrs: tuple[str, ...], hash_attr: str, limit: int, cursor: str | None,
          filter_condition=None, consistent: bool = False) -> tuple[list, str | None]:
    return paging.query_page(source, hash_value, key_attrs=attrs, hash_attr=hash_attr, limit=limit, cursor=cursor,
                             filter_condition=filter_condition, consistent=consistent)


def list_orders(account_id: str, *, symbol=None, status=None, kind=None, limit=50, cursor=None):
    cond = None
    for c in ((OrderItem.symbol == symbol) if symbol else None, (OrderItem.status == status) if status else None,
              (OrderItem.kind == kind) if kind else None):
        if c is not None:
            cond = c if cond is None else cond & c
    return _page(OrderItem.by_account, f"ORDERS#{account_id}", attrs=("pk", "sk", "gsi2pk", "gsi2sk"),
                 hash_attr="gsi2pk", limit=limit, cursor=cursor, filter_condition=cond)


def list_pairs(account_id: str, *, symbol=None, status=None, limit=50, cursor=None):
    cond = None
    for c in ((PairItem.symbol == symbol) if symbol else None, (PairItem.status == status) if status else None):
        if c is not None:
            cond = c if cond is None else cond & c
    return _page(PairItem.by_account, f"PAIRS#{account_id}", attrs=("pk", "sk", "gsi2pk", "gsi2sk"),
                 hash_attr="gsi2pk", limit=limit, cursor=cursor, filter_condition=cond)


def list_fills(account_id: str, *, symbol=None, limit=50, cursor=None):
    cond = (FillItem.symbol == symbol) if symbol else None
    return _page(FillItem, f"FILLS#{account_id}", attrs=("pk", "sk"), hash_attr="pk", limit=limit, cursor=cursor,
                 filter_condition=cond, consistent=True)


# ---- writing plans ---------------------------------------------------------------------------------------

@dataclass
class WriteContext:
    """What a settlement's writes are conditioned on: the state its plan was made from."""
    symbol: str
    now: int
    positions: dict[str, PositionItem | None] = field(default_factory=dict)  # stored item each change starts from
    order_versions: dict[str, int] = field(default_factory=dict)  # trader orders read from storage
    partners: dict[str, Order] = field(default_factory=dict)  # new liquidity order id -> its partner
    reference: str | None = None  # ledger reference
    reasons: dict[str, str] = field(default_factory=dict)  # order id -> reason of a cancel/reject
    fills: list = field(default_factory=list)  # FillItems staged so far


def _merge_orders(changes: list[OrderChange]) -> list[OrderChange]:
    merged: dict[str, OrderChange] = {}
    for ch in changes:
        prev = merged.get(ch.after.order_id)
        merged[ch.after.order_id] = OrderChange(prev.before, ch.after) if prev else ch
    return list(merged.values())


def _order_update(tx: Tx, ch: OrderChange, ctx: WriteContext) -> None:
    o = ch.after
    actions = [OrderItem.status.set(o.status), OrderItem.filled_quantity.set(o.filled_quantity),
               OrderItem.frozen_margin.set(o.frozen_margin), OrderItem.updated_at.set(ctx.now)]
    if o.avg_fill_price is not None:
        actions.append(OrderItem.avg_fill_price.set(o.avg_fill_price))
    cond = OrderItem.status == PENDING
    version = ctx.order_versions.get(o.order_id)
    if version is not None:
        cond &= OrderItem.version == version
        actions.append(OrderItem.version.set(version + 1))
    else:
        actions.append(OrderItem.version.add(1))
    if o.status != PENDING:
        actions += [OrderItem.gsi1pk.remove(), OrderItem.gsi1sk.remove()]
        if ctx.reasons.get(o.order_id):
            actions.append(OrderItem.reason.set(ctx.reasons[o.order_id]))
    tx.update(OrderItem(*OrderItem.key(o.order_id)), actions=actions, condition=cond, tag=f"order:{o.order_id}")
    if o.status != PENDING and o.client_order_id:
        tx.delete(ClientOrderClaim(*ClientOrderClaim.key(o.account_id, o.client_order_id)),
                  condition=ClientOrderClaim.pk.does_not_exist() | (ClientOrderClaim.order_id == o.order_id),
                  tag="claim")


def _new_order(tx: Tx, o: Order, ctx: WriteContext) -> None:
    tx.put(order_item(o, ctx.now, ctx.partners.get(o.order_id), ctx.reasons.get(o.order_id)),
           condition=OrderItem.pk.does_not_exist(), tag=f"order:new:{o.order_id}")
    if o.client_order_id:
        claim_key = ClientOrderClaim.key(o.account_id, o.client_order_id)
        if o.status == PENDING:
            tx.put(ClientOrderClaim(*claim_key, order_id=o.order_id), condition=ClientOrderClaim.pk.does_not_exist(),
                   tag="claim:new")
        else:  # it does not stay open: only no open order may hold the id
            tx.check(ClientOrderClaim, *claim_key, condition=ClientOrderClaim.pk.does_not_exist(), tag="claim:new")


def _end_pairs(tx: Tx, changes: list[OrderChange], ctx: WriteContext) -> None:
    """Every liquidity order that leaves `pending` ends its pair: one conditional update of the pair item."""
    ended: dict[tuple[str, str], list[Order]] = {}
    for ch in changes:
        o = ch.after
        if ch.before is not None and o.kind == LIQUIDITY and o.pair_id and o.status != PENDING:
            ended.setdefault((o.account_id, o.pair_id), []).append(o)
    for (account_id, pair_id), orders in ended.items():
        filled = any(o.filled_quantity > 0 for o in orders)
        side_status = {BUY: "cancelled", SELL: "cancelled"}
        for o in orders:
            side_status[o.side] = o.status
        tx.update(PairItem(*PairItem.key(account_id, pair_id)), actions=[
            PairItem.status.set("filled" if filled else "cancelled"), PairItem.updated_at.set(ctx.now),
            PairItem.buy_status.set(side_status[BUY]), PairItem.sell_status.set(side_status[SELL]),
            PairItem.gsi1pk.remove(), PairItem.gsi1sk.remove()],
            condition=PairItem.status == PENDING, tag=f"pair:{pair_id}")


def position_item(account_id: str, symbol: str, change: PositionChange, prev: PositionItem | None,
                  now: int) -> PositionItem:
    """The position item after `change`. A position opened from flat (or the new side of a flip) gets a new
    positionId; a closed one keeps its id, its realized PnL and leaves the liquidation index."""
    after = change.after
    prev_open = prev is not None and prev.side != FLAT
    continues = prev_open and (after.is_flat or after.side == prev.side)
    with exact():
        if continues:
            position_id, opened_at, realized = prev.position_id, prev.opened_at, prev.realized_pnl + change.realized_pnl
        elif after.is_flat:  # stays flat (nothing to close): keep whatever was there
            position_id = prev.position_id if prev is not None else str(uuid.uuid4())
            opened_at, realized = (prev.opened_at, prev.realized_pnl) if prev is not None else (None, ZERO)
        else:  # opened from flat, or flipped: a new position
            position_id, opened_at, realized = str(uuid.uuid4()), now, ZERO
    item = PositionItem(*PositionItem.key(account_id, symbol), account_id=account_id, symbol=symbol,
                        position_id=position_id, side=after.side, quantity=after.quantity, cost=after.cost,
                        margin=after.margin, leverage=after.leverage, realized_pnl=realized, opened_at=opened_at,
                        updated_at=now, version=(prev.version + 1) if prev is not None else 1)
    if not after.is_flat:
        side, sk = keys.liquidation_key(after, account_id)
        item.gsi2pk, item.gsi2sk = keys.liquidation_partition(symbol, side), sk
    return item


def _trade_ids(fills: list[Fill]) -> list[str]:
    """A taker fill and its maker's fill (next to it, naming each other) share one trade id."""
    ids, open_ = [], {}
    for f in fills:
        k = (f.order_id, f.counterparty_order_id)
        if f.counterparty_order_id and (f.counterparty_order_id, f.order_id) in open_:
            ids.append(open_.pop((f.counterparty_order_id, f.order_id)))
            continue
        tid = str(uuid.uuid4())
        if f.counterparty_order_id:
            open_[k] = tid
        ids.append(tid)
    return ids


def fill_items(fills: list[Fill], symbol: str, now: int, taker_id: str | None) -> list[FillItem]:
    out = []
    for seq, (f, tid) in enumerate(zip(fills, _trade_ids(fills))):
        fid = uuid.uuid4().hex
        role = "liquidation" if f.liquidation else ("taker" if f.order_id == taker_id else "maker")
        out.append(FillItem(*FillItem.key(f.account_id, now, seq, fid), fill_id=fid, trade_id=tid,
                            account_id=f.account_id, order_id=f.order_id, symbol=symbol, side=f.side,
                            quantity=f.quantity, price=f.price, order_kind=f.order_kind, role=role,
                            counterparty=f.counterparty, counterparty_order_id=f.counterparty_order_id,
                            pair_id=f.pair_id, liquidation=f.liquidation, ts=now))
    return out


def add_settlement(tx: Tx, s: Settlement, ctx: WriteContext, *, taker_id: str | None = None
                   ) -> dict[str, PositionItem]:
    """Stage one Settlement of a plan into `tx`; returns the position items it writes (after the commit, the next
    settlement of the same plan starts from them)."""
    changes = _merge_orders(s.orders)
    for ch in changes:
        if ch.before is None:
            _new_order(tx, ch.after, ctx)
        else:
            _order_update(tx, ch, ctx)
    _end_pairs(tx, changes, ctx)
    written = {}
    for account_id, pc in s.positions.items():
        prev = ctx.positions.get(account_id)
        item = position_item(account_id, ctx.symbol, pc, prev, ctx.now)
        cond = PositionItem.pk.does_not_exist() if prev is None else (PositionItem.version == prev.version)
        tx.put(item, condition=cond, tag=f"position:{account_id}")
        written[account_id] = item
    for item in fill_items(s.fills, ctx.symbol, ctx.now, taker_id):
        tx.put(item, condition=FillItem.pk.does_not_exist(), tag="fill")
        ctx.fills.append(item)
    with exact():
        postings = [ledger.Posting(a, pc.realized_pnl) for a, pc in sorted(s.positions.items())
                    if pc.realized_pnl != 0]
        if postings:
            total = sum((p.amount for p in postings), ZERO)
            if total != 0:
                postings.append(ledger.Posting(ledger.SYSTEM_HOUSE, -total))
            tx.post(postings, kind="liquidation" if s.kind == "liquidation" else "realized_pnl",
                    reference=ctx.reference)
        for account_id, d in sorted(s.accounts.items()):
            realized = s.positions[account_id].realized_pnl if account_id in s.positions else ZERO
            if d.balance != realized:
                raise AssertionError(f"settlement balance of {account_id} is not its realized PnL")
            if d.frozen_margin:
                tx.freeze(account_id, d.frozen_margin)
            if d.position_margin:
                tx.hold_position_margin(account_id, d.position_margin)
    if tx.size > MAX_TX_ITEMS:
        raise TooLarge(tx.size)
    return written


class TooLarge(Exception):
    """A plan step would exceed DynamoDB's 100 items per transaction."""


def reject_order(o: Order, reason: str, now: int) -> None:
    item = order_item(o, now, reason=reason)
    item.save(condition=OrderItem.pk.does_not_exist())


# ---- pairs -----------------------------------------------------------------------------------------------

def pair_item(plan, now: int, replaces: str | None = None) -> PairItem:
    b, s = plan.buy, plan.sell
    return PairItem(*PairItem.key(b.account_id, plan.pair_id), pair_id=plan.pair_id, account_id=b.account_id,
                    symbol=b.symbol, quantity=b.quantity, leverage=b.leverage, bid_price=b.price, ask_price=s.price,
                    buy_order_id=b.order_id, sell_order_id=s.order_id, buy_margin=b.margin, sell_margin=s.margin,
                    buy_status=PENDING, sell_status=PENDING, status=PENDING, replaces=replaces, created_at=b.created_at,
                    updated_at=now, gsi2pk=f"PAIRS#{b.account_id}", gsi2sk=f"{b.created_at:013d}#{plan.pair_id}",
                    gsi1pk=PairItem.live_key(b.account_id, b.symbol, plan.pair_id)[0],
                    gsi1sk=PairItem.live_key(b.account_id, b.symbol, plan.pair_id)[1])


def _stage_new_pair(tx: Tx, plan, now: int, replaces: str | None = None, label: str = "") -> None:
    tx.put(pair_item(plan, now, replaces), condition=PairItem.pk.does_not_exist(), tag=f"pair:new{label}")
    tx.put(order_item(plan.buy, now, plan.sell), condition=OrderItem.pk.does_not_exist(), tag=f"order:new{label}")
    tx.put(order_item(plan.sell, now, plan.buy), condition=OrderItem.pk.does_not_exist(), tag=f"order:new{label}")


def not_frozen(tx: Tx, account_id: str, now: int) -> None:
    """Market-maker protection: the account update of the transaction also requires no MMP freeze in force
    (a condition on an item the transaction already writes: no extra read, no extra item)."""
    tx.require(account_id, MmpFreeze.mmp_frozen_until.does_not_exist() | (MmpFreeze.mmp_frozen_until <= now))


def commit_new_pair(plan, now: int) -> None:
    """A new pair: the pair item (the pairId claim), both orders and the frozen margin of both sides."""
    tx = Tx(now=now)
    _stage_new_pair(tx, plan, now)
    tx.freeze(plan.buy.account_id, plan.frozen_margin)
    not_frozen(tx, plan.buy.account_id, now)
    tx.commit()


def stage_reprice(tx: Tx, plan, now: int, label: str = "") -> None:
    """The items of one reprice (6, plus the account's update shared by every reprice of the transaction).
    `label` tells the pairs of a batch apart in the tags of a failed condition (pair:old<label>, ...)."""
    account_id = plan.buy.account_id
    for ch in plan.cancelled:
        o = ch.after
        tx.update(OrderItem(*OrderItem.key(o.order_id)), actions=[
            OrderItem.status.set(o.status), OrderItem.frozen_margin.set(ZERO), OrderItem.updated_at.set(now),
            OrderItem.reason.set("repriced"), OrderItem.version.add(1), OrderItem.gsi1pk.remove(),
            OrderItem.gsi1sk.remove()], condition=OrderItem.status == PENDING, tag=f"order:{o.order_id}{label}")
    tx.update(PairItem(*PairItem.key(account_id, plan.old_pair_id)), actions=[
        PairItem.status.set("repriced"), PairItem.buy_status.set("cancelled"), PairItem.sell_status.set("cancelled"),
        PairItem.replaced_by.set(plan.pair_id), PairItem.updated_at.set(now), PairItem.gsi1pk.remove(),
        PairItem.gsi1sk.remove()],
        condition=PairItem.status == PENDING, tag=f"pair:old{label}")
    _stage_new_pair(tx, plan, now, replaces=plan.old_pair_id, label=label)
    tx.freeze(account_id, plan.frozen_margin - plan.released_margin)
    not_frozen(tx, account_id, now)


def commit_reprice(plan, now: int) -> None:
    """ONE transaction: the old pair repriced and both old orders cancelled (each only while pending), the new pair
    and its orders created (only if new), and the account's frozen margin moved by new - released in one
    conditional update (available >= new - released, i.e. the check counts the released margin; and no MMP
    freeze)."""
    tx = Tx(now=now)
    stage_reprice(tx, plan, now)
    tx.commit()


def commit_reprices(plans: list, now: int) -> None:
    """Several reprices of one account as ONE transaction (reprice-batch with atomic: true): 6 items per pair + the
    one account update; a failed condition's tag ends with "@<index>" of the pair."""
    tx = Tx(now=now)
    for i, plan in enumerate(plans):
        stage_reprice(tx, plan, now, label=f"@{i}")
    if tx.size > MAX_TX_ITEMS:
        raise TooLarge(tx.size)
    tx.commit()


def live_pairs(account_id: str, symbol: str | None = None, limit: int = 5000) -> list[PairItem]:
    """The account's pending pairs (optionally of one symbol), from the sparse LIVEPAIRS# index: a Query, never
    a scan (eventually consistent: the cancel transactions are conditioned on the pair still pending)."""
    pk = PairItem.live_key(account_id, "", "")[0]
    cond = PairItem.gsi1sk.startswith(f"{symbol}#") if symbol else None
    return list(PairItem.live.query(pk, cond, limit=limit, page_size=500))


def commit_cancel(changes: list[OrderChange], symbol: str, now: int, reason: str,
                  order_versions: dict[str, int] | None = None) -> None:
    """Cancel pending orders (a whole pair, or one trader order): orders, pair item, claim and released margin."""
    s = Settlement("cancel")
    for ch in changes:
        s._add_order(ch)
    ctx = WriteContext(symbol, now, order_versions=dict(order_versions or {}),
                       reasons={ch.after.order_id: reason for ch in changes})
    tx = Tx(now=now)
    add_settlement(tx, s, ctx)
    tx.commit()


# ---- market data hooks, other capabilities -------------------------------------------------------------------

def best_bid_ask(symbol: str) -> tuple[Decimal | None, Decimal | None]:
    """Best pending liquidity prices: the first key of each liquidity book (two one-item queries)."""
    bid = book(symbol, LIQUIDITY, BUY, limit=1)
    ask = book(symbol, LIQUIDITY, SELL, limit=1)
    return (bid[0].price if bid else None, ask[0].price if ask else None)


def _levels(symbol: str, side: str, limit: int) -> list[Order]:
    out, prices = [], set()
    for item in OrderItem.book.query(keys.book_partition(symbol, LIQUIDITY, side), page_size=100,
                                     limit=DEPTH_SCAN_CAP):
        if item.price not in prices and len(prices) >= limit:
            break
        prices.add(item.price)
        out.append(to_order(item))
    return out


def depth(symbol: str, limit: int) -> dict:
    """{"bids": [[price, quantity]], "asks": [...]}: pending liquidity aggregated per price, best first."""
    orders = _levels(symbol, BUY, limit) + _levels(symbol, SELL, limit)
    return aggregate_depth(orders, limit)


def reference_price(symbol: str) -> Decimal | None:
    from chalicelib.marketdata import events as md  # the latest pushed price
    return md.reference_price(symbol)


def open_positions(user_id: str) -> list[PositionItem]:
    return [p for p in positions_of(user_id) if p.side != FLAT]


def marks(symbols) -> dict[str, Decimal | None]:
    return {s: reference_price(s) for s in set(symbols)}


def unrealized_pnl_for(user_id: str) -> Decimal:
    """Σ unrealized PnL of the account's open positions at the latest reference prices (8 decimals)."""
    positions = open_positions(user_id)
    if not positions:
        return ZERO
    mark = marks(p.symbol for p in positions)
    with exact():
        total = sum((unrealized_pnl(to_position(p), mark[p.symbol]) for p in positions
                     if mark[p.symbol] is not None), ZERO)
        return total.quantize(MONEY_QUANTUM)


def positions_for(user_id: str) -> list[dict]:
    from chalicelib.trading.views import position_view_of
    positions = open_positions(user_id)
    mark = marks(p.symbol for p in positions)
    return [position_view_of(p, mark[p.symbol]) for p in positions]


def orders_for(user_id: str, limit: int = 100) -> list[dict]:
    from chalicelib.trading.views import order_view
    return [order_view(o) for o in list_orders(user_id, limit=limit)[0]]


def fills_for(user_id: str, limit: int = 100) -> list[dict]:
    from chalicelib.trading.views import fill_view
    return [fill_view(f) for f in list_fills(user_id, limit=limit)[0]]


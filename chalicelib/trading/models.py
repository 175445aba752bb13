"""Trading items of the main table (pynamodb) and their conversion to the pure domain values.

  Order      pk=ORDER#<orderId>                  sk=O
             gsi1 (only while pending: sparse) gsi1pk=BOOK#<symbol>#<trader|liquidity>#<buy|sell>
                                               gsi1sk=keys.book_key(side, price, createdAt, orderId)
             gsi2 gsi2pk=ORDERS#<accountId>     gsi2sk=<createdAt:013d>#<orderId>
             A liquidity order also carries its partner's id, price and margin (partner_*): both sides of a pair
             only ever change together, so a crossing order read from the book is enough to end its pair.
  Pair       pk=PAIR#<accountId>#<pairId>        sk=P      the pairId claim (never deleted) and the pair's state:
             both orders' ids, prices, margins and statuses, quantity, leverage (a reprice reads only this item)
             gsi2 gsi2pk=PAIRS#<accountId>      gsi2sk=<createdAt:013d>#<pairId>
             gsi1 (only while pending: sparse) gsi1pk=LIVEPAIRS#<accountId>  gsi1sk=<symbol>#<pairId>
             (the account's pending pairs: cancel-all and the market-maker protections query it, never scan)
  Position   pk=POS#<accountId>                  sk=<symbol>   side, quantity, cost, margin, leverage, version
             gsi2 (only while open: sparse)    gsi2pk=LIQ#<symbol>#<buy|sell>  gsi2sk=keys.liquidation_key(...)
  Fill       pk=FILLS#<accountId>                sk=<ts:013d>#<seq:03d>#<fillId>
  Claim      pk=COID#<accountId>#<clientOrderId> sk=C      exists while the order with that clientOrderId is open

pairIds are per account (another account's pairId is neither a conflict nor a hint that it exists).
"""
from decimal import Decimal
from typing import Any, Mapping

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute

from chalicelib.storage.db import DecimalAttribute, Gsi1, Gsi2, IntAttribute, MainModel, register
from chalicelib.trading import keys
from chalicelib.trading.orders import BUY, LIQUIDITY, PENDING, SELL, Order, opposite
from chalicelib.trading.positions import FLAT, Position

ZERO = Decimal(0)


@register
class OrderItem(MainModel):
    order_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    symbol = UnicodeAttribute()
    side = UnicodeAttribute()
    type = UnicodeAttribute()
    kind = UnicodeAttribute()
    quantity = DecimalAttribute()
    price = DecimalAttribute(null=True)
    leverage = IntAttribute(default=1)
    margin = DecimalAttribute(default=Decimal)
    frozen_margin = DecimalAttribute(default=Decimal)
    filled_quantity = DecimalAttribute(default=Decimal)
    avg_fill_price = DecimalAttribute(null=True)
    status = UnicodeAttribute()
    pair_id = UnicodeAttribute(null=True)
    client_order_id = UnicodeAttribute(null=True)
    reduce_only = BooleanAttribute(default=False)
    reason = UnicodeAttribute(null=True)  # why it was rejected / cancelled
    partner_order_id = UnicodeAttribute(null=True)
    partner_price = DecimalAttribute(null=True)
    partner_margin = DecimalAttribute(null=True)
    created_at = IntAttribute()
    updated_at = IntAttribute()
    version = IntAttribute(default=1)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    book = Gsi1()
    by_account = Gsi2()

    @staticmethod
    def key(order_id: str) -> tuple[str, str]:
        return f"ORDER#{order_id}", "O"


@register
class PairItem(MainModel):
    pair_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    symbol = UnicodeAttribute()
    quantity = DecimalAttribute()
    leverage = IntAttribute(default=1)
    bid_price = DecimalAttribute()
    ask_price = DecimalAttribute()
    buy_order_id = UnicodeAttribute()
    sell_order_id = UnicodeAttribute()
    buy_margin = DecimalAttribute()
    sell_margin = DecimalAttribute()
    buy_status = UnicodeAttribute(default=PENDING)
    sell_status = UnicodeAttribute(default=PENDING)
    status = UnicodeAttribute(default=PENDING)  # pending | filled | cancelled | repriced
    replaces = UnicodeAttribute(null=True)  # the pairId this one repriced
    replaced_by = UnicodeAttribute(null=True)
    created_at = IntAttribute()
    updated_at = IntAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    live = Gsi1()
    by_account = Gsi2()

    @staticmethod
    def key(account_id: str, pair_id: str) -> tuple[str, str]:
        return f"PAIR#{account_id}#{pair_id}", "P"

    @staticmethod
    def live_key(account_id: str, symbol: str, pair_id: str) -> tuple[str, str]:
        return f"LIVEPAIRS#{account_id}", f"{symbol}#{pair_id}"


@register
class PositionItem(MainModel):
    account_id = UnicodeAttribute()
    symbol = UnicodeAttribute()
    position_id = UnicodeAttribute()
    side = UnicodeAttribute(default=FLAT)
    quantity = DecimalAttribute(default=Decimal)
    cost = DecimalAttribute(default=Decimal)
    margin = DecimalAttribute(default=Decimal)
    leverage = IntAttribute(default=1)
    realized_pnl = DecimalAttribute(default=Decimal)  # of the position since it opened (information)
    opened_at = IntAttribute(null=True)
    updated_at = IntAttribute()
    version = IntAttribute(default=1)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    liquidation = Gsi2()

    @staticmethod
    def key(account_id: str, symbol: str) -> tuple[str, str]:
        return f"POS#{account_id}", symbol


@register
class FillItem(MainModel):
    fill_id = UnicodeAttribute()
    trade_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    order_id = UnicodeAttribute(null=True)
    symbol = UnicodeAttribute()
    side = UnicodeAttribute()
    quantity = DecimalAttribute()
    price = DecimalAttribute()
    order_kind = UnicodeAttribute()  # trader | liquidity | position (a liquidation)
    role = UnicodeAttribute()  # taker (a new order) | maker (a resting order) | liquidation
    counterparty = UnicodeAttribute()  # trader | liquidity | house
    counterparty_order_id = UnicodeAttribute(null=True)
    pair_id = UnicodeAttribute(null=True)
    liquidation = BooleanAttribute(default=False)
    ts = IntAttribute()

    @staticmethod
    def key(account_id: str, ts: int, seq: int, fill_id: str) -> tuple[str, str]:
        return f"FILLS#{account_id}", f"{ts:013d}#{seq:03d}#{fill_id}"


@register
class ClientOrderClaim(MainModel):
    order_id = UnicodeAttribute()

    @staticmethod
    def key(account_id: str, client_order_id: str) -> tuple[str, str]:
        return f"COID#{account_id}#{client_order_id}", "C"


@register
class MmpFreeze(MainModel):
    """The market-maker protection freeze: one attribute of the ACCOUNT item (key of storage.models.Account), so
    that a new pair or reprice checks it as a condition of the account update it already makes."""
    mmp_frozen_until = IntAttribute(null=True)  # ms; no new pairs / reprices before it

    @staticmethod
    def key(user_id: str) -> tuple[str, str]:
        return f"ACCT#{user_id}", "A"


# ---- domain <-> items ---------------------------------------------------------------------------------------

def values(item) -> Mapping[str, Any]:
    """An item's attributes as a mapping (a model instance, or a stream image already deserialized)."""
    return item.attribute_values if hasattr(item, "attribute_values") else item


def _int(v, default=0) -> int:
    return int(v) if v is not None else default


def _dec(v, default=ZERO) -> Decimal:
    return Decimal(v) if v is not None else default


def to_order(item) -> Order:
    d = values(item)
    return Order(order_id=d["order_id"], account_id=d["account_id"], symbol=d["symbol"], side=d["side"],
                 type=d["type"], kind=d["kind"], quantity=_dec(d["quantity"]),
                 price=_dec(d.get("price"), None), leverage=_int(d.get("leverage"), 1),
                 created_at=_int(d.get("created_at")), margin=_dec(d.get("margin")),
                 frozen_margin=_dec(d.get("frozen_margin")), filled_quantity=_dec(d.get("filled_quantity")),
                 avg_fill_price=_dec(d.get("avg_fill_price"), None), status=d["status"], pair_id=d.get("pair_id"),
                 client_order_id=d.get("client_order_id"), reduce_only=bool(d.get("reduce_only")))


def partner_of(item) -> Order | None:
    """The other side of a liquidity order's pair, as it is while the pair is pending (from partner_*)."""
    d = values(item)
    if d.get("kind") != LIQUIDITY or not d.get("partner_order_id"):
        return None
    margin = _dec(d.get("partner_margin"))
    return Order(order_id=d["partner_order_id"], account_id=d["account_id"], symbol=d["symbol"],
                 side=opposite(d["side"]), type=d["type"], kind=LIQUIDITY, quantity=_dec(d["quantity"]),
                 price=_dec(d["partner_price"]), leverage=_int(d.get("leverage"), 1),
                 created_at=_int(d.get("created_at")), margin=margin, frozen_margin=margin, status=PENDING,
                 pair_id=d.get("pair_id"))


def pair_orders(item) -> list[Order]:
    """Both orders of a pair from the pair item alone (their state as the pair item records it)."""
    d = values(item)
    out = []
    for side, oid, price, margin, status in ((BUY, d["buy_order_id"], d["bid_price"], d["buy_margin"],
                                              d.get("buy_status", PENDING)),
                                             (SELL, d["sell_order_id"], d["ask_price"], d["sell_margin"],
                                              d.get("sell_status", PENDING))):
        margin = _dec(margin)
        out.append(Order(order_id=oid, account_id=d["account_id"], symbol=d["symbol"], side=side, type="limit",
                         kind=LIQUIDITY, quantity=_dec(d["quantity"]), price=_dec(price),
                         leverage=_int(d.get("leverage"), 1), created_at=_int(d.get("created_at")), margin=margin,
                         frozen_margin=margin if status == PENDING else ZERO, status=status,
                         pair_id=d["pair_id"]))
    return out


def order_item(o: Order, now: int, partner: Order | None = None, reason: str | None = None) -> OrderItem:
    """A new order's item (version 1), in the book index while pending."""
    item = OrderItem(*OrderItem.key(o.order_id), order_id=o.order_id, account_id=o.account_id, symbol=o.symbol,
                     side=o.side, type=o.type, kind=o.kind, quantity=o.quantity, price=o.price, leverage=o.leverage,
                     margin=o.margin, frozen_margin=o.frozen_margin, filled_quantity=o.filled_quantity,
                     avg_fill_price=o.avg_fill_price, status=o.status, pair_id=o.pair_id,
                     client_order_id=o.client_order_id, reduce_only=o.reduce_only, reason=reason,
                     created_at=o.created_at, updated_at=now, version=1,
                     gsi2pk=f"ORDERS#{o.account_id}", gsi2sk=f"{o.created_at:013d}#{o.order_id}")
    if partner is not None:
        item.partner_order_id, item.partner_price, item.partner_margin = \
            partner.order_id, partner.price, partner.margin
    if o.status == PENDING and o.price is not None:
        item.gsi1pk = keys.book_partition(o.symbol, o.kind, o.side)
        item.gsi1sk = keys.book_key(o.side, o.price, o.created_at, o.order_id)
    return item


def to_position(item) -> Position:
    if item is None:
        return Position()
    d = values(item)
    if d.get("side", FLAT) == FLAT:
        return Position()
    return Position(d["side"], _dec(d["quantity"]), _dec(d["cost"]), _dec(d["margin"]), _int(d.get("leverage"), 1))

"""The contract's JSON shapes of orders, pairs, positions and fills (pure: a mapping of attributes in, dict out).

Each takes an item's attribute mapping (models.values(item)): a pynamodb item or a main-table stream image, so
the HTTP routes and the private WebSocket channels show exactly the same thing.
"""
from decimal import Decimal
from typing import Any, Mapping

from chalicelib.trading.models import to_position, values
from chalicelib.trading.positions import position_view


def _n(v):
    return Decimal(v) if v is not None else None


def _i(v):
    return int(v) if v is not None else None


def order_view(item) -> dict:
    d: Mapping[str, Any] = values(item)
    out = {
        "orderId": d["order_id"], "clientOrderId": d.get("client_order_id"), "symbol": d["symbol"],
        "side": d["side"], "type": d["type"], "price": _n(d.get("price")), "quantity": _n(d["quantity"]),
        "filledQuantity": _n(d.get("filled_quantity")) or Decimal(0), "avgFillPrice": _n(d.get("avg_fill_price")),
        "leverage": _i(d.get("leverage")) or 1, "margin": _n(d.get("margin")) or Decimal(0),
        "frozenMargin": _n(d.get("frozen_margin")) or Decimal(0), "status": d["status"], "kind": d["kind"],
        "meta": {"pairId": d.get("pair_id")}, "reduceOnly": bool(d.get("reduce_only")),
        "createdAt": _i(d.get("created_at")), "updatedAt": _i(d.get("updated_at")),
    }
    if d.get("reason"):
        out["reason"] = d["reason"]
    return out


def pair_view(item) -> dict:
    d = values(item)
    return {
        "pairId": d["pair_id"], "symbol": d["symbol"], "bidPrice": _n(d["bid_price"]), "askPrice": _n(d["ask_price"]),
        "quantity": _n(d["quantity"]), "leverage": _i(d.get("leverage")) or 1, "buyOrderId": d["buy_order_id"],
        "sellOrderId": d["sell_order_id"], "status": d["status"],
        "frozenMargin": sum((_n(d[m]) for m, s in (("buy_margin", "buy_status"), ("sell_margin", "sell_status"))
                             if d.get(s, "pending") == "pending"), Decimal(0)),
        "replaces": d.get("replaces"), "replacedBy": d.get("replaced_by"),
        "createdAt": _i(d.get("created_at")), "updatedAt": _i(d.get("updated_at")),
    }


def position_view_of(item, mark: Decimal | None) -> dict:
    d = values(item)
    out = {"positionId": d["position_id"], "symbol": d["symbol"]}
    out.update(position_view(to_position(d), mark))
    out["realizedPnl"] = _n(d.get("realized_pnl")) or Decimal(0)
    out["updatedAt"] = _i(d.get("updated_at"))
    return out


def fill_view(item) -> dict:
    d = values(item)
    return {
        "tradeId": d["trade_id"], "fillId": d["fill_id"], "orderId": d.get("order_id"), "symbol": d["symbol"],
        "side": d["side"], "price": _n(d["price"]), "quantity": _n(d["quantity"]), "role": d["role"],
        "counterparty": d["counterparty"], "liquidation": bool(d.get("liquidation")),
        "meta": {"pairId": d.get("pair_id")}, "ts": _i(d["ts"]),
    }


def public_trade(item) -> dict:
    """A trade as the public `trades` channel shows it (no account, no order ids)."""
    d = values(item)
    return {"tradeId": d["trade_id"], "symbol": d["symbol"], "price": _n(d["price"]),
            "quantity": _n(d["quantity"]), "side": d["side"], "liquidation": bool(d.get("liquidation")),
            "ts": _i(d["ts"])}

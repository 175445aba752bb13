"""Orchestration of market data's endpoints (marketdata/routes.py): custom symbols, the depth snapshot."""
from decimal import Decimal

from chalicelib.common.clock import now_ms
from chalicelib.common.errors import bad_request, conflict
from chalicelib.marketdata import fanout, logic, store


def create_symbol(principal, b):
    """A broker's custom symbol; returns its SymbolConfig."""
    if not logic.valid_symbol(b.symbol):
        raise bad_request("symbol must match ^[A-Z0-9]{3,20}$", "INVALID_SYMBOL")
    min_qty = b.minQuantity if b.minQuantity is not None else Decimal(1).scaleb(-b.quantityPrecision)
    if logic.decimals_of(min_qty) > b.quantityPrecision:
        raise bad_request("minQuantity has more decimals than quantityPrecision", "INVALID_MIN_QUANTITY")
    cfg = store.SymbolConfig(symbol=b.symbol, name=b.name or b.symbol, custom=True,
                             price_precision=b.pricePrecision, quantity_precision=b.quantityPrecision,
                             min_quantity=min_qty, max_leverage=b.maxLeverage, owner_id=principal.user_id,
                             created_at=now_ms())
    try:
        store.create_symbol(cfg)
    except store.SymbolExists:
        raise conflict(f"symbol {b.symbol} already exists", "SYMBOL_EXISTS") from None
    return cfg


def depth_snapshot(symbol: str, limit: int = fanout.DEPTH_LEVELS) -> dict:
    """The book now, with the sequence of the latest depth broadcast (read first, consistently: a broadcast
    that claims its sequence after this read carries a book at least as new as this one)."""
    seq = store.get_state(symbol).depth_seq
    return fanout.depth_view(symbol, limit, seq)

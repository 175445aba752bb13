"""Response models of the market data endpoints (OpenAPI only: see chalicelib/common/responses.py)."""
from pydantic import Field

from chalicelib.common.responses import Money, Ms, View


class SymbolView(View):
    """marketdata.routes.symbol_view: bid/ask are the best pending liquidity prices (null when none)."""
    symbol: str
    name: str | None
    custom: bool
    pricePrecision: int
    quantityPrecision: int
    minQuantity: Money
    maxLeverage: int
    lastPrice: Money | None
    bid: Money | None
    ask: Money | None
    ts: Ms | None


class PriceFeedView(View):
    ok: bool
    symbol: str
    price: Money
    ts: Ms


class TickerView(View):
    symbol: str
    price: Money | None
    bid: Money | None
    ask: Money | None
    ts: Ms | None
    nextMatchAt: Ms


class CandleView(View):
    """logic.candle_view."""
    beyond_contract = ('closeTime',)
    openTime: Ms
    closeTime: Ms
    open: Money
    high: Money
    low: Money
    close: Money
    volume: Money
    ticks: int


Level = list[Money]  # [price, quantity]


class DepthView(View):
    """fanout.depth_view: levels [price, quantity], best first; seq +1 per change; checksum CRC32 (Kraken's)."""
    symbol: str
    bids: list[Level]
    asks: list[Level]
    ts: Ms
    seq: int
    checksum: int = Field(ge=0)


Symbols = list[SymbolView]
Candles = list[CandleView]

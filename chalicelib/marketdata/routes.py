"""HTTP endpoints of market data (Blueprint registered by app.py). Its WebSocket channels (ticker, kline, depth,
trades) are registered by chalicelib/wiring.py.

The price-feed request path is: authenticate (session read), validate, symbol config (code for built-ins, a
cached read for custom ones), ONE PutItem into the ticks table, answer. Everything else happens behind the
ticks table's stream (events.py).
"""
from chalice import Blueprint
from pydantic import BaseModel, ConfigDict

from chalicelib.auth import guards
from chalicelib.common.clock import now_ms
from chalicelib.common.errors import ApiError, bad_request
from chalicelib.common.http import route
from chalicelib.common.schemas import Body, Int, PositiveDecimal, ShortStr, Str
from chalicelib.marketdata import book, logic, service, store

bp = Blueprint(__name__)


Precision = Int(ge=0, le=12)
Leverage = Int(ge=1, le=1000)


class SymbolBody(Body):
    symbol: Str
    name: ShortStr | None = None
    pricePrecision: Precision = 2
    quantityPrecision: Precision = 4
    minQuantity: PositiveDecimal | None = None
    maxLeverage: Leverage = 100


class PriceFeedBody(Body):
    symbol: Str
    price: PositiveDecimal | None = None
    bid: PositiveDecimal | None = None
    ask: PositiveDecimal | None = None


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, defer_build=True)


class SymbolQuery(Query):
    symbol: str


class KlinesQuery(Query):
    symbol: str
    interval: str = "1m"
    limit: Int(ge=1, le=1000) = 500
    startTime: Int(ge=0) | None = None
    endTime: Int(ge=0) | None = None


class DepthQuery(Query):
    symbol: str
    limit: Int(ge=1, le=500) = 20


def unknown_symbol(symbol: str) -> ApiError:
    return bad_request(f"unknown symbol {symbol!r}", "UNKNOWN_SYMBOL")


def known(symbol: str) -> store.SymbolConfig:
    cfg = store.get_symbol(symbol)
    if cfg is None:
        raise unknown_symbol(symbol)
    return cfg


def symbol_view(cfg: store.SymbolConfig, state=None, bid=None, ask=None) -> dict:
    return {"symbol": cfg.symbol, "name": cfg.name, "custom": cfg.custom, "pricePrecision": cfg.price_precision,
            "quantityPrecision": cfg.quantity_precision, "minQuantity": cfg.min_quantity,
            "maxLeverage": cfg.max_leverage, "lastPrice": getattr(state, "last_price", None), "bid": bid,
            "ask": ask, "ts": getattr(state, "last_ts", None)}


# --- symbols -----------------------------------------------------------------------------------------------

@route(bp, "/api/symbols", ["GET"], response="chalicelib.marketdata.responses:Symbols")
def list_symbols(req):
    configs = store.list_symbols()
    states = store.get_states([c.symbol for c in configs]) if configs else {}
    return [symbol_view(c, states.get(c.symbol), *book.best_bid_ask(c.symbol)) for c in configs]


@route(bp, "/api/broker/symbols", ["POST"], auth=guards.broker_or_admin, body=SymbolBody, idempotent=True,
       status=201, response="chalicelib.marketdata.responses:SymbolView", errors=(409,))
def create_symbol(req):
    return symbol_view(service.create_symbol(req.principal, req.body))


# --- the price feed ----------------------------------------------------------------------------------------

@route(bp, "/api/broker/price-feed", ["POST"], auth=guards.broker_or_admin, body=PriceFeedBody,
       response="chalicelib.marketdata.responses:PriceFeedView")
def price_feed(req):
    b: PriceFeedBody = req.body
    cfg = known(b.symbol)
    p = req.principal
    if not p.is_admin and not (cfg.custom and cfg.owner_id == p.user_id):
        raise ApiError(403, "NOT_SYMBOL_OWNER", f"only the broker that created {b.symbol} (or an admin) may push "
                                                f"its price")
    try:
        price = logic.round_price(logic.feed_price(b.price, b.bid, b.ask), cfg.price_precision)
    except logic.PriceError as e:
        raise bad_request(str(e), e.code) from None
    ts = now_ms()
    store.put_tick(cfg.symbol, price, ts, by=p.user_id)
    return {"ok": True, "symbol": cfg.symbol, "price": price, "ts": ts}


# --- market data -------------------------------------------------------------------------------------------

@route(bp, "/api/ticker", ["GET"], query=SymbolQuery, response="chalicelib.marketdata.responses:TickerView")
def ticker(req):
    cfg = known(req.query.symbol)
    tick = store.latest_tick(cfg.symbol)
    state = store.get_state(cfg.symbol, consistent=False)
    bid, ask = book.best_bid_ask(cfg.symbol)
    price, ts = (tick.price, tick.ts) if tick else (state.last_price, state.last_ts)
    return {"symbol": cfg.symbol, "price": price, "bid": bid, "ask": ask, "ts": ts,
            "nextMatchAt": logic.next_match_at(now_ms(), state.match_at)}


@route(bp, "/api/klines", ["GET"], query=KlinesQuery, response="chalicelib.marketdata.responses:Candles")
def klines(req):
    q: KlinesQuery = req.query
    if q.interval not in logic.INTERVALS:
        raise bad_request(f"interval must be one of {', '.join(logic.INTERVALS)}", "INVALID_INTERVAL")
    if q.startTime is not None and q.endTime is not None and q.startTime > q.endTime:
        raise bad_request("startTime must not be after endTime", "INVALID_RANGE")
    cfg = known(q.symbol)
    start = logic.bucket(q.startTime, q.interval) if q.startTime is not None else None
    candles = store.query_candles(cfg.symbol, q.interval, start, q.endTime, q.limit)
    return [logic.candle_view(c, q.interval) for c in candles if c.open is not None]  # volume-only: no ticks yet


@route(bp, "/api/depth", ["GET"], query=DepthQuery, response="chalicelib.marketdata.responses:DepthView")
def depth(req):
    cfg = known(req.query.symbol)
    return service.depth_snapshot(cfg.symbol, req.query.limit)

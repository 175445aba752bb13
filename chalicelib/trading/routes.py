"""HTTP endpoints of the trading capability (Blueprint registered by app.py): orders, positions, fills and the
Market Maker API (liquidity pairs). Thin: validate, call chalicelib.trading.service, shape the answer.
The main-table stream publishers (events.py) are registered by chalicelib/wiring.py, not by importing this module.
"""
import functools
from typing import Annotated, Any

from chalice import Blueprint
from pydantic import BeforeValidator

from chalicelib.auth import guards
from chalicelib.common import errors
from chalicelib.common.errors import ApiError, Rejected, bad_request
from chalicelib.common.http import json_response, parse_json_body, route
from chalicelib.common.schemas import Body, Number, PageQuery, ShortStr, Str
from chalicelib.trading import mm_service, service, store
from chalicelib.trading.views import fill_view, order_view, pair_view

bp = Blueprint(__name__)

ORDER_STATUSES = ("pending", "filled", "cancelled", "rejected")
PAIR_STATUSES = ("pending", "filled", "cancelled", "repriced")


class OrderBody(Body):
    symbol: Str
    side: Str
    type: Str
    quantity: Number  # numbers parsed by the shared parser; sign, precision and range: the domain (margin.py)
    price: Number | None = None
    leverage: Number = 1
    clientOrderId: ShortStr | None = None


class PairBody(Body):
    symbol: Str
    pairId: ShortStr | None = None
    bidPrice: Number
    askPrice: Number
    quantity: Number
    leverage: Number = 1


def _blank_is_missing(v):
    return None if v == "" else v


class RepriceBody(Body):
    """Optional here: a missing field is the guide's MISSING_FIELDS (trading.pairs.parse_reprice), not a 400 of
    the validation layer; a present number goes through the shared parser like every other."""
    pairId: Any = None
    newBidPrice: Annotated[Number | None, BeforeValidator(_blank_is_missing)] = None
    newAskPrice: Annotated[Number | None, BeforeValidator(_blank_is_missing)] = None
    newPairId: Any = None


class CancelPairBody(Body):
    pairId: ShortStr


class OrdersQuery(PageQuery):
    symbol: str | None = None
    status: str | None = None
    kind: str | None = None


class PairsQuery(PageQuery):
    symbol: str | None = None
    status: str | None = None


class TradesQuery(PageQuery):
    symbol: str | None = None


def _listing(items, next_cursor):
    headers = {"X-Next-Cursor": next_cursor} if next_cursor else None
    return json_response(items, 200, headers)


def _one_of(value, allowed, name):
    if value is not None and value not in allowed:
        raise bad_request(f"{name} must be one of {', '.join(allowed)}", "VALIDATION_ERROR")
    return value


# ---- the Market Maker API: LIQUIDITY_UNAVAILABLE instead of a bare error when tables/config are missing -----

def _unavailable(e: BaseException | None) -> bool:
    for _ in range(10):
        if e is None:
            return False
        if getattr(e, "cause_response_code", None) == "ResourceNotFoundException" or \
                type(e).__name__ in ("TableDoesNotExist", "ResourceNotFoundException"):
            return True
        resp = getattr(e, "response", None)
        if isinstance(resp, dict) and (resp.get("Error") or {}).get("Code") == "ResourceNotFoundException":
            return True
        e = e.__cause__ or e.__context__
    return False


def liquidity_unavailable() -> ApiError:
    return errors.LIQUIDITY_UNAVAILABLE.exc()


def _guarded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ApiError, Rejected):
            raise
        except Exception as e:
            if _unavailable(e):
                raise liquidity_unavailable() from e
            raise
    return wrapper


liquidity_auth = _guarded(guards.any_user)


# ---- orders ------------------------------------------------------------------------------------------------

@route(bp, "/api/orders", ["POST"], auth=guards.any_user, body=OrderBody, idempotent=True, status=201,
       response="chalicelib.trading.responses:PlacedOrderView", errors=(409,))
def place_order(req):
    b: OrderBody = req.body
    return 201, service.place_order(req.principal.user_id, symbol=b.symbol, side=b.side, type=b.type,
                                    quantity=b.quantity, price=b.price, leverage=b.leverage,
                                    client_order_id=b.clientOrderId)


@route(bp, "/api/orders", ["GET"], auth=guards.any_user, query=OrdersQuery,
       response="chalicelib.trading.responses:Orders")
def list_orders(req):
    q: OrdersQuery = req.query
    _one_of(q.status, ORDER_STATUSES, "status")
    _one_of(q.kind, ("trader", "liquidity"), "kind")
    items, nxt = store.list_orders(req.principal.user_id, symbol=q.symbol, status=q.status, kind=q.kind,
                                   limit=q.limit, cursor=q.cursor)
    return _listing([order_view(i) for i in items], nxt)


@route(bp, "/api/orders/{order_id}", ["GET"], auth=guards.any_user, response="chalicelib.trading.responses:OrderView")
def get_order(req, order_id):
    return order_view(service.get_own_order(req.principal.user_id, order_id))


@route(bp, "/api/orders/{order_id}", ["DELETE"], auth=guards.any_user,
       response="chalicelib.trading.responses:CancelledOrderView")
def cancel_order(req, order_id):
    return service.cancel_trader_or_pair_order(req.principal.user_id, order_id)


# ---- positions and fills -----------------------------------------------------------------------------------

@route(bp, "/api/positions", ["GET"], auth=guards.any_user, response="chalicelib.trading.responses:Positions")
def list_positions(req):
    return store.positions_for(req.principal.user_id)


@route(bp, "/api/positions/{position_id}/close", ["POST"], auth=guards.any_user, idempotent=True,
       response="chalicelib.trading.responses:ClosedPositionView")
def close_position(req, position_id):
    return service.close_position(req.principal.user_id, position_id)


@route(bp, "/api/trades", ["GET"], auth=guards.any_user, query=TradesQuery,
       response="chalicelib.trading.responses:Fills")
def list_trades(req):
    q: TradesQuery = req.query
    items, nxt = store.list_fills(req.principal.user_id, symbol=q.symbol, limit=q.limit, cursor=q.cursor)
    return _listing([fill_view(i) for i in items], nxt)


# ---- liquidity pairs (Market Maker API) --------------------------------------------------------------------

@route(bp, "/api/liquidity/pairs", ["POST"], auth=liquidity_auth, body=PairBody, idempotent=True, status=201,
       response="chalicelib.trading.responses:PlacedPairView", errors=(409,))
@_guarded
def place_pair(req):
    b: PairBody = req.body
    return 201, service.place_pair(req.principal.user_id, symbol=b.symbol, pair_id=b.pairId, bid_price=b.bidPrice,
                                   ask_price=b.askPrice, quantity=b.quantity, leverage=b.leverage)


@route(bp, "/api/liquidity/reprice", ["POST"], auth=liquidity_auth, body=RepriceBody, idempotent=True,
       response="chalicelib.trading.responses:RepricedPairView", errors=(409,))
@_guarded
def reprice(req):
    return service.reprice(req.principal.user_id, req.body.model_dump())


@route(bp, "/api/liquidity/cancel", ["POST"], auth=liquidity_auth, body=CancelPairBody,
       response="chalicelib.trading.responses:CancelledPairView")
@_guarded
def cancel_pair(req):
    return service.cancel_pair(req.principal.user_id, req.body.pairId)


@route(bp, "/api/liquidity/pairs", ["GET"], auth=liquidity_auth, query=PairsQuery,
       response="chalicelib.trading.responses:Pairs")
@_guarded
def list_pairs(req):
    q: PairsQuery = req.query
    _one_of(q.status, PAIR_STATUSES, "status")
    items, nxt = store.list_pairs(req.principal.user_id, symbol=q.symbol, status=q.status, limit=q.limit,
                                  cursor=q.cursor)
    return _listing([pair_view(i) for i in items], nxt)



# ---- market-maker tools (docs/market-maker.md) ------------------------------------------------------------

@route(bp, "/api/liquidity/reprice-batch", ["POST"], auth=liquidity_auth, idempotent=True,
       response="chalicelib.trading.responses:RepriceBatchView", errors=(409,))
@_guarded
def reprice_batch(req):
    return mm_service.reprice_batch(req.principal.user_id, parse_json_body(req.raw))


@route(bp, "/api/liquidity/cancel-all", ["POST"], auth=liquidity_auth,
       response="chalicelib.trading.responses:CancelAllView")
@_guarded
def cancel_all(req):
    return mm_service.cancel_all_request(req.principal.user_id, parse_json_body(req.raw))


@route(bp, "/api/liquidity/cancel-all-after", ["POST"], auth=liquidity_auth,
       response="chalicelib.trading.responses:CancelAllAfterView")
@_guarded
def cancel_all_after(req):
    return mm_service.cancel_all_after(req.principal.user_id, parse_json_body(req.raw))


@route(bp, "/api/liquidity/mmp", ["GET"], auth=liquidity_auth, response="chalicelib.trading.responses:MmpView")
@_guarded
def get_mmp(req):
    return mm_service.mmp_view(req.principal.user_id)


@route(bp, "/api/liquidity/mmp", ["PUT"], auth=liquidity_auth, response="chalicelib.trading.responses:MmpView")
@_guarded
def put_mmp(req):
    return mm_service.put_mmp(req.principal.user_id, parse_json_body(req.raw))


@route(bp, "/api/liquidity/mmp/reset", ["POST"], auth=liquidity_auth, response="chalicelib.trading.responses:MmpView")
@_guarded
def reset_mmp(req):
    return mm_service.reset_mmp(req.principal.user_id)

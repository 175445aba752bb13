"""The caller's own account."""
from decimal import Decimal

from chalice import Blueprint

from chalicelib.accounts import store
from chalicelib.accounts.logic import account_view, validate_wallet
from chalicelib.auth import guards
from chalicelib.common.errors import bad_request, session_invalid
from chalicelib.common.http import route
from chalicelib.common.schemas import Body, Str

bp = Blueprint(__name__)


class WalletBody(Body):
    walletAddress: Str


def unrealized_pnl(user_id: str) -> Decimal:
    """Sum of unrealized PnL over the account's open positions (the trading capability provides it)."""
    from chalicelib.trading.store import unrealized_pnl_for  # lazy: keeps the API Lambda's cold start small
    return unrealized_pnl_for(user_id)


def my_account(user_id: str) -> dict:
    acct = store.get(user_id)
    if acct is None:
        raise session_invalid()
    return account_view(acct, unrealized_pnl(user_id))


@route(bp, "/api/accounts/me", ["GET"], auth=guards.any_user, response="chalicelib.accounts.responses:AccountView")
def me(req):
    return my_account(req.principal.user_id)


@route(bp, "/api/accounts/me/wallet", ["PUT"], auth=guards.any_user, body=WalletBody,
       response="chalicelib.accounts.responses:AccountView")
def set_wallet(req):
    try:
        address = validate_wallet(req.body.walletAddress)
    except ValueError as e:
        raise bad_request(str(e), "INVALID_WALLET") from None
    store.set_wallet(req.principal.user_id, address)
    return my_account(req.principal.user_id)

"""SSO login: a broker-signed JWT becomes a session of the broker's client (broker, user_id).

    SsoJti   pk=SSOJTI#<brokerId>#<jti>   sk=J   ttl   a jti accepted once (conditional put; TTL = token lifetime)

The client is the same account v1 `POST /api/v1/broker/clients` makes for (broker, user_id): the first login
creates it through `chalicelib.broker.store.create_client` (with the `client.created` webhook in the same
transaction), later logins find it through the claim `client#<brokerId>#<user_id>`.
"""
import time
from dataclasses import dataclass

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError

from chalicelib.accounts import store as accounts
from chalicelib.accounts.logic import validate_wallet
from chalicelib.auth import store as sessions
from chalicelib.auth.sso import SsoConfig, SsoInvalid, tenant_code, verify
from chalicelib.common import secretbox
from chalicelib.common.errors import ApiError
from chalicelib.storage import db
from chalicelib.storage.db import IntAttribute, MainModel, register
from chalicelib.storage.models import Account, Unique


@register
class SsoJti(MainModel):
    broker_id = UnicodeAttribute()
    ttl = IntAttribute()

    @staticmethod
    def key(broker_id: str, jti: str) -> tuple[str, str]:
        return f"SSOJTI#{broker_id}#{jti}", "J"


@dataclass
class SsoLogin:
    token: str               # the platform session token
    account: Account
    logout_redirect_url: str | None
    created: bool


def invalid(reason: str) -> ApiError:
    return ApiError(401, "SSO_INVALID", f"Invalid SSO token: {reason}", "The SSO JWT was rejected; nothing was created")


def _broker_for(code: str) -> Account:
    owner = accounts.get_unique("tenant", code.lower())
    broker = accounts.get(owner) if owner else None
    if broker is None or broker.role != "broker" or not broker.tenant_code:
        raise SsoInvalid("unknown tenant_code")
    return broker


def _config(broker: Account) -> SsoConfig:
    algorithm = broker.sso_algorithm or ("HS256" if broker.sso_secret else None)
    if algorithm == "HS256":
        if not broker.sso_secret:
            raise SsoInvalid("SSO is not configured for this broker")
        try:
            key = secretbox.open_(broker.sso_secret, aad=f"sso:{broker.user_id}")
        except ValueError:
            raise SsoInvalid("SSO is not configured for this broker") from None
    elif algorithm in ("RS256", "ES256"):
        key = broker.sso_public_key
    else:
        raise SsoInvalid("SSO is not configured for this broker")
    return SsoConfig(algorithm=algorithm, key=key or "", tenant_code=broker.tenant_code)


def _claim_jti(broker_id: str, jti: str, expires_at: int) -> None:
    try:
        SsoJti(*SsoJti.key(broker_id, jti), broker_id=broker_id, ttl=expires_at + 3600).save(
            condition=SsoJti.pk.does_not_exist())
    except PutError as e:
        if db.is_condition_failure(e):
            raise SsoInvalid("jti already used") from None
        raise


def _find_client(broker_id: str, user_id: str) -> Account | None:
    from chalicelib.broker import logic as broker_logic
    claim = db.get_or_none(Unique, *Unique.key(*broker_logic.client_claim(broker_id, user_id)), consistent_read=True)
    return accounts.get(claim.owner_id, consistent=True) if claim is not None else None


def _wallet(claims) -> str | None:
    if not claims.wallet_address:
        return None
    try:
        return validate_wallet(claims.wallet_address)
    except ValueError as e:
        raise SsoInvalid(f"wallet_address: {e}") from None


def _create_client(broker: Account, claims, wallet: str | None) -> tuple[Account, bool]:
    from chalicelib.broker import events, logic as broker_logic, store as broker_store
    staged = {}

    def with_event(tx, acct):
        ev = events.prepare("client.created", acct, {
            "user_id": claims.user_id, "account_id": acct.user_id, "username": acct.username, "email": acct.email,
            "broker_id": broker.user_id, "source": "sso", "created_at": broker_logic.iso(acct.created_at)},
            now=acct.created_at)
        ev.stage(tx)
        staged["ev"] = ev

    try:
        acct = broker_store.create_client(broker, claims.user_id, email=claims.email, wallet_address=wallet,
                                          tx_extra=with_event)
    except ApiError as e:
        if e.code != "CLIENT_EXISTS":
            raise
        acct = _find_client(broker.user_id, claims.user_id)  # a concurrent first login won the race
        if acct is None:
            raise
        return acct, False
    staged["ev"].dispatch()
    return acct, True


def login(token, now: float | None = None) -> SsoLogin:
    """Verify the JWT and open a session for its (broker, user_id); ApiError 401 SSO_INVALID when rejected."""
    now = time.time() if now is None else now
    try:
        broker = _broker_for(tenant_code(token))
        claims = verify(token, _config(broker), now)
        wallet = _wallet(claims)
        if claims.jti:
            _claim_jti(broker.user_id, claims.jti, claims.expires_at)
        acct = _find_client(broker.user_id, claims.user_id)
        created = False
        if acct is None:
            acct, created = _create_client(broker, claims, wallet)
    except SsoInvalid as e:
        raise invalid(e.reason) from None
    if acct.role in ("admin", "system"):
        raise invalid("not a client account")
    session = sessions.create_session(acct.user_id, acct.role)
    return SsoLogin(token=session, account=acct, logout_redirect_url=claims.logout_redirect_url, created=created)

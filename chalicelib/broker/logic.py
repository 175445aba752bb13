"""Broker API rules and views (pure): ISO times, SSO-style usernames, amounts, webhook signatures."""
import datetime as dt
import hashlib
import hmac
from decimal import Decimal

MAX_AMOUNT = Decimal("1000000000000")  # 1e12 DCT: far above any real transfer, keeps numbers sane
AMOUNT_DECIMALS = 6  # USDC precision: 1 DCT = 1 USDC


def iso(ms: int | None) -> str | None:
    """Milliseconds since the epoch -> ISO-8601 UTC with milliseconds ('2025-01-02T03:04:05.678Z')."""
    if ms is None:
        return None
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def client_username(broker_uid: str, user_id: str, short_len: int = 6) -> str:
    """`sso_{brokerShort}_{user_id}`: brokerShort = the first 6 characters of the broker's uid (a UUID: hex, the
    first dash is at 8); user_id whole, never truncated. short_len > 6 only to break a rare username collision."""
    return f"sso_{broker_uid.replace('-', '')[:short_len]}_{user_id}"


def client_claim(broker_uid: str, user_id: str) -> tuple[str, str]:
    """The identity of a broker's client: (broker, user_id). The same claim the widget's register and SSO use."""
    return "client", f"{broker_uid}#{user_id}"


def check_amount(amount: Decimal) -> str | None:
    """An error text when `amount` is not a valid transfer amount, else None."""
    if amount <= 0:
        return "amount must be greater than 0"
    if amount > MAX_AMOUNT:
        return f"amount must not exceed {MAX_AMOUNT}"
    if -amount.normalize().as_tuple().exponent > AMOUNT_DECIMALS:
        return f"amount has more than {AMOUNT_DECIMALS} decimal places"
    return None


def sign(body: bytes, secret: str) -> str:
    """X-Webhook-Signature: 'sha256=' + hex HMAC-SHA256 of the raw body with the webhook secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str, secret: str) -> bool:
    return hmac.compare_digest(sign(body, secret), signature or "")

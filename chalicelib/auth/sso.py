"""SSO JWT verification (pure: no I/O, no clock reads; the caller passes the broker's settings and `now`).

A broker's backend signs a JWT with its SSO secret (HS256) or the private half of its registered public key
(RS256 / ES256). The algorithm is pinned per broker (admin `POST /api/admin/brokers`, `ssoAlgorithm`).

Order of the checks, so that nothing the token says chooses how it is verified:
1. `tenant_code(token)` reads the one claim needed to find the broker, as an opaque lookup key (base64 of the
   payload segment; the header, and so its `alg`, is never read for any decision).
2. The caller looks the broker up by that tenant code and passes `SsoConfig(algorithm, key, tenant_code)`.
3. `verify(token, cfg, now)` calls PyJWT with `algorithms=[cfg.algorithm]` (one algorithm: `none` and
   algorithm confusion fail inside PyJWT) and the broker's key, then checks time, tenant and user claims on the
   verified payload only. Any failure is SsoInvalid (HTTP 401, nothing written).
"""
import base64
import json
from dataclasses import dataclass

import jwt

from chalicelib.accounts.logic import USER_ID_RE

MAX_AGE_S = 300          # no token older than 5 minutes
CLOCK_SKEW_S = 30        # tolerated difference between the broker's clock and ours
ALGORITHMS = ("HS256", "RS256", "ES256")
MAX_TOKEN_CHARS = 8192


class SsoInvalid(Exception):
    """The token is not acceptable; `reason` is safe to show (it never echoes the token)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SsoConfig:
    algorithm: str      # HS256 | RS256 | ES256, from the broker record
    key: str            # HS256: the shared secret; RS256/ES256: the PEM public key
    tenant_code: str


@dataclass(frozen=True)
class SsoClaims:
    user_id: str
    email: str | None
    wallet_address: str | None
    logout_redirect_url: str | None
    jti: str | None
    expires_at: int      # seconds since the epoch: until when a replay of this token must be refused


def _b64json(segment: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        doc = json.loads(raw)
    except (ValueError, TypeError):
        raise SsoInvalid("malformed token") from None
    if not isinstance(doc, dict):
        raise SsoInvalid("malformed token")
    return doc


def tenant_code(token) -> str:
    """The tenant_code claim, read only to find the broker whose key and algorithm will verify the token."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise SsoInvalid("token is required")
    parts = token.split(".")
    if len(parts) != 3:
        raise SsoInvalid("malformed token")
    code = _b64json(parts[1]).get("tenant_code")
    if not isinstance(code, str) or not code or len(code) > 64:
        raise SsoInvalid("tenant_code is required")
    return code


def _user_id(value) -> str:
    if isinstance(value, bool) or value is None:
        raise SsoInvalid("user_id must be a string or an integer")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not USER_ID_RE.match(value):
        raise SsoInvalid("user_id must be 1 to 128 characters: letters, digits, _ . @ -")
    return value


def _optional_str(payload: dict, name: str, max_len: int) -> str | None:
    v = payload.get(name)
    if v in (None, ""):
        return None
    if not isinstance(v, str) or len(v) > max_len:
        raise SsoInvalid(f"{name} must be a string of at most {max_len} characters")
    return v


def _redirect_url(payload: dict) -> str | None:
    from urllib.parse import urlsplit
    url = _optional_str(payload, "logout_redirect_url", 2048)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SsoInvalid("logout_redirect_url must be an http(s) URL")
    return url


def verify(token: str, cfg: SsoConfig, now: float) -> SsoClaims:
    """The verified claims of `token` for the broker `cfg`, or SsoInvalid."""
    if cfg.algorithm not in ALGORITHMS or not cfg.key:
        raise SsoInvalid("SSO is not configured for this broker")
    try:
        payload = jwt.decode(token, cfg.key, algorithms=[cfg.algorithm],
                             options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                      "verify_aud": False, "verify_iss": False})
    except jwt.InvalidTokenError as e:  # bad signature, wrong/none algorithm, key confusion, malformed
        raise SsoInvalid(f"invalid token ({type(e).__name__})") from None
    exp, iat = payload.get("exp"), payload.get("iat")
    for name, v in (("exp", exp), ("iat", iat), ("nbf", payload.get("nbf"))):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise SsoInvalid(f"{name} must be a number (seconds since the epoch)")
    if exp is None and iat is None:
        raise SsoInvalid("exp or iat is required")
    if exp is not None and now >= exp + CLOCK_SKEW_S:
        raise SsoInvalid("token expired")
    if iat is not None:
        if iat > now + CLOCK_SKEW_S:
            raise SsoInvalid("iat is in the future")
        if now - iat > MAX_AGE_S:
            raise SsoInvalid("token is older than 5 minutes")
    elif exp - now > MAX_AGE_S + CLOCK_SKEW_S:  # only exp: its lifetime left may not exceed the 5-minute window
        raise SsoInvalid("exp is more than 5 minutes away; send iat")
    nbf = payload.get("nbf")
    if nbf is not None and nbf > now + CLOCK_SKEW_S:
        raise SsoInvalid("token not yet valid")
    claimed = payload.get("tenant_code")
    if not isinstance(claimed, str) or claimed.lower() != cfg.tenant_code.lower():
        raise SsoInvalid("tenant_code does not match the signing broker")
    jti = payload.get("jti")
    if jti is not None and (not isinstance(jti, str) or not jti or len(jti) > 256):
        raise SsoInvalid("jti must be a non-empty string")
    expires_at = int(min(v for v in (exp, (iat + MAX_AGE_S) if iat is not None else None) if v is not None))
    return SsoClaims(user_id=_user_id(payload.get("user_id")), email=_optional_str(payload, "email", 254),
                     wallet_address=_optional_str(payload, "wallet_address", 64),
                     logout_redirect_url=_redirect_url(payload), jti=jti,
                     expires_at=expires_at + CLOCK_SKEW_S)

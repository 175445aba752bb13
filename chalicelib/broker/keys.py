"""Broker API keys (`bk_...`): created from the broker panel, stored only as a SHA-256 hash, revoked at once.

Item (main table):
  ApiKey   pk=APIKEY#<sha256(key)>  sk=K   gsi1pk=KEYS#<brokerId> gsi1sk=<createdAt>#<keyId>
                                           gsi2pk=KEYID#<keyId>   gsi2sk=K
The v1 guard does one strongly consistent GetItem by the key's hash per call (a revocation is seen by the next
call). The webhook secret is kept only AES-GCM encrypted (secretbox) and is dropped when the key is revoked;
no API returns it after creation.
"""
import hashlib
import secrets

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError

from chalicelib.broker import scopes as scope_rules
from chalicelib.common import secretbox
from chalicelib.common.clock import new_id, now_ms
from chalicelib.common.errors import ApiError
from chalicelib.common.http import Principal
from chalicelib.storage.db import Gsi1, Gsi2, IntAttribute, MainModel, get_or_none, register

KEY_PREFIX = "bk_"
SECRET_PREFIX = "whsec_"
MAX_ACTIVE_KEYS = 50
ACTIVE, REVOKED = "active", "revoked"


@register
class ApiKey(MainModel):
    key_id = UnicodeAttribute()
    broker_id = UnicodeAttribute()        # the owner's account id (a broker, or the admin)
    owner_role = UnicodeAttribute()       # broker | admin (admin keys see everything)
    name = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute)
    hint = UnicodeAttribute()             # last 4 characters of the key, for the panel ("bk_…a1b2")
    webhook_url = UnicodeAttribute(null=True)
    webhook_secret_enc = UnicodeAttribute(null=True)  # secretbox.seal(secret, aad=key_id); removed on revoke
    status = UnicodeAttribute()
    created_at = IntAttribute()
    revoked_at = IntAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_broker = Gsi1()
    by_id = Gsi2()

    @staticmethod
    def key(key_hash: str) -> tuple[str, str]:
        return f"APIKEY#{key_hash}", "K"


def key_hash(key: str) -> str:
    # A key carries 192 random bits: a plain SHA-256 is a safe one-way lookup key (no password stretching needed).
    return hashlib.sha256(key.encode()).hexdigest()


def view(k: ApiKey) -> dict:
    """The panel's view of a key: never the key or the webhook secret."""
    return {"id": k.key_id, "name": k.name, "scopes": list(k.scopes), "webhookUrl": k.webhook_url,
            "hasWebhookSecret": bool(k.webhook_secret_enc), "keyHint": f"{KEY_PREFIX}…{k.hint}",
            "status": k.status, "createdAt": k.created_at, "revokedAt": k.revoked_at}


def create(owner_id: str, owner_role: str, name: str, scopes: list[str], webhook_url: str | None) -> dict:
    """Create a key; the only time the key and the webhook secret exist in clear is this return value."""
    active = sum(1 for _ in ApiKey.by_broker.query(f"KEYS#{owner_id}", filter_condition=ApiKey.status == ACTIVE))
    if active >= MAX_ACTIVE_KEYS:
        raise ApiError(409, "TOO_MANY_KEYS", f"at most {MAX_ACTIVE_KEYS} active API keys per account")
    key = KEY_PREFIX + secrets.token_hex(24)
    key_id = "key_" + new_id().replace("-", "")[:20]
    secret = SECRET_PREFIX + secrets.token_urlsafe(32) if webhook_url else None
    try:
        sealed = secretbox.seal(secret, aad=key_id) if secret else None
    except secretbox.SecretsKeyMissing:
        raise ApiError(503, "SECRETS_KEY_MISSING", "webhook secrets are not configured on this deployment") from None
    now = now_ms()
    item = ApiKey(*ApiKey.key(key_hash(key)), key_id=key_id, broker_id=owner_id, owner_role=owner_role, name=name,
                  scopes=list(scopes), hint=key[-4:], webhook_url=webhook_url, webhook_secret_enc=sealed,
                  status=ACTIVE, created_at=now, gsi1pk=f"KEYS#{owner_id}", gsi1sk=f"{now:013d}#{key_id}",
                  gsi2pk=f"KEYID#{key_id}", gsi2sk="K")
    item.save(condition=ApiKey.pk.does_not_exist())
    return {**view(item), "key": key, "webhookSecret": secret}


def list_for(owner_id: str) -> list[ApiKey]:
    return list(ApiKey.by_broker.query(f"KEYS#{owner_id}", scan_index_forward=False))


def by_id(key_id: str) -> ApiKey | None:
    if not key_id or len(key_id) > 64:
        return None
    for k in ApiKey.by_id.query(f"KEYID#{key_id}"):
        return ApiKey.get(k.pk, k.sk, consistent_read=True)
    return None


def revoke(k: ApiKey) -> ApiKey:
    """Revoked at once: the next v1 call with it is 401; its webhook secret is destroyed."""
    if k.status == REVOKED:
        return k
    try:
        k.update(actions=[ApiKey.status.set(REVOKED), ApiKey.revoked_at.set(now_ms()),
                          ApiKey.webhook_secret_enc.remove()], condition=ApiKey.status == ACTIVE)
    except UpdateError:  # revoked concurrently
        pass
    return ApiKey.get(k.pk, k.sk, consistent_read=True)


def lookup(key: str) -> ApiKey | None:
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 128:
        return None
    return get_or_none(ApiKey, *ApiKey.key(key_hash(key)), consistent_read=True)


def by_pk(pk: str, sk: str = "K") -> ApiKey | None:
    return get_or_none(ApiKey, pk, sk, consistent_read=True)


def webhook_secret(k: ApiKey) -> str | None:
    if k.status != ACTIVE or not k.webhook_secret_enc:
        return None
    return secretbox.open_(k.webhook_secret_enc, aad=k.key_id)


def webhook_keys(broker_id: str) -> list[ApiKey]:
    """The broker's active keys that have a webhook URL (the webhook targets of that broker)."""
    return list(ApiKey.by_broker.query(f"KEYS#{broker_id}",
                                       filter_condition=(ApiKey.status == ACTIVE) & ApiKey.webhook_url.exists()))


# --- the v1 guard ------------------------------------------------------------------------------------------

def invalid_key() -> ApiError:
    return ApiError(401, "API_KEY_INVALID", "Invalid API key")


def missing_scope(scope: str) -> ApiError:
    return ApiError(403, "SCOPE_REQUIRED", f"Missing scope: {scope}")


def api_key(scope: str):
    """Route guard: `X-API-Key: bk_...` of an active key holding `scope` (401 / 403 otherwise)."""
    if scope not in scope_rules.ALL_SCOPES:
        raise ValueError(f"unknown scope {scope}")

    def guard(raw_request) -> Principal:
        k = lookup((raw_request.headers or {}).get("x-api-key") or "")
        if k is None or k.status != ACTIVE:
            raise invalid_key()
        if scope not in k.scopes:
            raise missing_scope(scope)
        return Principal(user_id=k.broker_id, role=k.owner_role, kind="api_key", scopes=frozenset(k.scopes),
                         key_id=k.key_id)
    guard.scope = scope
    return guard

"""Orchestration of the platform operator's endpoints (admin/routes.py): top-level brokers."""
from chalicelib.accounts import store as accounts
from chalicelib.accounts.logic import check_username
from chalicelib.auth.logic import hash_password
from chalicelib.common import secretbox
from chalicelib.common.errors import bad_request, conflict


def sso_algorithm(b) -> str:
    algorithm = b.ssoAlgorithm or ("HS256" if b.ssoSecret or not b.ssoPublicKey else "RS256")
    if algorithm == "HS256" and b.ssoPublicKey and not b.ssoSecret:
        raise bad_request("ssoAlgorithm HS256 needs ssoSecret", "VALIDATION_ERROR")
    if algorithm in ("RS256", "ES256") and not b.ssoPublicKey:
        raise bad_request(f"ssoAlgorithm {algorithm} needs ssoPublicKey", "VALIDATION_ERROR")
    return algorithm


def create_broker(b):
    """A top-level broker: the root of its own brand. Returns the account."""
    check_username(b.username)
    algorithm = sso_algorithm(b)
    acct = accounts.new_account(username=b.username, role="broker", password_hash=hash_password(b.password),
                                tenant_code=b.tenantCode, name=b.name, email=b.email,
                                sso_public_key=b.ssoPublicKey, sso_algorithm=algorithm)
    if b.ssoSecret:  # needed in clear to verify HS256 JWTs, so encrypted at rest rather than hashed
        acct.sso_secret = secretbox.seal(b.ssoSecret, aad=f"sso:{acct.user_id}")
    acct.brand_root_id = acct.user_id  # a top-level broker is the root of its own brand
    try:
        accounts.create(acct, [("tenant", b.tenantCode.lower())])
    except accounts.AlreadyExists as e:
        raise conflict(f"{'tenantCode' if e.kind == 'tenant' else 'username'} already taken",
                       "TENANT_TAKEN" if e.kind == "tenant" else "USERNAME_TAKEN") from None
    return acct

"""Secrets (pure): password hashing with scrypt, random session tokens stored only as their SHA-256."""
import base64
import hashlib
import hmac
import os
import secrets

from chalicelib import settings


def _n() -> int:
    return settings.get().password_scrypt_n  # tests may lower it; production keeps 2**14


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    n = _n()
    dk = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    return f"scrypt${n}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        hashlib.scrypt(password.encode(), salt=b"0" * 16, n=_n(), r=8, p=1, dklen=32)  # same cost: no user oracle
        return False
    try:
        _, n, salt, dk = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=8, p=1, dklen=32)
        return hmac.compare_digest(got, base64.b64decode(dk))
    except ValueError:
        return False


def new_token(prefix: str = "st_") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

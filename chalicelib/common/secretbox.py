"""Secrets at rest (webhook signing secrets, broker SSO secrets): AES-256-GCM with a key from the environment (SECRETS_KEY).

Stored form: "v1:" + base64url(nonce[12] | ciphertext | tag[16]); the associated data binds a ciphertext to its
owner (the API key id), so a stored secret cannot be moved to another key's item. pycryptodome provides AES
(it is already a runtime dependency, see chalicelib/accounts/logic.py).

SECRETS_KEY: any high-entropy string (e.g. `python -c "import secrets;print(secrets.token_urlsafe(32))"`); the AES
key is SHA-256 of it. In Lambda a missing SECRETS_KEY is an error (fail closed); elsewhere (tests, the local stack)
a fixed development key is used with a warning.
"""
import base64
import hashlib
import os

from chalicelib import settings
from chalicelib.common.logging import logger

_DEV_KEY = "sim-trading-local-development-secrets-key (never used in AWS)"
_warned = False


class SecretsKeyMissing(RuntimeError):
    pass


def _key() -> bytes:
    global _warned
    s = settings.get()
    raw = s.secrets_key
    if not raw:
        if s.in_aws:
            raise SecretsKeyMissing("SECRETS_KEY is not configured")
        if not _warned:
            logger.warning("SECRETS_KEY not set: using the local development key")
            _warned = True
        raw = _DEV_KEY
    return hashlib.sha256(b"sim-trading/secretbox/v1|" + raw.encode()).digest()


def seal(plaintext: str, aad: str) -> str:
    nonce = os.urandom(12)
    from Crypto.Cipher import AES  # on first use: keeps pycryptodome (cffi) off the cold start
    cipher = AES.new(_key(), AES.MODE_GCM, nonce=nonce)
    cipher.update(aad.encode())
    ct, tag = cipher.encrypt_and_digest(plaintext.encode())
    return "v1:" + base64.urlsafe_b64encode(nonce + ct + tag).decode().rstrip("=")


def open_(sealed: str, aad: str) -> str:
    """The plaintext; ValueError when the ciphertext, key or associated data do not match."""
    if not sealed.startswith("v1:"):
        raise ValueError("unknown secret format")
    data = sealed[3:]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    nonce, ct, tag = raw[:12], raw[12:-16], raw[-16:]
    from Crypto.Cipher import AES  # on first use: keeps pycryptodome (cffi) off the cold start
    cipher = AES.new(_key(), AES.MODE_GCM, nonce=nonce)
    cipher.update(aad.encode())
    return cipher.decrypt_and_verify(ct, tag).decode()

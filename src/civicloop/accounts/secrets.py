"""Passwords (argon2id), bearer tokens and API keys.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile by default). Tokens and
API keys are 256-bit random secrets: they cannot be guessed, so a fast SHA-256 of the secret is all the
database needs to hold — a leaked table gives nobody a working credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "clt_"  # bearer tokens of the workflow API
KEY_PREFIX = "c311"  # Open311 API keys: c311.<key_id>.<secret>


def default_hasher() -> PasswordHasher:
    """argon2id, 2 passes over 64 MiB (RFC 9106's second recommendation)."""
    return PasswordHasher(time_cost=2, memory_cost=65536, parallelism=2)


def fast_hasher() -> PasswordHasher:
    """Cheap argon2id parameters for tests and demos only: never for real accounts."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def hash_password(hasher: PasswordHasher, password: str) -> str:
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (a token or an API key's secret part)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """(key_id, full key). The key id is public (it names the key in lists and logs); the secret is not."""
    key_id = "k" + secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}.{key_id}.{secrets.token_urlsafe(32)}"


def split_api_key(key: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    parts = key.strip().split(".")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def random_password(length: int = 14) -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))

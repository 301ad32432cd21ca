"""Secrets: API tokens (random, kept only as SHA-256) and passwords (argon2id)."""

from __future__ import annotations

import hashlib
import secrets

import argon2

TOKEN_PREFIX = "tw_"
# 32 random bytes: 256 bits, well above the 128 the threat model asks for.
TOKEN_BYTES = 32
MIN_PASSWORD_LENGTH = 8
_hasher = argon2.PasswordHasher()  # argon2id with the library's recommended parameters
# Verified against when a user name is unknown, so that a wrong name costs the same time
# as a wrong password.
_DUMMY_HASH = _hasher.hash("trackwire: no such user")


def new_token() -> tuple[str, str]:
    """A new token's secret and the SHA-256 (hex) the server keeps of it."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    return secret, token_hash(secret)


def token_hash(secret: str) -> str:
    """What the server stores and looks tokens up by. A token has 256 random bits, so a
    fast hash is enough (no dictionary to guess from); the lookup by this hash reveals
    nothing about the secret through its timing."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(secret: str) -> str:
    """The first characters of a secret, to tell tokens apart in lists."""
    return secret[: len(TOKEN_PREFIX) + 5]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; takes an argon2 verification's time even when there
    is no hash (an unknown user, a service account)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False

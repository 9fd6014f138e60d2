"""Password hashes (Argon2id) and the password policy: pure apart from the hashing's CPU.

argon2-cffi's `PasswordHasher` defaults to Argon2id with RFC 9106's low-memory
parameters; `needs_rehash` tells when a stored hash was made with older ones, so
a login re-hashes it. The policy follows NIST SP 800-63B: length over composition
rules, and not the username.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "MIN_LENGTH",
    "generate_password",
    "hash_password",
    "needs_rehash",
    "password_problem",
    "verify_password",
]

MIN_LENGTH = 12
MAX_LENGTH = 256  # Argon2 takes any length; a cap keeps one request's hashing bounded.
# Replaced only by the test suite (a cheaper profile: each hash costs ~0.5 s on a busy VM).
_HASHER = PasswordHasher()
_DUMMIES: dict[int, str] = {}


def _dummy_hash() -> str:
    """A hash verified when the username names no account: a miss costs what a hit does."""
    key = id(_HASHER)
    if key not in _DUMMIES:
        _DUMMIES[key] = _HASHER.hash(secrets.token_urlsafe(16))
    return _DUMMIES[key]


def hash_password(password: str) -> str:
    """The Argon2id hash to store."""
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored`; a missing hash costs the same time and fails."""
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether `stored` was made with other parameters than today's (re-hash at login)."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def password_problem(password: str, username: str) -> str | None:
    """Why `password` may not be used by `username`, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    if username and username.casefold() in password.casefold():
        return "the password must not contain the username"
    if len(set(password)) < 4:
        return "the password must not repeat a few characters"
    return None


def generate_password() -> str:
    """A random initial password (about 120 bits), shown once to the admin who asked."""
    return secrets.token_urlsafe(15)

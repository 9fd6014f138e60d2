"""Bearer tokens: created once, shown once, stored as SHA-256 hashes.

Tokens are 256 random bits, so a fast hash is safe here (a slow password hash
protects guessable secrets; nothing about these is guessable) and keeps every
request cheap. Roles: `system` (full access: gateways and administration);
the access-control issue adds clinician, care manager and gateway roles.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from .errors import Unauthorized
from .roles import Role
from .storage.database import READ_ONLY
from .storage.schema import api_tokens

__all__ = ["Principal", "Role", "TokenStore", "hash_token"]

_PREFIX = "hv_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling."""

    token_id: int
    name: str
    role: Role


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _bearer_digest(authorization: str | None) -> str | None:
    """The hash of the token in `Bearer <token>`, None for anything else."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return hash_token(token.strip())


class TokenStore:
    """Create, verify and revoke tokens; verification is cached for a few seconds."""

    def __init__(self, engine: Engine, *, cache_seconds: float = 5.0) -> None:
        self._engine = engine
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._cache_seconds = cache_seconds

    def create(self, name: str, role: Role) -> str:
        """A new token (returned once; only its hash is kept)."""
        token = _PREFIX + secrets.token_urlsafe(32)
        with self._engine.begin() as connection:
            connection.execute(
                insert(api_tokens).values(
                    name=name,
                    role=role.value,
                    scopes="system/*.cruds" if role is Role.SYSTEM else "",
                    token_hash=hash_token(token),
                    created_ms=int(time.time() * 1000),
                )
            )
        return token

    def revoke(self, name: str) -> int:
        """Revoke every token of that name; returns how many."""
        with self._engine.begin() as connection:
            result = connection.execute(
                update(api_tokens)
                .where(api_tokens.c.name == name, api_tokens.c.revoked_ms.is_(None))
                .values(revoked_ms=int(time.time() * 1000))
            )
        self._cache.clear()
        return int(result.rowcount or 0)

    def recently_verified(self, authorization: str | None) -> Principal | None:
        """The principal of a token verified in the last few seconds, without the database.

        Cheap enough for the event loop; None means `verify` must look.
        """
        digest = _bearer_digest(authorization)
        cached = self._cache.get(digest) if digest is not None else None
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def verify(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer ...` header.

        Raises:
            Unauthorized: missing, malformed, unknown or revoked token.
        """
        if not authorization:
            raise Unauthorized("this server needs a bearer token (Authorization: Bearer ...)")
        digest = _bearer_digest(authorization)
        if digest is None:
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self._engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            row = connection.execute(
                select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role).where(
                    api_tokens.c.token_hash == digest, api_tokens.c.revoked_ms.is_(None)
                )
            ).first()
        if row is None:
            raise Unauthorized("unknown or revoked token")
        principal = Principal(row.id, row.name, Role(row.role))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._cache_seconds, principal)
        return principal

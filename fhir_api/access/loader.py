"""Per-request `Access`, with what it read from the database kept for a moment per worker.

Each request needs the caller's patients (care teams, or a gateway's bindings);
reading them costs a query or two, so they are kept for `CACHE_SECONDS`, the same
bound as token verification: a care team or binding change reaches every worker
within it.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine

from ..auth import CACHE_SECONDS
from ..roles import TokenKind
from ..storage.database import READ_ONLY
from .compartment import load_access
from .principal import Access, Principal

__all__ = ["AccessLoader"]

_Key = tuple[str, str, int | None, int | None]


def _key(principal: Principal) -> _Key:
    return (principal.kind.value, principal.name, principal.token_id, principal.account_id)


class AccessLoader:
    """Builds each request's `Access`; the reach of a principal is cached briefly."""

    def __init__(self, engine: Engine, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cache: dict[_Key, tuple[float, frozenset[str] | None, frozenset[str] | None]] = {}

    def cached(self, principal: Principal) -> Access | None:
        """The access of `principal` without the database, or None (then call `load`)."""
        if principal.kind is TokenKind.SYSTEM:
            return Access(principal, None, None)
        hit = self._cache.get(_key(principal))
        if hit is not None and hit[0] > time.monotonic():
            return Access(principal, hit[1], hit[2])
        return None

    def load(self, principal: Principal) -> Access:
        """The access of `principal`, read from the database (and kept for a moment)."""
        cached = self.cached(principal)
        if cached is not None:
            return cached
        with self._engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            access = load_access(connection, principal)
        if len(self._cache) > 10_000:
            self._cache.clear()
        expiry = time.monotonic() + self._cache_seconds
        self._cache[_key(principal)] = (expiry, access.patients, access.gateways)
        return access

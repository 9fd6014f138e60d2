"""Bearer tokens: created once, shown once, stored as SHA-256 hashes.

Tokens are 256 random bits, so a fast hash is safe here (a slow password hash
protects guessable secrets; nothing about these is guessable) and keeps every
request cheap. Each token has a kind (`roles.TokenKind`) and SMART v2 scopes:
`system` tokens have full access; a `gateway` token acts for one home gateway and
its patients; a `staff` token acts as a staff account, with the scopes of the
account's roles at the moment of the request.

Verification is cached for at most `CACHE_SECONDS` per worker process: a revoked
token, a disabled account or gateway, or a changed role is refused by every
worker within that time (issue 11: within one second).
"""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import Engine, insert, select, update

from .access.policy import KIND_SCOPES, scopes_for_roles
from .access.principal import Principal
from .access.scopes import Scopes, parse_scopes
from .errors import BadRequest, Unauthorized
from .roles import Role, StaffRole, TokenKind
from .storage.database import READ_ONLY
from .storage.schema import api_tokens, gateways, staff_accounts

__all__ = ["CACHE_SECONDS", "Principal", "Role", "TokenStore", "hash_token"]

_PREFIX = "hv_"
CACHE_SECONDS = 0.5
_CONTEXT = {TokenKind.SYSTEM: "system", TokenKind.GATEWAY: "patient", TokenKind.STAFF: "user"}


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


def _now_ms() -> int:
    return int(time.time() * 1000)


def parse_roles(text: str) -> frozenset[StaffRole]:
    """The roles of a staff_accounts row (comma-separated; unknown names are dropped)."""
    known = {role.value for role in StaffRole}
    return frozenset(StaffRole(r) for r in (p.strip() for p in text.split(",")) if r in known)


class TokenStore:
    """Create, verify and revoke tokens; verification is cached for `cache_seconds`."""

    def __init__(self, engine: Engine, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self._engine = engine
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._cache_seconds = cache_seconds

    def create(
        self,
        name: str,
        kind: TokenKind,
        *,
        scopes: str | None = None,
        gateway: str | None = None,
        account_id: int | None = None,
    ) -> str:
        """A new token (returned once; only its hash is kept).

        Args:
            name: a label for revocation and the audit trail.
            kind: system, gateway or staff.
            scopes: SMART v2 scopes, narrower than the kind's (or the account's roles');
                None for all the kind allows.
            gateway: a gateway token's gateway (registered with `GatewayRegistry`).
            account_id: a staff token's account.

        Raises:
            BadRequest: scopes outside what the kind allows, or a missing gateway/account.
        """
        if (kind is TokenKind.GATEWAY) != (gateway is not None):
            raise BadRequest("a gateway token, and only a gateway token, names its gateway")
        if (kind is TokenKind.STAFF) != (account_id is not None):
            raise BadRequest("a staff token, and only a staff token, names its account")
        text = ""
        if scopes is not None:
            try:
                text = str(parse_scopes(scopes, context=_CONTEXT[kind]))
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
        elif kind is not TokenKind.STAFF:
            text = KIND_SCOPES[kind]
        token = _PREFIX + secrets.token_urlsafe(32)
        with self._engine.begin() as connection:
            if gateway is not None:
                known = connection.execute(
                    select(gateways.c.name).where(gateways.c.name == gateway)
                ).first()
                if known is None:
                    raise BadRequest(f"no gateway named {gateway!r}")
            if account_id is not None:
                known = connection.execute(
                    select(staff_accounts.c.id).where(staff_accounts.c.id == account_id)
                ).first()
                if known is None:
                    raise BadRequest(f"no staff account {account_id}")
            connection.execute(
                insert(api_tokens).values(
                    name=name,
                    role=kind.value,
                    scopes=text,
                    gateway=gateway,
                    account_id=account_id,
                    token_hash=hash_token(token),
                    created_ms=_now_ms(),
                )
            )
        return token

    def revoke(self, name: str) -> int:
        """Revoke every token of that name; returns how many."""
        with self._engine.begin() as connection:
            result = connection.execute(
                update(api_tokens)
                .where(api_tokens.c.name == name, api_tokens.c.revoked_ms.is_(None))
                .values(revoked_ms=_now_ms())
            )
        self._cache.clear()
        return int(result.rowcount or 0)

    def recently_verified(self, authorization: str | None) -> Principal | None:
        """The principal of a token verified in the last moment, without the database.

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
            Unauthorized: missing, malformed, unknown or revoked token; a disabled
                gateway or staff account.
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
        principal = self._load(digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._cache_seconds, principal)
        return principal

    def _load(self, digest: str) -> Principal:
        tokens, accounts = api_tokens.c, staff_accounts.c
        with self._engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            row = connection.execute(
                select(
                    tokens.id,
                    tokens.name,
                    tokens.role,
                    tokens.scopes,
                    tokens.gateway,
                    tokens.account_id,
                    gateways.c.disabled_ms.label("gateway_disabled"),
                    accounts.username,
                    accounts.roles,
                    accounts.practitioner_id,
                    accounts.disabled_ms.label("account_disabled"),
                )
                .select_from(
                    api_tokens.outerjoin(gateways, gateways.c.name == tokens.gateway).outerjoin(
                        staff_accounts, accounts.id == tokens.account_id
                    )
                )
                .where(tokens.token_hash == digest, tokens.revoked_ms.is_(None))
            ).first()
        if row is None:
            raise Unauthorized("unknown or revoked token")
        kind = TokenKind(row.role)
        if kind is TokenKind.GATEWAY:
            if row.gateway_disabled is not None:
                raise Unauthorized("this gateway is disabled")
            scopes = parse_scopes(row.scopes).narrowed_to(parse_scopes(KIND_SCOPES[kind]))
            return Principal(kind, row.gateway, scopes, token_id=row.id, gateway=row.gateway)
        if kind is TokenKind.STAFF:
            if row.username is None or row.account_disabled is not None:
                raise Unauthorized("this account is disabled")
            return staff_principal(
                row.account_id,
                row.username,
                row.roles,
                row.practitioner_id,
                token_id=row.id,
                token_scopes=row.scopes,
            )
        return Principal(kind, row.name, parse_scopes(row.scopes), token_id=row.id)


def staff_principal(
    account_id: int,
    username: str,
    roles_text: str,
    practitioner_id: str | None,
    *,
    token_id: int | None = None,
    token_scopes: str = "",
) -> Principal:
    """The principal of a staff account (a web session, or a staff token narrowed further)."""
    roles = parse_roles(roles_text)
    scopes: Scopes = scopes_for_roles(roles)
    if token_scopes:
        scopes = parse_scopes(token_scopes).narrowed_to(scopes)
    return Principal(
        TokenKind.STAFF,
        username,
        scopes,
        token_id=token_id,
        account_id=account_id,
        roles=roles,
        practitioner_id=practitioner_id,
    )

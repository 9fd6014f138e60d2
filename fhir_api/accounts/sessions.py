"""Web sessions of staff accounts: a random id in a cookie, only its SHA-256 stored.

A session goes through stages (`Stage`): the password was right, then the second
factor is checked (or enrolled), then a password an admin set is changed, then
the account is signed in. Each step issues a new id (no session fixation). A
session ends after `idle` without a request or `absolute` after the password
was given, at logout, and at once when its account is disabled or an admin
resets its credentials (the store deletes its rows; `lookup` also checks).

CSRF: every POST form carries a synchronizer token derived from the session id
with the server's secret (HMAC-SHA256), compared in constant time; the login
form, before any session exists, derives it from a random pre-login cookie.
The cookies are HttpOnly and SameSite=Strict, and Secure (with the `__Host-`
prefix) behind TLS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, delete, insert, or_, select, update

from ..errors import Forbidden, Unauthorized
from ..storage.schema import staff_accounts, web_sessions
from .store import Account, _account, reading

__all__ = [
    "CsrfRefused",
    "CurrentAccount",
    "LoginRequired",
    "SessionStore",
    "Stage",
    "WebSession",
    "check_csrf",
    "cookie_name",
    "csrf_token",
    "current_account",
    "current_session",
    "session_id_from",
]

SESSION_COOKIE = "hv_session"
# A signed-in session's last-seen time is written at most this often (one UPDATE per
# request would make every page view a write); idle expiry is this much coarser.
_TOUCH_MS = 15_000


class Stage(StrEnum):
    """How far a session's login has come."""

    TOTP = "totp"  # password right; a TOTP or recovery code is due
    ENROL = "enrol"  # password right; the account must enrol a TOTP authenticator first
    PASSWORD = "password"  # noqa: S105 - a stage name: the password must be changed
    SIGNED_IN = "signed-in"

    @property
    def page(self) -> str:
        """The page that completes this stage."""
        return {
            Stage.TOTP: "/login/totp",
            Stage.ENROL: "/account/totp",
            Stage.PASSWORD: "/account/password",
            Stage.SIGNED_IN: "/",
        }[self]


class LoginRequired(Unauthorized):
    """No signed-in session: pages redirect to `location` (the login, or the next step)."""

    def __init__(self, location: str = "/login") -> None:
        super().__init__("sign in first")
        self.location = location


class CsrfRefused(Forbidden):
    """A form without the session's CSRF token, or with another one."""


@dataclass(frozen=True, slots=True)
class WebSession:
    """A live session and its account."""

    raw_id: str  # the cookie's value (never stored)
    account: Account
    stage: Stage
    created_ms: int


def _digest(raw_id: str) -> str:
    return hashlib.sha256(raw_id.encode()).hexdigest()


def cookie_name(secure: bool) -> str:
    """The session cookie's name: `__Host-` bound to this origin when it is Secure."""
    return f"__Host-{SESSION_COOKIE}" if secure else SESSION_COOKIE


def csrf_token(key: bytes, purpose: str, raw_id: str) -> str:
    """The CSRF token of a session (or pre-login nonce) for `purpose` ("session", "login")."""
    message = f"csrf\0{purpose}\0{raw_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check_csrf(key: bytes, purpose: str, raw_id: str | None, given: object) -> None:
    """Refuse a form whose token is missing or not the one of `raw_id`.

    Raises:
        CsrfRefused: in constant time for any wrong token of the right length.
    """
    expected = csrf_token(key, purpose, raw_id) if raw_id else ""
    if not raw_id or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        raise CsrfRefused("the form has expired or did not come from this site; try again")


class SessionStore:
    """Sessions in the server's database, shared by every worker."""

    def __init__(
        self,
        engine: Engine,
        *,
        idle_ms: int,
        absolute_ms: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self.idle_ms = idle_ms
        self.absolute_ms = absolute_ms
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def start(self, account_id: int, stage: Stage, *, created_ms: int | None = None) -> str:
        """A new session; returns the id for the cookie (shown once, stored as a hash)."""
        raw_id = secrets.token_urlsafe(32)
        now = self._now_ms()
        with self._engine.begin() as connection:
            self._purge(connection, now)
            connection.execute(
                insert(web_sessions).values(
                    id_hash=_digest(raw_id),
                    account_id=account_id,
                    stage=stage.value,
                    created_ms=created_ms if created_ms is not None else now,
                    seen_ms=now,
                )
            )
        return raw_id

    def advance(self, session: WebSession, stage: Stage) -> str:
        """Move `session` to `stage` under a new id (the old one stops working)."""
        self.end(session.raw_id)
        return self.start(session.account.id, stage, created_ms=session.created_ms)

    def lookup(self, raw_id: str | None) -> WebSession | None:
        """The live session of a cookie value, None when unknown, expired or disabled."""
        if not raw_id or len(raw_id) > 128:
            return None
        digest = _digest(raw_id)
        now = self._now_ms()
        with reading(self._engine) as connection:
            row = connection.execute(
                select(
                    staff_accounts,
                    web_sessions.c.stage,
                    web_sessions.c.created_ms.label("session_created_ms"),
                    web_sessions.c.seen_ms,
                )
                .join(staff_accounts, staff_accounts.c.id == web_sessions.c.account_id)
                .where(web_sessions.c.id_hash == digest)
            ).first()
        if row is None:
            return None
        account = _account(row)
        expired = (
            now - row.seen_ms > self.idle_ms or now - row.session_created_ms > self.absolute_ms
        )
        if expired or account.disabled:
            with self._engine.begin() as connection:
                connection.execute(delete(web_sessions).where(web_sessions.c.id_hash == digest))
            return None
        if now - row.seen_ms >= _TOUCH_MS:
            with self._engine.begin() as connection:
                connection.execute(
                    update(web_sessions).where(web_sessions.c.id_hash == digest).values(seen_ms=now)
                )
        return WebSession(raw_id, account, Stage(row.stage), int(row.session_created_ms))

    def end(self, raw_id: str) -> None:
        """Forget a session (logout, or a step that issues a new id)."""
        with self._engine.begin() as connection:
            connection.execute(
                delete(web_sessions).where(web_sessions.c.id_hash == _digest(raw_id))
            )

    def end_all(self, account_id: int, *, keep: str | None = None) -> None:
        """End every session of an account, except `keep` (e.g. after a password change)."""
        condition = web_sessions.c.account_id == account_id
        with self._engine.begin() as connection:
            if keep is None:
                connection.execute(delete(web_sessions).where(condition))
            else:
                connection.execute(
                    delete(web_sessions).where(condition, web_sessions.c.id_hash != _digest(keep))
                )

    def _purge(self, connection: Connection, now: int) -> None:
        """Drop expired sessions (at each login, so the table stays small)."""
        connection.execute(
            delete(web_sessions).where(
                or_(
                    web_sessions.c.seen_ms < now - self.idle_ms,
                    web_sessions.c.created_ms < now - self.absolute_ms,
                )
            )
        )


def session_id_from(request: Request) -> str | None:
    """The session cookie's value in `request`."""
    secure = bool(request.app.state.settings.behind_tls)
    return request.cookies.get(cookie_name(secure))


def current_session(request: Request, stage: Stage | None = None) -> WebSession:
    """The request's session, at `stage` when given.

    Raises:
        LoginRequired: no live session (to /login), or one at another stage (to its page).
    """
    sessions: SessionStore = request.app.state.sessions
    session = sessions.lookup(session_id_from(request))
    if session is None:
        raise LoginRequired("/login")
    if stage is not None and session.stage is not stage:
        raise LoginRequired(session.stage.page)
    return session


def current_account(request: Request) -> Account:
    """FastAPI dependency: the signed-in account, or LoginRequired (pages redirect to /login)."""
    return current_session(request, Stage.SIGNED_IN).account


CurrentAccount = Annotated[Account, Depends(current_account)]

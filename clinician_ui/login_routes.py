"""Login, second factor, enrolment, password change, logout and the signed-in home page.

Routes are thin: the account and session stores decide, the templates show. A
failed login says the same whatever went wrong (no such user, wrong password,
disabled, locked), waits the throttle's delay before answering, is logged and
audited. Every POST form is checked against its CSRF token first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio.to_thread
from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.responses import Response

from fhir_api.accounts import totp
from fhir_api.accounts.errors import AccountError, WeakPassword
from fhir_api.accounts.sessions import (
    CurrentAccount,
    LoginRequired,
    SessionStore,
    Stage,
    WebSession,
    check_csrf,
    current_session,
    session_id_from,
)
from fhir_api.accounts.store import (
    USERNAME,
    Account,
    AccountStore,
    LoginAttempt,
    LoginOutcome,
    SecondFactor,
)
from fhir_api.audit.record import AuditRecord, AuditSink

from .rendering import LOGIN_COOKIE, Pages, set_session_cookie

__all__ = ["first_stage", "router", "stage_after_second_factor"]

_LOGGER = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
FAILED = "Sign-in failed. Check your username and password, or try again later."
FAILED_CODE = "That code was not accepted. Try the next code, or a recovery code."


def first_stage(account: Account, require_totp: bool) -> Stage:
    """Where a session goes once the password was right."""
    if account.totp_enrolled:
        return Stage.TOTP
    if require_totp and account.clinical:
        return Stage.ENROL
    return stage_after_second_factor(account)


def stage_after_second_factor(account: Account) -> Stage:
    """Where a session goes once the second factor is done (or not needed)."""
    return Stage.PASSWORD if account.must_change_password else Stage.SIGNED_IN


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def _accounts(request: Request) -> AccountStore:
    accounts: AccountStore = request.app.state.accounts
    return accounts


def _sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _audit(
    request: Request,
    subtype: str,
    agent: str,
    *,
    outcome: str = "0",
    account: Account | None = None,
    detail: str | None = None,
    extra: dict[str, str] | None = None,
) -> None:
    sink: AuditSink = request.app.state.audit
    sink.record(
        AuditRecord(
            action="E",
            subtype=subtype,
            outcome=outcome,
            agent=agent,
            recorded_ms=int(time.time() * 1000),
            agent_reference=(
                f"Practitioner/{account.practitioner_id}"
                if account is not None and account.practitioner_id
                else None
            ),
            address=_address(request),
            detail=detail,
            extra=extra or {},
        )
    )


async def _form(request: Request, session: WebSession | None) -> FormData:
    """The POSTed form, once its CSRF token is checked (the login form's: the nonce's)."""
    form = await request.form()
    key: bytes = request.app.state.settings.signing_key
    if session is None:
        check_csrf(key, "login", request.cookies.get(LOGIN_COOKIE), form.get("csrf"))
    else:
        check_csrf(key, "session", session.raw_id, form.get("csrf"))
    return form


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _wait(request: Request, attempt: LoginAttempt) -> None:
    """Wait the throttle's delay before answering a failure."""
    sleep: Callable[[float], Awaitable[None]] = request.app.state.login_sleep
    await sleep(_accounts(request).policy.delay_after(attempt.failures))


def _failed(request: Request, attempt: LoginAttempt, username: str, step: str) -> None:
    """Log and audit a failed step (and the lockout it caused)."""
    agent = f"staff:{attempt.account.username}" if attempt.account else "anonymous"
    _LOGGER.warning(
        "failed %s for %r from %s: %s (%d in a row)",
        step,
        username,
        _address(request),
        attempt.reason,
        attempt.failures,
    )
    # The name tried, for an investigation (an anonymous agent says nothing else);
    # anything that cannot be a username (a password typed in the wrong field, often)
    # is not kept.
    tried = {"username": username if USERNAME.match(username) else "(not a username)"}
    _audit(
        request,
        "login-failed",
        agent,
        outcome="4",
        account=attempt.account,
        detail=f"{step}: {attempt.reason}",
        extra=tried,
    )
    if attempt.locked_now:
        _LOGGER.warning("login locked for %r or address %s", username, _address(request))
        _audit(
            request,
            "lockout",
            agent,
            outcome="4",
            account=attempt.account,
            detail=step,
            extra=tried,
        )


def _second_factor_done(request: Request, account: Account) -> None:
    """The login's checks all passed: the account's failure count starts again."""
    _accounts(request).signed_in(account)


def _signed_in(request: Request, session: WebSession, how: str) -> None:
    account = session.account
    _LOGGER.info("%s signed in from %s (%s)", account.username, _address(request), how)
    _audit(request, "login", f"staff:{account.username}", account=account, detail=how)


def _go(request: Request, session: WebSession, stage: Stage) -> Response:
    """Advance `session` to `stage` under a new id and send the browser there."""
    raw_id = _sessions(request).advance(session, stage)
    response = _pages(request).redirect(stage.page)
    set_session_cookie(response, request, raw_id)
    return response


# --- password ---------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request) -> Response:
    """The username and password form (or the step a live session is at)."""
    session = _sessions(request).lookup(session_id_from(request))
    if session is not None:
        return _pages(request).redirect(session.stage.page)
    return _pages(request).render(request, "login.html")


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the password; on to the second factor, enrolment or the home page."""
    form = await _form(request, None)
    username, password = _text(form, "username").strip(), _text(form, "password")
    accounts = _accounts(request)
    attempt = await anyio.to_thread.run_sync(
        accounts.authenticate, username, password, _address(request)
    )
    if attempt.outcome is not LoginOutcome.OK or attempt.account is None:
        _failed(request, attempt, username, "password")
        await _wait(request, attempt)
        return _pages(request).render(
            request, "login.html", status=401, error=FAILED, username=username
        )
    account = attempt.account
    stage = first_stage(account, request.app.state.settings.require_totp)
    raw_id = _sessions(request).start(account.id, stage)
    if stage not in (Stage.TOTP, Stage.ENROL):
        _second_factor_done(request, account)
    if stage is Stage.SIGNED_IN:
        session = WebSession(raw_id, account, stage, 0)
        _signed_in(request, session, "password")
    response = _pages(request).redirect(stage.page)
    set_session_cookie(response, request, raw_id)
    return response


# --- second factor ----------------------------------------------------------------


@router.get("/login/totp")
async def totp_page(request: Request) -> Response:
    """The form for a TOTP or recovery code."""
    session = current_session(request, Stage.TOTP)
    return _pages(request).render(request, "totp.html", csrf_for=session.raw_id)


@router.post("/login/totp")
async def totp_check(request: Request) -> Response:
    """Check a TOTP code (once per time step) or a recovery code (once)."""
    session = current_session(request, Stage.TOTP)
    form = await _form(request, session)
    accounts, account = _accounts(request), session.account
    code = _text(form, "code")
    if await anyio.to_thread.run_sync(accounts.is_locked, account, _address(request)):
        factor = None
        attempt = LoginAttempt(LoginOutcome.LOCKED, account, 0, reason="locked")
    else:
        factor = await anyio.to_thread.run_sync(accounts.check_second_factor, account.id, code)
        attempt = LoginAttempt(LoginOutcome.OK, account, 0)
    if factor is None:
        if attempt.outcome is not LoginOutcome.LOCKED:
            attempt = await anyio.to_thread.run_sync(
                accounts.record_failure, account, _address(request), "wrong second factor"
            )
        _failed(request, attempt, account.username, "second factor")
        await _wait(request, attempt)
        if attempt.outcome is LoginOutcome.LOCKED:
            _sessions(request).end(session.raw_id)
            response = _pages(request).render(request, "login.html", status=401, error=FAILED)
            set_session_cookie(response, request, None)
            return response
        return _pages(request).render(
            request, "totp.html", status=401, csrf_for=session.raw_id, error=FAILED_CODE
        )
    _second_factor_done(request, account)
    stage = stage_after_second_factor(account)
    if stage is Stage.SIGNED_IN:
        _signed_in(request, session, f"password and {factor.value}")
    if factor is SecondFactor.RECOVERY_CODE:
        _LOGGER.warning("%s used a recovery code", account.username)
    return _go(request, session, stage)


# --- TOTP enrolment ---------------------------------------------------------------


def _enrolling(request: Request) -> WebSession:
    """A session that may enrol: at the enrolment stage, or signed in without TOTP."""
    session = current_session(request)
    if session.stage is Stage.ENROL:
        return session
    if session.stage is Stage.SIGNED_IN:
        return session
    raise LoginRequired(session.stage.page)


@router.get("/account/totp")
async def enrol_page(request: Request) -> Response:
    """The QR code, the secret as text, and a field for the first code."""
    session = _enrolling(request)
    if session.account.totp_enrolled:
        return _pages(request).render(
            request, "enrolled.html", csrf_for=session.raw_id, account=session.account
        )
    return _enrolment(request, session, status=200, error=None)


def _enrolment(
    request: Request, session: WebSession, *, status: int, error: str | None
) -> Response:
    secret = _accounts(request).pending_totp_secret(session.account.id)
    uri = totp.provisioning_uri(secret, session.account.username)
    return _pages(
        request
    ).render(
        request,
        "enrol.html",
        status=status,
        csrf_for=session.raw_id,
        qr=Markup(totp.qr_svg(uri)),  # noqa: S704 - segno's own SVG, no user text in it
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        error=error,
    )


@router.post("/account/totp")
async def enrol(request: Request) -> Response:
    """Confirm the first code; show the recovery codes once."""
    session = _enrolling(request)
    form = await _form(request, session)
    account = session.account
    if account.totp_enrolled:  # e.g. enrolled meanwhile in another tab
        return _pages(request).render(
            request, "enrolled.html", csrf_for=session.raw_id, account=account
        )
    try:
        codes = await anyio.to_thread.run_sync(
            _accounts(request).confirm_totp, account.id, _text(form, "code")
        )
    except AccountError:
        codes = None
    if codes is None:
        _LOGGER.warning("TOTP enrolment of %s: the first code was wrong", account.username)
        return _enrolment(request, session, status=400, error=FAILED_CODE)
    _LOGGER.info("%s enrolled a TOTP authenticator", account.username)
    _audit(request, "totp-enrolment", f"staff:{account.username}", account=account)
    raw_id = session.raw_id
    stage = session.stage
    if session.stage is Stage.ENROL:
        _second_factor_done(request, account)
        stage = stage_after_second_factor(account)
        raw_id = _sessions(request).advance(session, stage)
        if stage is Stage.SIGNED_IN:
            _signed_in(request, session, "password and TOTP enrolment")
    response = _pages(request).render(
        request, "recovery.html", csrf_for=raw_id, codes=codes, next=stage.page
    )
    set_session_cookie(response, request, raw_id)
    return response


# --- password change --------------------------------------------------------------


def _changing_password(request: Request) -> WebSession:
    session = current_session(request)
    if session.stage in (Stage.PASSWORD, Stage.SIGNED_IN):
        return session
    raise LoginRequired(session.stage.page)


@router.get("/account/password")
async def password_page(request: Request) -> Response:
    """The form to change one's own password (required after an admin set it)."""
    session = _changing_password(request)
    return _pages(request).render(
        request,
        "password.html",
        csrf_for=session.raw_id,
        required=session.stage is Stage.PASSWORD,
    )


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    """Change the password; other sessions of the account end."""
    session = _changing_password(request)
    form = await _form(request, session)
    account, accounts = session.account, _accounts(request)
    current, new = _text(form, "current"), _text(form, "new")

    def again(error: str, status: int = 400) -> Response:
        return _pages(request).render(
            request,
            "password.html",
            status=status,
            csrf_for=session.raw_id,
            required=session.stage is Stage.PASSWORD,
            error=error,
        )

    if new != _text(form, "repeat"):
        return again("The two new passwords differ.")
    try:
        changed = await anyio.to_thread.run_sync(accounts.change_password, account.id, current, new)
    except WeakPassword as exc:
        return again(exc.diagnostics)
    if not changed:
        attempt = await anyio.to_thread.run_sync(
            accounts.record_failure, account, _address(request), "wrong current password"
        )
        _failed(request, attempt, account.username, "password change")
        await _wait(request, attempt)
        return again("The current password is wrong.", 401)
    _LOGGER.info("%s changed their password", account.username)
    _audit(request, "password-change", f"staff:{account.username}", account=account)
    _sessions(request).end_all(account.id, keep=session.raw_id)
    if session.stage is Stage.PASSWORD:
        _signed_in(request, session, "password changed")
    return _go(request, session, Stage.SIGNED_IN)


# --- logout and home --------------------------------------------------------------


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (at any stage) and forget its cookie."""
    session = current_session(request)
    await _form(request, session)
    _sessions(request).end(session.raw_id)
    account = session.account
    _LOGGER.info("%s signed out", account.username)
    _audit(request, "logout", f"staff:{account.username}", account=account)
    response = _pages(request).redirect("/login")
    set_session_cookie(response, request, None)
    return response


@router.get("/")
async def home(request: Request, account: CurrentAccount) -> Response:
    """The patient list for doctors, nurses and care managers; the account page for others."""
    if account.clinical:
        return _pages(request).redirect("/patients")
    return await account_page(request, account)


@router.get("/account")
async def account_page(request: Request, account: CurrentAccount) -> Response:
    """Signed in as whom, the links to change the password and set up TOTP, and logout."""
    raw_id = session_id_from(request) or ""
    return _pages(request).render(
        request,
        "home.html",
        csrf_for=raw_id,
        account=account,
        roles=", ".join(sorted(role.value for role in account.roles)),
    )

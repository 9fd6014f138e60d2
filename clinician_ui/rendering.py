"""HTML answers: Jinja2 templates (autoescaped) in the request's language.

Every page is `no-store` (some show a TOTP secret or recovery codes once) and
gets the CSRF token of its session, or of the pre-login cookie on the login form.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import Response

from fhir_api.accounts.sessions import cookie_name, csrf_token, session_id_from
from fhir_api.errors import FhirError

from .i18n import LANGUAGE_COOKIE, Catalogs, choose_language

__all__ = ["LOGIN_COOKIE", "Pages", "set_session_cookie"]

LOGIN_COOKIE = "hv_login"  # a random nonce the login form's CSRF token is derived from
_TEMPLATES = Path(__file__).parent / "templates"


def _cookie(response: Response, request: Request, name: str, value: str, **extra: Any) -> None:
    secure = bool(request.app.state.settings.behind_tls)
    response.set_cookie(
        name, value, path="/", httponly=True, samesite="strict", secure=secure, **extra
    )


def set_session_cookie(response: Response, request: Request, raw_id: str | None) -> None:
    """Put the session id in its cookie, or delete the cookie when `raw_id` is None."""
    secure = bool(request.app.state.settings.behind_tls)
    name = cookie_name(secure)
    if raw_id is None:
        response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure)
    else:
        _cookie(response, request, name, raw_id)


class Pages:
    """The templates and catalogs, loaded once at start."""

    def __init__(self) -> None:
        self.catalogs = Catalogs()
        self.environment = Environment(
            loader=FileSystemLoader(_TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            auto_reload=False,
        )

    def language(self, request: Request) -> tuple[str, bool]:
        """The request's language, and whether `?lang=` chose it now."""
        return choose_language(
            request.query_params.get("lang"),
            request.cookies.get(LANGUAGE_COOKIE),
            request.headers,
        )

    def render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        csrf_for: str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """`template` for `request`, with the session's CSRF token when `csrf_for` is its id.

        The login form (no session yet) gets a pre-login nonce cookie instead.
        """
        language, chosen = self.language(request)
        key: bytes = request.app.state.settings.signing_key
        nonce = None
        if csrf_for is not None:
            token = csrf_token(key, "session", csrf_for)
        else:
            nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
            token = csrf_token(key, "login", nonce)
        body = self.environment.get_template(template).render(
            _=self.catalogs.gettext(language),
            ngettext=self.catalogs.ngettext(language),
            lang=language,
            csrf=token,
            alerts_open=getattr(request.state, "alerts_open", None),
            **context,
        )
        response = HTMLResponse(body, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        if nonce is not None and nonce != request.cookies.get(LOGIN_COOKIE):
            _cookie(response, request, LOGIN_COOKIE, nonce)
        if chosen:
            _cookie(response, request, LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600)
        return response

    def patient_error(self, request: Request, account: Any, error: FhirError) -> HTMLResponse:
        """A refused read or write of a patient's data as the error page, on the audit trail.

        A 404 says only that no such patient is in the caller's care: a patient outside
        it is as unknown as one that does not exist (the FHIR API answers the same).
        """
        request.state.audit_detail = str(error)[:500]
        message = "No patient of that id is in your care." if error.status == 404 else str(error)
        return self.render(
            request,
            "error.html",
            status=error.status,
            csrf_for=session_id_from(request) or "",
            message=message,
            account=account,
        )

    @staticmethod
    def redirect(location: str) -> RedirectResponse:
        """See other: after every successful POST, and to the step a session is at."""
        response = RedirectResponse(location, status_code=303)
        response.headers["Cache-Control"] = "no-store"
        return response

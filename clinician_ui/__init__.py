"""The clinician's pages: server-rendered HTML on the same app as the FHIR API.

For now the staff login (issue 11); the clinician view lives here next. `install`
adds the pages, their static files and their error handling to the FastAPI app.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from fhir_api.accounts.sessions import CsrfRefused, LoginRequired, SessionStore
from fhir_api.accounts.store import AccountStore
from fhir_api.settings import Settings

from .alert_preferences_routes import router as alert_preferences_router
from .alert_settings_routes import router as alert_settings_router
from .alerts_routes import router as alerts_router
from .gateway_routes import router as gateway_router
from .home_settings_routes import router as home_settings_router
from .list_routes import router as list_router
from .login_routes import router
from .patient_routes import router as patient_router
from .print_routes import router as print_router
from .rendering import Pages
from .review_routes import router as review_router
from .settings_routes import router as settings_router
from .unassigned_routes import router as unassigned_router

__all__ = ["install"]

_LOGGER = logging.getLogger(__name__)
_STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, settings: Settings) -> None:
    """Add the pages to `app`: stores on `app.state`, routes, /static, error pages.

    `app.state.login_sleep` waits the throttle's delays (tests put a recorder there);
    `app.state.accounts.clock` and `app.state.sessions.clock` tell the time.
    """
    engine = app.state.store.engine
    app.state.pages = Pages()
    app.state.accounts = AccountStore(engine, clock=time.time)
    app.state.sessions = SessionStore(
        engine,
        idle_ms=settings.session_idle_minutes * 60_000,
        absolute_ms=settings.session_absolute_hours * 3_600_000,
        clock=time.time,
    )
    app.state.login_sleep = asyncio.sleep
    app.include_router(router)
    app.include_router(list_router)
    app.include_router(print_router)
    app.include_router(settings_router)
    app.include_router(home_settings_router)
    app.include_router(patient_router)
    app.include_router(gateway_router)
    app.include_router(unassigned_router)
    app.include_router(review_router)
    app.include_router(alerts_router)
    app.include_router(alert_settings_router)
    app.include_router(alert_preferences_router)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")

    @app.exception_handler(LoginRequired)
    async def _login_required(_: Request, error: LoginRequired) -> Response:
        return Pages.redirect(error.location)

    @app.exception_handler(CsrfRefused)
    async def _csrf_refused(request: Request, error: CsrfRefused) -> Response:
        address = request.client.host if request.client else "unknown"
        _LOGGER.warning("form refused (CSRF token) at %s from %s", request.url.path, address)
        pages: Pages = request.app.state.pages
        return pages.render(request, "error.html", status=403, message=error.diagnostics)

"""The FastAPI application: `create_app(settings)` builds a server around its stores.

Every FHIR request needs a bearer token, except the CapabilityStatement and the
OperationDefinitions (FHIR and SMART clients read them first); `/healthz`,
`/readyz` and `/openapi.json` need none, `/metrics` its own. Every error is an
OperationOutcome; bodies over the configured size are refused before they are
read in full; every request is one log line (`request_log`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

import clinician_ui

from .access.loader import AccessLoader
from .alerts.evaluator import RuleEvaluator
from .alerts.routes import alerts_router
from .alerts.seam import Evaluator
from .alerts.worker import AlertWorker
from .audit.http import AuditMiddleware
from .audit.log import AuditLog
from .audit.record import NullAudit
from .audit.routes import audit_router
from .auth import TokenStore
from .backup import server_lock
from .errors import FhirError, PayloadTooLarge, operation_outcome
from .metrics import (
    QUEUE_DEPTH,
    ROLLUP_REBUILDS,
    InstrumentedService,
    observe_request,
    process_exiting,
)
from .openapi import openapi_document
from .public_routes import conformance_router, operations_router
from .request_log import RequestLog, configure_logging
from .responses import fhir_response
from .routes import router
from .security_headers import SecurityHeaders
from .settings import SeriesBackend, Settings
from .storage.database import WalCheckpointer, make_engine, migrate
from .storage.resources import ResourceStore
from .storage.series.base import SeriesStore
from .storage.series.influx import InfluxSeriesStore
from .storage.series.sql import SqlSeriesStore
from .storage.series.sync import flush_series_outbox, pending_series

__all__ = [
    "TITLE",
    "app_from_environment",
    "build_series_store",
    "build_store",
    "create_app",
    "real_evaluator",
]

TITLE = "HomeVitals FHIR server"

_LOGGER = logging.getLogger(__name__)
# Requests whose work runs at once in one worker process, in threads; the others wait
# their turn, first come first served, without a thread. Validation, indexing and JSON
# are pure Python: with a thread per waiting request, twenty of them shared the
# interpreter lock round-robin, so a 50-reading Bundle took twenty times its own time
# and held SQLite's write lock that long while every other writer waited (issue 10:
# p99 4.4 s overall, 6.3 s for writes). Writes have a lane of their own
# (routes.run_write): one validates while another commits, and a commit that waits
# on a slow disk holds up other writes, never the reads.
# bench/: `HOMEVITALS_BENCH_AUDIT=off` with `HOMEVITALS_DEVELOPMENT=true` runs a server
# without its audit trail, to measure what auditing costs.
BENCH_AUDIT_OFF = ("HOMEVITALS_BENCH_AUDIT", "off")
READ_THREADS = 4
WRITE_THREADS = 2
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware: 413 for a body over `limit` bytes, declared or streamed."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        error = PayloadTooLarge(f"the request body is larger than {self.limit} bytes")
        body = json.dumps(error.outcome()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/fhir+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _flush_quietly(store: ResourceStore) -> None:
    flush_series_outbox(store)


def _flush_and_measure(store: ResourceStore) -> None:
    flush_series_outbox(store)
    QUEUE_DEPTH.set(pending_series(store))


def build_series_store(settings: Settings, engine: Any) -> SeriesStore:
    """The configured series backend."""
    if settings.series_backend is SeriesBackend.INFLUXDB:
        return InfluxSeriesStore(
            settings.influx_url,
            settings.influx_database,
            retention_policy=settings.influx_retention_policy,
            token=settings.influx_token,
            username=settings.influx_username,
            password=settings.influx_password,
        )
    return SqlSeriesStore(engine, settings.zone)


def build_store(settings: Settings) -> ResourceStore:
    """Engine, migrations and series backend for `settings`."""
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    series = build_series_store(settings, engine)
    if isinstance(series, SqlSeriesStore) and series.ensure_rollups() is not None:
        ROLLUP_REBUILDS.inc()
    return ResourceStore(engine, series, settings.zone)


def create_app(
    settings: Settings, store: ResourceStore | None = None, *, evaluator: Evaluator | None = None
) -> FastAPI:
    """A HomeVitals FHIR server, with the staff pages (clinician_ui).

    With an `evaluator` (the alert rules, issue 13) each stored Observation is queued for
    evaluation in its own transaction, and this process runs an alert worker
    (fhir_api/alerts/worker.py) from start to shutdown.

    Raises:
        InsecureSettings: outside development mode, a missing or placeholder session secret.
    """
    settings.check_secrets()
    store = store or build_store(settings)
    tokens = TokenStore(store.engine)
    # The audit trail's writer: its thread starts with the first record, and shutdown
    # writes out what is queued (fhir_api/audit/log.py).
    audit: AuditLog | NullAudit = AuditLog(store.engine)
    if settings.development and os.environ.get(BENCH_AUDIT_OFF[0]) == BENCH_AUDIT_OFF[1]:
        # The yardstick of bench/ingest.py and bench/query.py (auditing on and off in one
        # run); never outside development mode.
        _LOGGER.warning("the audit trail is OFF: a benchmark's yardstick, development mode only")
        audit = NullAudit()
    flush_lock = asyncio.Lock()
    external_series = not store.series.in_resource_transaction
    alert_worker = None
    if evaluator is not None:
        channels = {name: url.get_secret_value() for name, url in settings.notify_channels.items()}
        alert_worker = AlertWorker(
            store,
            evaluator,
            channels,
            anonymous=settings.notify_anonymous_channels,
            poll_interval=settings.alerts_poll_seconds,
        )

    async def flush_now() -> None:
        if flush_lock.locked():
            return
        async with flush_lock:
            await asyncio.to_thread(_flush_and_measure, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Validating a Bundle allocates tens of thousands of short-lived model objects:
        # keep start-up objects out of every collection and collect young ones less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        anyio.to_thread.current_default_thread_limiter().total_tokens = READ_THREADS
        embedded = WalCheckpointer.applies_to(store.engine)
        checkpointer = WalCheckpointer(store.engine) if embedded else None
        in_use = contextlib.ExitStack()
        if checkpointer is not None:
            # `homevitals server restore` refuses while any server holds this lock.
            in_use.enter_context(server_lock(Path(str(store.engine.url.database))))
            checkpointer.start()
        task = None
        if external_series:

            async def loop() -> None:
                while True:
                    try:
                        await flush_now()
                    except Exception:  # keep retrying; flush logs the cause
                        _LOGGER.exception("series outbox flush failed")
                    await asyncio.sleep(5)

            task = asyncio.create_task(loop())
        if alert_worker is not None:
            alert_worker.start()
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            if alert_worker is not None:
                await asyncio.to_thread(alert_worker.stop)
            await asyncio.to_thread(audit.close)  # every queued AuditEvent written first
            if checkpointer is not None:
                await asyncio.to_thread(checkpointer.stop)
            store.series.close()
            process_exiting()
            in_use.close()

    app = FastAPI(
        title=TITLE,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.tokens = tokens
    app.state.access = AccessLoader(store.engine)
    app.state.audit = audit
    app.state.write_limiter = anyio.CapacityLimiter(WRITE_THREADS)
    app.state.alert_worker = alert_worker
    app.state.service = InstrumentedService(
        store,
        default_page_size=settings.default_page_size,
        after_write=(lambda: _flush_quietly(store)) if external_series else None,
        after_alert_work=alert_worker.wake if alert_worker is not None else None,
    )
    # The public conformance routes first: /fhir/metadata must not reach /fhir/{type}.
    app.include_router(conformance_router)
    app.include_router(operations_router)
    # Before the generic routes: /fhir/AuditEvent must not reach /fhir/{type}.
    app.include_router(audit_router)
    app.include_router(alerts_router)  # before /fhir/{type} too: DetectedIssue is the alerts'
    app.include_router(router)
    clinician_ui.install(app, settings)
    document = openapi_document(title=app.title)
    app.openapi = lambda: document  # type: ignore[method-assign]

    @app.exception_handler(FhirError)
    async def _fhir_error(request: Request, error: FhirError) -> Response:
        request.state.audit_detail = str(error)[:500]  # why it was refused, for the AuditEvent
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return fhir_response(error.outcome(), error.status, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "not-supported"}.get(error.status_code, "exception")
        return fhir_response(
            operation_outcome([("error", code, str(error.detail), ())]), error.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> Response:
        return fhir_response(operation_outcome([("error", "invalid", str(error), ())]), 400)

    # Unexpected errors are logged and answered once, in RequestLog (the outermost layer):
    # an Exception handler here would let Starlette re-raise them for uvicorn to log again.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(AuditMiddleware, sink=lambda: app.state.audit)
    app.add_middleware(RequestLog, observe=observe_request)
    if settings.cors_origins:  # closed unless configured: no Access-Control-* at all
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Exist", "Prefer"],
        )
    # Outermost, so that every answer carries them, RequestLog's 500 and CORS's included.
    app.add_middleware(SecurityHeaders, hsts=settings.behind_tls)
    return app


def app_from_environment() -> FastAPI:
    """The server for `HOMEVITALS_*` settings: what each uvicorn worker process builds.

    Alerts are on in every server (issue 13): the real rules evaluate each reading;
    their messages go nowhere until channels are configured (said once at start).
    """
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings, evaluator=real_evaluator(settings))


def real_evaluator(settings: Settings) -> RuleEvaluator:
    """The alert rules for these settings: the server's zone, the clinic's link base and
    the messages' language."""
    if not settings.notify_channels:
        _LOGGER.warning(
            "alerts are on, but no notification channel is configured "
            "(HOMEVITALS_NOTIFY_CHANNELS): alerts are recorded and shown, not sent"
        )
    return RuleEvaluator(
        server_zone=settings.timezone,
        base_url=settings.alerts_link_base(),
        language=settings.notify_language,
    )

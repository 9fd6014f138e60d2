"""One log line per request, and the one place an unexpected error is logged and answered.

`RequestLog` is the outermost middleware of the application. For every request it
writes one line on the `fhir_api.access` logger: method, route template (never the
raw path or query, which carry identifiers and search values), status, duration
and request id. No header is ever logged, so no token; no body, so no patient's
name or password.

It also owns the three failure paths that uvicorn and Starlette got wrong:

- a client that disconnects before its body is complete is an INFO line
  (status 499, nginx's "client closed request"), not a traceback;
- an unexpected exception is logged once, with its traceback and request id
  (Starlette's error middleware would re-raise it for uvicorn to log again),
  and answered with a 500 OperationOutcome that says `Connection: close`,
  because the server then closes the connection (the unread rest of the
  request cannot be trusted);
- every response carries `X-Request-ID` (the client's, when it is a short
  token, else a new one) so an operator can find the line a user reports.

`configure_logging` sets the root handler: text, or one JSON object a line.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect

from .errors import operation_outcome

__all__ = ["JsonFormatter", "RequestLog", "configure_logging", "current_request_id"]

_LOGGER = logging.getLogger(__name__)
ACCESS = logging.getLogger("fhir_api.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
# (method, route template, status, seconds) once a request is done.
Observer = Callable[[str, str, int, float], None]

CLIENT_CLOSED = 499
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_FIELDS = ("request_id", "method", "route", "status", "duration_ms")
# New request ids: 32 hex digits, a random prefix per process and a counter. Not
# uuid4 per request: os.urandom releases the interpreter lock on the event loop's
# thread, and getting it back behind busy request threads can take a switch interval (5 ms).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


def _new_prefix() -> None:
    global _ID_PREFIX, _ID_COUNTER  # a forked worker needs ids of its own
    _ID_PREFIX, _ID_COUNTER = uuid.uuid4().hex[:16], itertools.count()


os.register_at_fork(after_in_child=_new_prefix)


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return _current.get()


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's `X-Request-ID` when it is a short plain token, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
            break
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def route_template(scope: Scope) -> str:
    """The matched route's path template ("/fhir/{resource_type}"), or "-" when none matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "-"


class RequestLog:
    """Pure ASGI middleware: a request id, one access line, and unexpected errors handled once."""

    def __init__(self, app: App, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        token = _current.set(request_id)
        started_at = time.perf_counter()
        status = 0
        disconnected = False

        async def watched_receive() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        async def tagged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, watched_receive, tagged_send)
        except ClientDisconnect:
            status = CLIENT_CLOSED
        except Exception:
            if disconnected and status == 0:
                status = CLIENT_CLOSED  # whatever failed, it failed because the client left
            else:
                _LOGGER.exception("unexpected server error", extra={"request_id": request_id})
                if status == 0:
                    status = 500
                    await self._internal_error(tagged_send)
        finally:
            seconds = time.perf_counter() - started_at
            if disconnected and status == 0:
                status = CLIENT_CLOSED
            method = str(scope.get("method", "-"))
            route = route_template(scope)
            ACCESS.info(
                "%s %s %s %.1fms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
            if self.observe is not None:
                self.observe(method, route, status, seconds)
            _current.reset(token)

    @staticmethod
    async def _internal_error(send: Send) -> None:
        body = json.dumps(
            operation_outcome([("fatal", "exception", "internal server error", ())])
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/fhir+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _RequestIdFilter(logging.Filter):
    """Stamps every record with the current request's id (or "-")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _FIELDS:
            value = getattr(record, field, None)
            if value is not None and value != "-":
                document[field] = value
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


_HANDLER_MARK = "homevitals"


def configure_logging(log_format: str, level: str = "INFO") -> None:
    """Send every log record to stderr as text or JSON (once per process; idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "name", None) == _HANDLER_MARK:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.name = _HANDLER_MARK
    handler.addFilter(_RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(level)

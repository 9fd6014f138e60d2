"""Every FHIR request on record, and every staff page that showed patient data: the audit
middleware and the record of one request (pure).

`describe` turns a request (method, path, query, status) and what the request
touched (`Access`) into an `AuditRecord`: one per request, so a gateway's
transaction of 100 Observations is one AuditEvent naming its patients, not 100.

`AuditMiddleware` writes it once the response starts. A successful write has
already been recorded inside its own database transaction (`FhirService` calls
`Access.write_audit`), so the data and its AuditEvent commit together; everything
else (reads, searches, operations, refused requests, a batch) goes through the
log's writer thread, within its interval.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy import Connection

from ..access.principal import Access
from .record import AuditRecord, AuditSink

__all__ = ["AuditMiddleware", "bind_write_audit", "describe"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PREFIX = "/fhir"
# Conformance reads carry no patient data: not audited (clients read them first, often).
_UNAUDITED = ("/fhir/metadata", "/fhir/OperationDefinition")
_MAX_PATIENTS = 1000  # one AuditEvent names at most this many patients (a wide search)
_MAX_ENTITIES = 100


def _outcome(status: int) -> str:
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def _interaction(method: str, parts: list[str]) -> tuple[str, str, str | None]:
    """(action, subtype, entity) of a request under /fhir, `parts` its path after /fhir."""
    if not parts:
        return ("E", "transaction" if method == "POST" else "system", None)
    if len(parts) >= 2 and parts[1].startswith("$"):
        return ("E", parts[1], parts[0])
    if len(parts) == 1:
        return ("C", "create", parts[0]) if method == "POST" else ("E", "search", parts[0])
    entity = f"{parts[0]}/{parts[1]}"
    if len(parts) == 3 and parts[2].startswith("$"):  # an instance operation: $acknowledge
        return ("E", parts[2], entity)
    if len(parts) >= 3 and parts[2] == "_history":
        return ("R", "vread" if len(parts) >= 4 else "history", entity)
    return {
        "PUT": ("U", "update", entity),
        "DELETE": ("D", "delete", entity),
        "PATCH": ("U", "patch", entity),
    }.get(method, ("R", "read", entity))


def describe(
    method: str,
    path: str,
    query: str,
    status: int,
    access: Access | None,
    *,
    address: str | None,
    detail: str | None = None,
) -> AuditRecord:
    """The AuditRecord of one request: under /fhir, or a staff page that showed patient data."""
    if path == _PREFIX or path.startswith(_PREFIX + "/"):
        parts = [p for p in path[len(_PREFIX) :].split("/") if p]
        action, subtype, entity = _interaction(method, parts)
    else:
        action, subtype, entity = ("R" if method == "GET" else "E"), "page", path
    if access is not None and access.subtype is not None:
        subtype = access.subtype
    entities: list[str] = []
    if access is not None:
        entities = list(dict.fromkeys(access.entities))[:_MAX_ENTITIES]
    if entity and entity not in entities:
        entities.insert(0, entity)
    principal = access.principal if access is not None else None
    patients = sorted(access.touched)[:_MAX_PATIENTS] if access is not None else []
    return AuditRecord(
        action=action,
        subtype=subtype,
        outcome=_outcome(status),
        agent=principal.agent if principal is not None else "anonymous",
        recorded_ms=int(time.time() * 1000),
        agent_reference=principal.agent_reference if principal is not None else None,
        address=address,
        patients=tuple(patients),
        entities=tuple(entities),
        query=query or None,
        detail=detail,
    )


_WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH"})


def bind_write_audit(access: Access, scope: Scope, sink: AuditSink) -> None:
    """Let a write record its AuditEvent inside its own transaction (see `FhirService._write`)."""
    method = scope.get("method", "GET")
    if method not in _WRITES:
        return
    client = scope.get("client")

    def write(connection: Connection) -> None:
        record = describe(
            method,
            scope.get("path", ""),
            scope.get("query_string", b"").decode("latin-1"),
            200,
            access,
            address=client[0] if client else None,
        )
        sink.record_in(connection, [record])

    access.write_audit = write


class AuditMiddleware:
    """Pure ASGI middleware: one AuditRecord per request under /fhir, once answered."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        sink: Callable[[], AuditSink],
    ) -> None:
        self.app = app
        self.sink = sink

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_UNAUDITED):
            await self.app(scope, receive, send)
            return
        fhir = path == _PREFIX or path.startswith(_PREFIX + "/")
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            state = scope.get("state") or {}
            access: Access | None = state.get("access")
            # A page is on record when it read patient data (it took `SessionAccess`).
            wanted = fhir or access is not None
            if wanted and (access is None or not (access.audited and status < 400)):
                client = scope.get("client")
                self.sink().record(
                    describe(
                        scope.get("method", "GET"),
                        path,
                        scope.get("query_string", b"").decode("latin-1"),
                        status,
                        access,
                        address=client[0] if client else None,
                        detail=state.get("audit_detail"),
                    )
                )

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # On record before the client has the whole answer, not after: a
                # client (or a crash) must not see a read whose record is not queued.
                record()
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            record()  # no answer completed (an error, a disconnect): recorded now

"""The audit middleware puts a request on record before the client has the whole answer.

It recorded after the app returned, that is after the last body message had gone to
the client: a client could read a page and look for its AuditEvent before it was even
queued (a test that read the audit trail right after a page saw it late, once in a
full run), and a process killed in between lost the record of a read it had served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from fhir_api.audit.http import AuditMiddleware
from fhir_api.audit.record import AuditRecord


class ListSink:
    def __init__(self) -> None:
        self.events: list[AuditRecord] = []

    def record(self, event: AuditRecord) -> None:
        self.events.append(event)

    def record_in(self, connection: Connection, events: Sequence[AuditRecord]) -> list[int]:
        raise AssertionError("not a write")


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    await send({"type": "http.response.body", "body": b"}"})


async def _failing(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("no answer")


def _scope(path: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "query_string": b"", "state": {}}


async def test_the_record_is_queued_before_the_last_body_message_is_sent() -> None:
    sink = ListSink()
    seen: list[tuple[bool, int]] = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body":
            seen.append((bool(message.get("more_body")), len(sink.events)))

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    await AuditMiddleware(_answer, lambda: sink)(_scope("/fhir/Patient/p1"), receive, send)
    # Not before the body is complete (the status is known), and before its last part.
    assert seen == [(True, 0), (False, 1)]
    assert len(sink.events) == 1


async def test_a_request_that_fails_without_an_answer_is_recorded_once() -> None:
    sink = ListSink()

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent")

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    try:
        await AuditMiddleware(_failing, lambda: sink)(_scope("/fhir/Patient/p1"), receive, send)
    except RuntimeError:
        pass
    assert len(sink.events) == 1

"""`/fhir/AuditEvent`: the audit trail, read-only, for those `may_read_audit` lets in.

Search and read only. Every method that would change an AuditEvent answers 405
with an OperationOutcome, here, before the generic `/fhir/{resource_type}` routes
could take the request (the app includes this router first). AuditEvent is not
among the types the validation layer takes, so a transaction or batch Bundle
cannot carry one either.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..access.principal import Access
from ..errors import Forbidden, NotFound, operation_outcome
from ..responses import fhir_response
from ..routes import require_access, require_json
from .access import may_read_audit
from .query import parse_audit_search
from .store import read_event, search_events

__all__ = ["audit_router"]


async def _reader(access: Annotated[Access, Depends(require_access)]) -> Access:
    if not may_read_audit(access.principal):
        raise Forbidden("reading the audit trail needs an administrator or a system token")
    return access


audit_router = APIRouter(
    prefix="/fhir/AuditEvent", dependencies=[Depends(require_access), Depends(require_json)]
)
_READERS = [Depends(_reader)]


def _base(request: Request) -> str:
    configured = request.app.state.settings.base_url
    return str(configured or str(request.base_url).rstrip("/") + "/fhir").rstrip("/")


def _params(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]


@audit_router.get("", dependencies=_READERS)
async def search_audit(request: Request) -> Response:
    """Search the trail, newest first, a page at a time."""
    settings = request.app.state.settings
    query = parse_audit_search(_params(request), settings.zone, settings.default_page_size)
    engine = request.app.state.store.engine
    events, following = await run_in_threadpool(search_events, engine, query)
    url = f"{_base(request)}/AuditEvent"
    own = [*query.params, ("_count", str(query.count))]
    if query.before is not None:
        own.append(("_cursor", str(query.before)))
    links = [{"relation": "self", "url": f"{url}?{urlencode(own)}"}]
    if following is not None:
        more = [*query.params, ("_count", str(query.count)), ("_cursor", str(following))]
        links.append({"relation": "next", "url": f"{url}?{urlencode(more)}"})
    bundle: dict[str, object] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if events:
        bundle["entry"] = [
            {"fullUrl": f"{url}/{event['id']}", "resource": event, "search": {"mode": "match"}}
            for event in events
        ]
    return fhir_response(bundle)


@audit_router.get("/{event_id}", dependencies=_READERS)
async def read_audit(event_id: str, request: Request) -> Response:
    """One AuditEvent; its id is its place in the chain."""
    if not (event_id.isascii() and event_id.isdigit() and len(event_id) <= 18):
        raise NotFound(f"AuditEvent/{event_id} is not known")
    event = await run_in_threadpool(read_event, request.app.state.store.engine, int(event_id))
    if event is None:
        raise NotFound(f"AuditEvent/{event_id} is not known")
    return fhir_response(event)


def _refuse() -> Response:
    outcome = operation_outcome(
        [("error", "not-supported", "AuditEvents are read-only: no API changes one", ())]
    )
    return fhir_response(outcome, 405, {"Allow": "GET"})


@audit_router.api_route("", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def refuse_on_type() -> Response:
    """405: the trail takes no create and no conditional update or delete."""
    return _refuse()


@audit_router.api_route(
    "/{event_id:path}", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def refuse_on_event(event_id: str) -> Response:
    """405: no AuditEvent is updated, patched or deleted."""
    return _refuse()


@audit_router.get("/{event_id}/{rest:path}", include_in_schema=False, dependencies=_READERS)
async def no_history(event_id: str, rest: str) -> Response:
    """AuditEvents have one version and no operations: nothing under an event's id."""
    raise NotFound(f"AuditEvent/{event_id}/{rest} is not known (AuditEvents have one version)")

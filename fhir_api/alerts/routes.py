"""`/fhir/DetectedIssue`: the alerts as FHIR, read the way AuditEvent is served.

The alert rows are the source of truth (`inbox`); each answer renders them with
`resources.detected_issue`. Read and search for doctors, nurses and care managers
(their care teams' patients only: another patient's alert is 404) and system tokens;
gateways and administrators get 403 from their scopes. Two state changes, each
through `lifecycle` in one transaction with the patient's state row, the alert row
and the AuditEvent:

    POST /fhir/DetectedIssue/{id}/$acknowledge   Parameters: note (optional)
    POST /fhir/DetectedIssue/{id}/$resolve       Parameters: note (required)

Every other write answers 405 with an OperationOutcome (the alerts are the rules'
records, not documents a client edits). The app includes this router before the
generic `/fhir/{type}` routes.

Search parameters: patient (Patient/id or id), status (open, acknowledged,
resolved), code (a condition, e.g. bp-urgent, optionally `<CONDITIONS>|`), identified
(when it opened; eq, ge, gt, le, lt), _sort (identified, -identified; default the
inbox order: open first, most severe, oldest), _count, _offset.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import tzinfo
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..access.principal import Access
from ..access.scopes import Interaction
from ..dates import instants, parse_date
from ..errors import BadRequest, Conflict, NotFound, operation_outcome
from ..responses import fhir_response
from ..routes import require_access, require_json, run_write
from . import inbox
from .conformance import MAX_COUNT
from .lifecycle import AlertNotFound, TransitionError
from .model import Status
from .resources import CONDITIONS

__all__ = ["alerts_router", "parse_alert_search"]

_STATUSES = frozenset(s.value for s in Status)
_PREFIXES = ("eq", "ge", "gt", "le", "lt")
_SORTS = {"identified": "identified", "-identified": "-identified"}
_PARAMETERS = ("patient", "status", "code", "identified", "_sort", "_count", "_offset")
_MAX_NOTE = 2000


def _split(name: str, value: str) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    if not all(items) or len(items) > 50:
        raise BadRequest(f"{name}={value!r}: 1 to 50 values, none empty", expression=[name])
    return items


def _whole(name: str, value: str, low: int, high: int) -> int:
    if (
        not value.isascii()
        or not value.isdigit()
        or len(value) > 9
        or not low <= int(value) <= high
    ):
        raise BadRequest(
            f"{name}={value!r}: a whole number from {low} to {high}", expression=[name]
        )
    return int(value)


def _patient(value: str) -> str:
    patient_id = value.removeprefix("Patient/")
    ok = 0 < len(patient_id) <= 64 and all(c.isalnum() or c in "-." for c in patient_id)
    if not ok or not patient_id.isascii():
        raise BadRequest(f"patient={value!r}: give Patient/[id] or [id]", expression=["patient"])
    return patient_id


def _code(value: str) -> str:
    system, bar, code = value.rpartition("|")
    if bar and system not in ("", CONDITIONS):
        raise BadRequest(f"code={value!r}: the system is {CONDITIONS}", expression=["code"])
    if not code or len(code) > 64:
        raise BadRequest(f"code={value!r}: a condition such as bp-urgent", expression=["code"])
    return code


def _identified(value: str, zone: tzinfo, bounds: list[int | None]) -> None:
    prefix = value[:2] if value[:2].isalpha() else "eq"
    text = value[2:] if value[:2].isalpha() else value
    if prefix not in _PREFIXES:
        raise BadRequest(
            f"identified={value!r}: the prefixes here are {', '.join(_PREFIXES)}",
            expression=["identified"],
        )
    try:
        span = instants(parse_date(text), zone)
    except ValueError as exc:
        raise BadRequest(f"identified={value!r}: {exc}", expression=["identified"]) from None
    low = {"eq": span.start_ms, "ge": span.start_ms, "gt": span.end_ms}.get(prefix)
    high = {"eq": span.end_ms, "le": span.end_ms, "lt": span.start_ms}.get(prefix)
    if low is not None:
        bounds[0] = low if bounds[0] is None else max(bounds[0], low)
    if high is not None:
        bounds[1] = high if bounds[1] is None else min(bounds[1], high)


def parse_alert_search(
    params: Sequence[tuple[str, str]], zone: tzinfo, default_count: int
) -> inbox.AlertFilters:
    """The filters a search's parameters ask for.

    Raises:
        BadRequest: an unknown parameter, or a value that cannot be searched.
    """
    patients: set[str] = set()
    statuses: set[str] = set()
    conditions: set[str] = set()
    bounds: list[int | None] = [None, None]
    sort, count, offset = "inbox", min(default_count, MAX_COUNT), 0
    for name, value in params:
        if name == "patient":
            patients.update(_patient(v) for v in _split(name, value))
        elif name == "status":
            for item in _split(name, value):
                if item not in _STATUSES:
                    raise BadRequest(
                        f"status={item!r}: one of {', '.join(sorted(_STATUSES))}",
                        expression=[name],
                    )
                statuses.add(item)
        elif name == "code":
            conditions.update(_code(v) for v in _split(name, value))
        elif name == "identified":
            _identified(value, zone, bounds)
        elif name == "_sort":
            if value not in _SORTS:
                raise BadRequest(
                    f"_sort={value!r}: identified or -identified (default: open first, "
                    "most severe, oldest)",
                    expression=[name],
                )
            sort = _SORTS[value]
        elif name == "_count":
            count = _whole(name, value, 1, MAX_COUNT)
        elif name == "_offset":
            offset = _whole(name, value, 0, 10**8)
        else:
            raise BadRequest(
                f"{name!r} is not a DetectedIssue search parameter here "
                f"(these are: {', '.join(_PARAMETERS)})",
                expression=[name],
            )
    return inbox.AlertFilters(
        frozenset(patients),
        frozenset(statuses),
        frozenset(conditions),
        bounds[0],
        bounds[1],
        sort,
        count,
        offset,
    )


async def _reader(access: Annotated[Access, Depends(require_access)]) -> Access:
    access.require("DetectedIssue", Interaction.READ)
    return access


async def _changer(access: Annotated[Access, Depends(require_access)]) -> Access:
    access.require("DetectedIssue", Interaction.UPDATE)
    return access


alerts_router = APIRouter(
    prefix="/fhir/DetectedIssue",
    dependencies=[Depends(require_access), Depends(require_json)],
    tags=["DetectedIssue"],
)
Reader = Annotated[Access, Depends(_reader)]
Changer = Annotated[Access, Depends(_changer)]


def _base(request: Request) -> str:
    configured = request.app.state.settings.base_url
    return str(configured or str(request.base_url).rstrip("/") + "/fhir").rstrip("/")


def _not_found(alert_id: str) -> NotFound:
    return NotFound(f"DetectedIssue/{alert_id} is not known")


@alerts_router.get("")
async def search_alerts(request: Request, access: Reader) -> Response:
    """The alerts the caller may see, a page at a time, with the total."""
    settings = request.app.state.settings
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    filters = parse_alert_search(params, settings.zone, settings.default_page_size)
    engine = request.app.state.store.engine
    views, total = await run_in_threadpool(inbox.list_alerts, engine, access, filters)
    url = f"{_base(request)}/DetectedIssue"
    own = [(k, v) for k, v in params if k != "_offset"]
    links = [{"relation": "self", "url": f"{url}?{urlencode([*own, ('_offset', filters.offset)])}"}]
    if filters.offset + len(views) < total:
        following = [*own, ("_offset", filters.offset + len(views))]
        links.append({"relation": "next", "url": f"{url}?{urlencode(following)}"})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
    }
    if views:
        bundle["entry"] = [
            {
                "fullUrl": f"{url}/{view.id}",
                "resource": inbox.as_detected_issue(view),
                "search": {"mode": "match"},
            }
            for view in views
        ]
    for view in views:
        access.note_resource("DetectedIssue", {"id": view.id})
    access.note(inbox.patients_of(views))
    return fhir_response(bundle)


@alerts_router.get("/{alert_id}")
async def read_alert(alert_id: str, request: Request, access: Reader) -> Response:
    """One alert as a DetectedIssue."""
    engine = request.app.state.store.engine
    try:
        view = await run_in_threadpool(inbox.get_alert, engine, access, alert_id)
    except AlertNotFound:
        raise _not_found(alert_id) from None
    access.note(inbox.patients_of([view]))
    return fhir_response(inbox.as_detected_issue(view))


async def _note(request: Request, *, required: bool) -> str:
    """The `note` of a Parameters body (a missing body is no note)."""
    raw = await request.body()
    if not raw.strip():
        body: Any = {"resourceType": "Parameters"}
    else:
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadRequest("the body is not JSON: send a Parameters resource") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("send a Parameters resource (parameter: note)")
    notes = []
    for index, parameter in enumerate(body.get("parameter") or []):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(parameter, dict) or parameter.get("name") != "note":
            raise BadRequest("the only parameter is note (valueString)", expression=[where])
        value = parameter.get("valueString")
        if not isinstance(value, str) or len(value) > _MAX_NOTE:
            raise BadRequest(
                f"note takes a valueString of at most {_MAX_NOTE} characters", expression=[where]
            )
        notes.append(value)
    if len(notes) > 1:
        raise BadRequest("note is given once", expression=["Parameters.parameter"])
    note = notes[0].strip() if notes else ""
    if required and not note:
        raise BadRequest("resolving by hand needs a note saying why", expression=["note"])
    return note


async def _change(
    request: Request, access: Access, alert_id: str, action: Any, note: str
) -> Response:
    store = request.app.state.store
    access.subtype = request.url.path.rsplit("/", 1)[-1]
    try:
        view = await run_write(request, action, store, access, alert_id, note)
    except AlertNotFound:
        raise _not_found(alert_id) from None
    except TransitionError as exc:
        raise Conflict(str(exc)) from None
    access.note_resource("DetectedIssue", {"id": view.id})
    return fhir_response(inbox.as_detected_issue(view))


@alerts_router.post("/{alert_id}/$acknowledge")
async def acknowledge_alert(alert_id: str, request: Request, access: Changer) -> Response:
    """Seen and being handled: the escalation stops. Parameters: note (optional)."""
    note = await _note(request, required=False)
    return await _change(request, access, alert_id, inbox.acknowledge, note)


@alerts_router.post("/{alert_id}/$resolve")
async def resolve_alert(alert_id: str, request: Request, access: Changer) -> Response:
    """Resolved by hand. Parameters: note (required: why)."""
    note = await _note(request, required=True)
    return await _change(request, access, alert_id, inbox.resolve, note)


def _refuse() -> Response:
    outcome = operation_outcome(
        [
            (
                "error",
                "not-supported",
                "DetectedIssues are the alert rules' records: read and search them; change "
                "one with $acknowledge or $resolve",
                (),
            )
        ]
    )
    return fhir_response(outcome, 405, {"Allow": "GET"})


@alerts_router.api_route("", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def refuse_on_type() -> Response:
    """405: no DetectedIssue is created through the API."""
    return _refuse()


@alerts_router.api_route(
    "/{alert_id:path}", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def refuse_on_alert(alert_id: str) -> Response:
    """405: no DetectedIssue is updated, patched or deleted (only the two operations)."""
    return _refuse()


@alerts_router.get("/{alert_id}/{rest:path}", include_in_schema=False)
async def no_history(alert_id: str, rest: str, access: Reader) -> Response:
    """Nothing under an alert's id (no history: its record is its current state)."""
    raise NotFound(f"DetectedIssue/{alert_id}/{rest} is not known")

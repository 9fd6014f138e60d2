"""The unassigned readings page (`/unassigned`) and the assignment (`POST /unassigned/{id}`).

Thin, like the other pages: everything goes through `FhirService` with the session's
`Access`. The readings in reach are the Observations whose subject is one of the
Devices in reach (the gateways serving the caller's patients made them,
`fhir_api.access.compartment`). Assigning is an update of the Observation with
If-Match, so a reading assigned meanwhile by someone else is not silently rewritten;
the service refuses a patient outside the caller's reach and an account without
Observation update (care managers: 403), as it does on the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.access.scopes import Interaction
from fhir_api.accounts.sessions import CurrentAccount, check_csrf, session_id_from
from fhir_api.errors import Conflict, FhirError, NotFound
from fhir_api.service import FhirService

from .access import SessionAccess
from .formatting import moment
from .list_routes import search_all
from .patient_routes import display_name
from .rendering import Pages
from .unassigned import KIND_NAMES, UnassignedRow, assigned, subject_device, unassigned_rows

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_SHOWN = 200  # newest readings listed; the rest wait until these are assigned
_REFERENCES_PER_SEARCH = 100


@dataclass(frozen=True, slots=True)
class _View:
    rows: list[UnassignedRow]
    patients: list[tuple[str, str]]  # (id, name), by name
    more: bool


def _load(service: FhirService, access: Access, zone: tzinfo) -> _View:
    devices = {f"Device/{d.id}": d.content for d in search_all(service, "Device", [], access)}
    references = sorted(devices)
    found = []
    more = False
    for start in range(0, len(references), _REFERENCES_PER_SEARCH):
        chunk = references[start : start + _REFERENCES_PER_SEARCH]
        params = [
            ("subject", ",".join(chunk)),
            ("_sort", "-date"),
            ("_count", str(_SHOWN)),
            ("_total", "none"),
        ]
        result, _query = service.search("Observation", params, access=access)
        found += [(m.content, str(m.version_id)) for m in result.matches]
        more = more or result.next is not None
    rows = unassigned_rows(found, devices, zone)
    more = more or len(rows) > _SHOWN
    patients = sorted(
        ((p.id, display_name(p.content)) for p in search_all(service, "Patient", [], access)),
        key=lambda pair: pair[1],
    )
    return _View(rows[:_SHOWN], patients, more)


def _assign(
    service: FhirService, access: Access, observation_id: str, version: str, patient_id: str
) -> None:
    access.require("Observation", Interaction.UPDATE)
    if patient_id not in (access.patients or frozenset()):
        raise NotFound("No patient of that id is in your care.")
    current = service.read("Observation", observation_id, access=access)
    if subject_device(current.content) is None:
        raise Conflict("This reading is already assigned to a patient.")
    service.update(
        "Observation",
        observation_id,
        assigned(current.content, patient_id),
        if_match=f'W/"{version}"' if version.isdigit() else None,
        access=access,
    )


def _may_assign(access: Access) -> bool:
    return access.principal.scopes.allows("Observation", Interaction.UPDATE)


@router.get("/unassigned")
async def unassigned_page(
    request: Request, account: CurrentAccount, access: SessionAccess
) -> Response:
    """The unassigned readings in reach, newest first, each with a form to assign it."""
    pages: Pages = request.app.state.pages
    service: FhirService = request.app.state.service
    zone: tzinfo = request.app.state.store.zone
    view = await run_in_threadpool(_load, service, access, zone)
    language, _chosen = pages.language(request)
    gettext = pages.catalogs.gettext(language)
    names = dict(view.patients)
    done = request.query_params.get("assigned")
    return pages.render(
        request,
        "unassigned.html",
        csrf_for=session_id_from(request) or "",
        account=account,
        nav="unassigned",
        rows=view.rows,
        patients=view.patients,
        more=view.more,
        may_assign=_may_assign(access),
        zone=str(getattr(zone, "key", zone)),
        when=lambda row: (
            moment(int(row.reading.at.timestamp() * 1000), zone, language) if row.reading else "—"
        ),
        kind_names={kind: gettext(text) for kind, text in KIND_NAMES.items()},
        assigned_to=names.get(done) if done else None,
        lang_links={
            code: "?" + urlencode({**({"assigned": done} if done else {}), "lang": code})
            for code in ("ja", "en")
        },
    )


@router.post("/unassigned/{observation_id}")
async def assign_reading(
    request: Request, observation_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """Assign one reading to one of the caller's patients, then back to the list."""
    pages: Pages = request.app.state.pages
    form = await request.form()
    key: bytes = request.app.state.settings.signing_key
    raw_id = session_id_from(request)
    check_csrf(key, "session", raw_id, form.get("csrf"))
    patient = form.get("patient")
    version = form.get("version")
    try:
        if not isinstance(patient, str) or not patient:
            raise NotFound("No patient of that id is in your care.")
        await run_in_threadpool(
            _assign,
            request.app.state.service,
            access,
            observation_id,
            version if isinstance(version, str) else "",
            patient,
        )
    except FhirError as error:
        request.state.audit_detail = str(error)[:500]
        return pages.render(
            request,
            "error.html",
            status=error.status,
            csrf_for=raw_id or "",
            message=str(error),
            account=account,
        )
    return Pages.redirect("/unassigned?" + urlencode({"assigned": patient}))

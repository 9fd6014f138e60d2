"""The patient settings page (`/patients/{id}/settings`): time zone, BP target, limits.

Thin, like the other pages: the Patient is read and written through `FhirService`
with the session's `Access`, so the FHIR API's rules hold here too (a patient
outside the care teams is a 404; a role without Patient update, a care manager, sees
the values read-only and its POST is a 403; the write is audited). Saving is a
read-modify-write with If-Match on the version the form was made from: a change by
someone else in between is shown on the page, never silently overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.access.scopes import Interaction
from fhir_api.accounts.sessions import CurrentAccount, check_csrf, session_id_from
from fhir_api.audit.http import bind_write_audit
from fhir_api.errors import FhirError, PreconditionFailed
from fhir_api.service import FhirService
from fhir_api.storage.resources import Stored
from fhir_api.vital_limits import Spo2Scale, chosen_of

from .access import SessionAccess
from .i18n import LANGUAGES
from .patient_routes import display_name
from .rendering import Pages
from .settings_form import Submission, apply, fields_of, read_form, zone_choices

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
CONFLICT = (
    "Someone else changed this patient's settings after you opened this page. "
    "Nothing of yours was saved: the page now shows their values; check them and save again."
)


@cache
def _zones() -> frozenset[str]:
    """The IANA zone names zoneinfo knows (as the FHIR validation accepts them)."""
    return frozenset(available_timezones() - {"localtime", "Factory", "posixrules"})


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a POST came to: saved, refused (the submission's messages) or a conflict."""

    patient: Stored
    submission: Submission | None = None
    conflict: bool = False


def _may_edit(access: Access) -> bool:
    return access.principal.scopes.allows("Patient", Interaction.UPDATE)


def _save(service: FhirService, access: Access, patient_id: str, form: dict[str, str]) -> _Outcome:
    access.require("Patient", Interaction.UPDATE)
    current = service.read("Patient", patient_id, access=access)
    submission = read_form(form, _zones())
    if submission.errors:
        return _Outcome(current, submission)
    if not submission.version.isdigit():
        return _Outcome(current, conflict=True)
    try:
        stored = service.update(
            "Patient",
            patient_id,
            apply(current.content, submission),
            if_match=f'W/"{submission.version}"',
            access=access,
        ).stored
    except PreconditionFailed:
        return _Outcome(service.read("Patient", patient_id, access=access), conflict=True)
    return _Outcome(stored)


def _render(
    request: Request,
    account: Any,
    access: Access,
    outcome: _Outcome,
    *,
    status: int = 200,
    saved: bool = False,
) -> Response:
    pages: Pages = request.app.state.pages
    patient = outcome.patient
    submission = outcome.submission
    zone, offered = zone_choices(patient.content)
    _chosen, scale = chosen_of(patient.content)
    typed_zone = ""
    if submission is not None:
        scale = submission.scale
        zone = submission.zone
        if zone and zone not in offered:
            typed_zone, zone = zone, None
    server_zone = str(getattr(request.app.state.store.zone, "key", "UTC"))
    return pages.render(
        request,
        "patient_settings.html",
        status=status,
        csrf_for=session_id_from(request) or "",
        account=account,
        nav="patients",
        patient_id=patient.id,
        name=display_name(patient.content),
        version=patient.version_id,
        sections=fields_of(patient.content, submission),
        zone=zone,
        zones=offered,
        typed_zone=typed_zone,
        zone_error=submission.errors.get("zone") if submission else None,
        server_zone=server_zone,
        scale=scale.value,
        scales=[s.value for s in Spo2Scale],
        may_edit=_may_edit(access),
        saved=saved,
        refused=submission is not None,
        conflict=CONFLICT if outcome.conflict else None,
        lang_links={code: "?" + urlencode({"lang": code}) for code in LANGUAGES},
    )


def _error(request: Request, account: Any, error: FhirError) -> Response:
    pages: Pages = request.app.state.pages
    return pages.patient_error(request, account, error)


@router.get("/patients/{patient_id}/settings")
async def settings_page(
    request: Request, patient_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """The patient's settings: a form for doctors and nurses, read-only for other roles."""
    service: FhirService = request.app.state.service
    try:
        patient = await run_in_threadpool(service.read, "Patient", patient_id, access=access)
    except FhirError as error:
        return _error(request, account, error)
    saved = request.query_params.get("saved") == "1"
    return _render(request, account, access, _Outcome(patient), saved=saved)


@router.post("/patients/{patient_id}/settings")
async def save_settings(
    request: Request, patient_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """Save the form: back to the page with "saved", or the form again with the messages."""
    form = await request.form()
    key: bytes = request.app.state.settings.signing_key
    check_csrf(key, "session", session_id_from(request), form.get("csrf"))
    values = {name: value for name, value in form.items() if isinstance(value, str)}
    service: FhirService = request.app.state.service
    # The AuditEvent commits with the Patient, as for a PUT on the API.
    bind_write_audit(access, request.scope, request.app.state.audit)
    try:
        outcome = await run_in_threadpool(_save, service, access, patient_id, values)
    except FhirError as error:
        return _error(request, account, error)
    if outcome.conflict:
        return _render(request, account, access, outcome, status=409)
    if outcome.submission is not None:
        return _render(request, account, access, outcome, status=400)
    return Pages.redirect(f"/patients/{patient_id}/settings?saved=1")

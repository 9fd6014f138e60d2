"""The home settings page (`/patients/{id}/home`): what the patient's home gateway does.

Thin, like the patient settings page: the Patient is read and written through
`FhirService` with the session's `Access` (a patient outside the care teams is a 404;
a role without Patient update sees the values read-only and its POST is a 403; the
write is audited), with If-Match on the version the form was made from. The settings
are the Patient's `home-settings` extension (fhir_api/home_settings.py); the gateway
fetches them with its next poll (issue 14).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.access.scopes import Interaction
from fhir_api.accounts.sessions import CurrentAccount, check_csrf, session_id_from
from fhir_api.audit.http import bind_write_audit
from fhir_api.errors import FhirError, PreconditionFailed
from fhir_api.home_settings import settings_of, with_settings
from fhir_api.service import FhirService
from fhir_api.storage.resources import Stored

from .access import SessionAccess
from .home_settings_form import REMINDER_KINDS, HomeForm, form_of, read_home_form
from .i18n import LANGUAGES
from .patient_routes import display_name
from .rendering import Pages

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
CONFLICT = (
    "Someone else changed this patient's record after you opened this page. "
    "Nothing of yours was saved: the page now shows the stored settings; check them "
    "and save again."
)


def _save(
    service: FhirService, access: Access, patient_id: str, form: dict[str, str]
) -> tuple[Stored, HomeForm | None, bool]:
    """(patient, refused form or None, conflict)."""
    access.require("Patient", Interaction.UPDATE)
    current = service.read("Patient", patient_id, access=access)
    submitted = read_home_form(form)
    if submitted.settings is None:
        return current, submitted, False
    version = form.get("version", "")
    if not version.isdigit():
        return current, None, True
    # The form does not carry the device bindings: a save keeps the stored ones.
    kept = settings_of(current.content)
    settings = replace(submitted.settings, devices=kept.devices if kept else ())
    try:
        stored = service.update(
            "Patient",
            patient_id,
            with_settings(current.content, settings),
            if_match=f'W/"{version}"',
            access=access,
        ).stored
    except PreconditionFailed:
        return service.read("Patient", patient_id, access=access), None, True
    return stored, None, False


def _render(
    request: Request,
    account: Any,
    access: Access,
    patient: Stored,
    form: HomeForm | None = None,
    *,
    status: int = 200,
    saved: bool = False,
    conflict: bool = False,
) -> Response:
    pages: Pages = request.app.state.pages
    shown = form or form_of(settings_of(patient.content))
    return pages.render(
        request,
        "home_settings.html",
        status=status,
        csrf_for=session_id_from(request) or "",
        account=account,
        nav="patients",
        patient_id=patient.id,
        name=display_name(patient.content),
        version=patient.version_id,
        values=shown.values,
        errors=shown.errors,
        kinds=REMINDER_KINDS,
        may_edit=access.principal.scopes.allows("Patient", Interaction.UPDATE),
        saved=saved,
        refused=bool(shown.errors),
        conflict=CONFLICT if conflict else None,
        lang_links={code: "?" + urlencode({"lang": code}) for code in LANGUAGES},
    )


def _error(request: Request, account: Any, error: FhirError) -> Response:
    pages: Pages = request.app.state.pages
    request.state.audit_detail = str(error)[:500]
    message = "No patient of that id is in your care." if error.status == 404 else str(error)
    return pages.render(
        request,
        "error.html",
        status=error.status,
        csrf_for=session_id_from(request) or "",
        message=message,
        account=account,
    )


@router.get("/patients/{patient_id}/home")
async def home_settings_page(
    request: Request, patient_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """The home gateway's settings: a form for doctors and nurses, read-only otherwise."""
    service: FhirService = request.app.state.service
    try:
        patient = await run_in_threadpool(service.read, "Patient", patient_id, access=access)
    except FhirError as error:
        return _error(request, account, error)
    saved = request.query_params.get("saved") == "1"
    return _render(request, account, access, patient, saved=saved)


@router.post("/patients/{patient_id}/home")
async def save_home_settings(
    request: Request, patient_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """Save the form: back to the page with "saved", or the form again with the messages."""
    form = await request.form()
    key: bytes = request.app.state.settings.signing_key
    check_csrf(key, "session", session_id_from(request), form.get("csrf"))
    values = {name: value for name, value in form.items() if isinstance(value, str)}
    service: FhirService = request.app.state.service
    bind_write_audit(access, request.scope, request.app.state.audit)
    try:
        patient, refused, conflict = await run_in_threadpool(
            _save, service, access, patient_id, values
        )
    except FhirError as error:
        return _error(request, account, error)
    if conflict:
        return _render(request, account, access, patient, status=409, conflict=True)
    if refused is not None:
        return _render(request, account, access, patient, refused, status=400)
    return Pages.redirect(f"/patients/{patient_id}/home?saved=1")

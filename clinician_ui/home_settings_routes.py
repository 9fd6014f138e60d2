"""The home settings page (`/patients/{id}/home`): what the patient's home gateway does.

Thin, like the patient settings page: the Patient is read and written through
`FhirService` with the session's `Access` (a patient outside the care teams is a 404;
a role without Patient update sees the values read-only and its POST is a 403; the
write is audited), with If-Match on the version the form was made from. The settings
are the Patient's `home-settings` extension (fhir_api/home_settings.py); the gateway
fetches them with its next poll (issue 14).

The "Devices" block (home_devices.py) lists the devices the gateways serving this
patient report (found as the gateways page finds them) with how each is bound to
this patient; its choices are saved in the same extension, with the same If-Match.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from fhir_api.dates import patient_zone_name, zone_named
from fhir_api.errors import FhirError, PreconditionFailed
from fhir_api.home_settings import settings_of, with_settings
from fhir_api.service import FhirService
from fhir_api.storage.resources import Stored

from .access import SessionAccess
from .formatting import moment
from .gateway_routes import patient_sensors
from .gateways import KIND_NAMES, Sensor
from .home_devices import SLOTS, DeviceRow, device_rows, read_devices, submitted_rows
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
    devices, device_errors = read_devices(form)
    if device_errors:
        submitted = HomeForm(submitted.values, {**submitted.errors, **device_errors})
    if submitted.settings is None or device_errors:
        return current, submitted, False
    version = form.get("version", "")
    if not version.isdigit():
        return current, None, True
    # A form without the Devices block (a page of before) keeps the stored bindings.
    kept = settings_of(current.content)
    if devices is None:
        devices = kept.devices if kept else ()
    settings = replace(submitted.settings, devices=devices)
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


def _rows(
    sensors: list[Sensor], patient: Stored, submitted: Mapping[str, str] | None
) -> list[DeviceRow]:
    rows = device_rows(sensors, settings_of(patient.content))
    if submitted is None:
        return rows
    chosen = {address: choice for _key, address, _kind, choice in submitted_rows(submitted)}
    return [replace(r, choice=chosen.get(r.address, r.choice)) for r in rows]


def _render(
    request: Request,
    account: Any,
    access: Access,
    patient: Stored,
    form: HomeForm | None = None,
    *,
    sensors: list[Sensor] | None = None,
    submitted: Mapping[str, str] | None = None,
    status: int = 200,
    saved: bool = False,
    conflict: bool = False,
) -> Response:
    pages: Pages = request.app.state.pages
    shown = form or form_of(settings_of(patient.content))
    language, _chosen = pages.language(request)
    zone_name = patient_zone_name(patient.content)
    zone = (zone_named(zone_name) if zone_name else None) or request.app.state.store.zone

    def when(ms: int | None) -> str:
        return "—" if ms is None else moment(ms, zone, language)

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
        devices=_rows(sensors or [], patient, submitted),
        kind_names=KIND_NAMES,
        slots=SLOTS,
        when=when,
        may_edit=access.principal.scopes.allows("Patient", Interaction.UPDATE),
        saved=saved,
        refused=bool(shown.errors),
        conflict=CONFLICT if conflict else None,
        lang_links={code: "?" + urlencode({"lang": code}) for code in LANGUAGES},
    )


def _error(request: Request, account: Any, error: FhirError) -> Response:
    pages: Pages = request.app.state.pages
    return pages.patient_error(request, account, error)


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
    sensors = await run_in_threadpool(patient_sensors, service, access, patient_id)
    saved = request.query_params.get("saved") == "1"
    return _render(request, account, access, patient, sensors=sensors, saved=saved)


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
    if conflict or refused is not None:
        sensors = await run_in_threadpool(patient_sensors, service, access, patient_id)
    if conflict:
        return _render(
            request, account, access, patient, sensors=sensors, status=409, conflict=True
        )
    if refused is not None:
        return _render(
            request,
            account,
            access,
            patient,
            refused,
            sensors=sensors,
            submitted=values,
            status=400,
        )
    return Pages.redirect(f"/patients/{patient_id}/home?saved=1")

"""A patient's alert settings page (`/patients/{id}/alerts/settings`): the patient's own
alert rules and silences (issue 13).

The rules (weight gain, no-reading times, warning rules off) are saved on the Patient
like the settings page's limits (`settings_routes`): through `FhirService.update` with
If-Match on the version the form was made from (a change in between is a 409 with their
values shown), so only roles with Patient update (doctor, nurse) change them; a care
manager sees them read-only. The form is `alert_rules_form` (pure).

A silence pauses the messages of a patient's alerts (all, or one rule's) for a hospital
stay, travel or a broken cuff; the alerts are still opened and shown (`silences`).
Thin, like the other pages: the silences go through `silence_store` with the session's
`Access` (a patient outside the care teams is "not found"), changing them needs the
scope that changes alerts (DetectedIssue update: doctor, nurse, care manager), every
form carries the CSRF token, and each change's AuditEvent commits with it. Times are
typed and shown in the patient's zone. Bad input is the form again, 400, nothing saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.access.scopes import Interaction
from fhir_api.accounts.sessions import CurrentAccount, check_csrf, session_id_from
from fhir_api.alert_rules import with_alert_rules
from fhir_api.alerts import settings_api
from fhir_api.alerts.silence_store import SilenceRefused, add_silence, end_silence, list_silences
from fhir_api.audit.http import bind_write_audit
from fhir_api.dates import patient_zone_name, zone_named
from fhir_api.errors import FhirError, PreconditionFailed
from fhir_api.service import FhirService

from .access import SessionAccess
from .alert_rules_form import OFF_CHOICES, RulesForm, form_of, read_form
from .alerts_data import CONDITIONS, staff_names
from .alerts_routes import NO_ALERTS
from .formatting import moment
from .i18n import LANGUAGES
from .patient_routes import display_name
from .rendering import Pages

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_DONE = {"added": "Silence saved.", "ended": "Silence ended.", "rules": "Alert rules saved."}
NOT_FOUND = "No patient of that id is in your care."
NO_SILENCE = "No silence of that id is in your care."
READ_ONLY = "Your role may view these silences but not change them."
RULES_READ_ONLY = "Your role may view these rules but not change them."
RULES_CONFLICT = (
    "Someone else changed this patient after you opened this page. Nothing of yours was "
    "saved: the form now shows their values; check them and save again."
)
_FIELD_TEXTS = {
    "reason": "Please give a reason (hospital stay, travel, broken device …).",
    "starts": "Please give the start as a date and time.",
    "ends": "Please give the end as a date and time, after the start.",
    "rule": "Please choose a rule from the list.",
}
_SHOWN_ENDED = 10  # the most recent ended silences the page lists


@dataclass(slots=True)
class _Form:
    """What was typed into the add form, and what is wrong with it (field: message)."""

    starts: str = ""
    ends: str = ""
    rule: str = ""
    reason: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _may_change(access: Access) -> bool:
    return access.principal.scopes.allows("DetectedIssue", Interaction.UPDATE)


def _zone_of(content: dict[str, Any], fallback: tzinfo) -> tzinfo:
    name = patient_zone_name(content)
    return (zone_named(name) if name else None) or fallback


def _local_input(when: datetime, zone: tzinfo) -> str:
    """A moment as a datetime-local field's value in the patient's zone."""
    return when.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _may_edit_rules(access: Access) -> bool:
    return access.principal.scopes.allows("Patient", Interaction.UPDATE)


def _read(
    service: FhirService, access: Access, patient_id: str
) -> tuple[dict[str, Any], list[settings_api.SilenceRow], dict[str, str], str]:
    patient = service.read("Patient", patient_id, access=access)
    found = list_silences(service.store.engine, access, [patient_id])
    now = datetime.fromtimestamp(service.store.now_ms() / 1000, UTC)
    rows = [settings_api.silence_row(s, now) for s in found]
    current = [r for r in rows if r.state != "ended"]
    ended = sorted(
        (r for r in rows if r.state == "ended"), key=lambda r: r.silence.ends, reverse=True
    )
    shown = current + ended[:_SHOWN_ENDED]
    names = staff_names(service.store.engine, {r.silence.author for r in shown})
    return patient.content, shown, names, str(patient.version_id)


async def _render(
    request: Request,
    account: Any,
    access: Access,
    patient_id: str,
    *,
    form: _Form | None = None,
    rules_form: RulesForm | None = None,
    status: int = 200,
    message: str | None = None,
    rules_message: str | None = None,
) -> Response:
    pages: Pages = request.app.state.pages
    service: FhirService = request.app.state.service
    try:
        content, rows, names, version = await run_in_threadpool(_read, service, access, patient_id)
    except FhirError as error:
        return _error(request, account, error.status, NOT_FOUND)
    zone = _zone_of(content, request.app.state.store.zone)
    language, _chosen = pages.language(request)
    gettext = pages.catalogs.gettext(language)
    if form is None:
        now = datetime.fromtimestamp(request.app.state.store.now_ms() / 1000, UTC)
        form = _Form(starts=_local_input(now, zone))
    if rules_form is None:
        rules_form = form_of(content, version)
    return pages.render(
        request,
        "alert_settings.html",
        status=status,
        csrf_for=session_id_from(request) or "",
        account=account,
        nav="patients",
        patient_id=patient_id,
        name=display_name(content),
        zone_name=str(getattr(zone, "key", zone)),
        rows=rows,
        names=names,
        form=form,
        field_texts=_FIELD_TEXTS,
        rules=sorted(CONDITIONS.items(), key=lambda item: gettext(item[1])),
        rule_texts=CONDITIONS,
        when=lambda at: moment(int(at.timestamp() * 1000), zone, language),
        may_change=_may_change(access),
        rules_form=rules_form,
        off_choices=OFF_CHOICES,
        may_edit_rules=_may_edit_rules(access),
        rules_message=rules_message,
        done=_DONE.get(request.query_params.get("done") or ""),
        message=message,
        lang_links={code: "?" + urlencode({"lang": code}) for code in LANGUAGES},
    )


def _error(request: Request, account: Any, status: int, message: str) -> Response:
    pages: Pages = request.app.state.pages
    request.state.audit_detail = message
    return pages.render(
        request,
        "error.html",
        status=status,
        csrf_for=session_id_from(request) or "",
        message=message,
        account=account,
    )


async def _checked_form(request: Request) -> dict[str, str]:
    """The form's text fields, after its CSRF token is checked."""
    form = await request.form()
    key: bytes = request.app.state.settings.signing_key
    check_csrf(key, "session", session_id_from(request), form.get("csrf"))
    return {name: value.strip() for name, value in form.items() if isinstance(value, str)}


def _parsed(
    values: dict[str, str], zone: tzinfo
) -> tuple[_Form, tuple[datetime, datetime, str | None] | None]:
    """The typed form and, when it is complete and sound, (starts, ends, rule)."""
    form = _Form(
        starts=values.get("starts", "")[:40],
        ends=values.get("ends", "")[:40],
        rule=values.get("rule", "")[:64],
        reason=values.get("reason", "")[:2000],
    )
    if not form.reason or len(values.get("reason", "")) > 2000:
        form.errors["reason"] = _FIELD_TEXTS["reason"]
    moments: dict[str, datetime] = {}
    for name in ("starts", "ends"):
        try:
            moments[name] = settings_api.parse_moment(getattr(form, name), zone)
        except SilenceRefused:
            form.errors[name] = _FIELD_TEXTS[name]
    if len(moments) == 2 and moments["ends"] <= moments["starts"]:
        form.errors["ends"] = _FIELD_TEXTS["ends"]
    if form.rule and form.rule not in CONDITIONS:
        form.errors["rule"] = _FIELD_TEXTS["rule"]
    if form.errors:
        return form, None
    return form, (moments["starts"], moments["ends"], form.rule or None)


@router.get("/patients/{patient_id}/alerts/settings")
async def alert_settings_page(
    request: Request, patient_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """The patient's silences: in effect and planned first, then the recent ended ones."""
    if not access.principal.scopes.allows("DetectedIssue", Interaction.READ):
        return _error(request, account, 403, NO_ALERTS)
    return await _render(request, account, access, patient_id)


@router.post("/patients/{patient_id}/alerts/silences")
async def add_patient_silence(
    request: Request, patient_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """Add a silence: back to the page with "saved", or the form again with the messages."""
    values = await _checked_form(request)
    if not _may_change(access):
        return _error(request, account, 403, READ_ONLY)
    service: FhirService = request.app.state.service
    try:
        patient = await run_in_threadpool(service.read, "Patient", patient_id, access=access)
    except FhirError as error:
        return _error(request, account, error.status, NOT_FOUND)
    form, parsed = _parsed(values, _zone_of(patient.content, request.app.state.store.zone))
    if parsed is None:
        request.state.audit_detail = "silence refused: " + ", ".join(sorted(form.errors))
        return await _render(request, account, access, patient_id, form=form, status=400)
    starts, ends, rule = parsed
    # The AuditEvent commits with the silence, as a change on the API does.
    bind_write_audit(access, request.scope, request.app.state.audit)
    try:
        await run_in_threadpool(
            lambda: add_silence(
                request.app.state.store,
                access,
                reason=form.reason,
                starts=starts,
                ends=ends,
                patient=patient_id,
                rule=rule,
            )
        )
    except SilenceRefused as refused:
        request.state.audit_detail = str(refused)[:500]
        return _error(request, account, 404, NOT_FOUND)
    return Pages.redirect(f"/patients/{patient_id}/alerts/settings?done=added")


@router.post("/patients/{patient_id}/alerts/silences/{silence_id}/end")
async def end_patient_silence(
    request: Request,
    patient_id: str,
    silence_id: str,
    account: CurrentAccount,
    access: SessionAccess,
) -> Response:
    """End a silence now (a planned one never starts): its patient's messages go out again."""
    await _checked_form(request)
    if not _may_change(access):
        return _error(request, account, 403, READ_ONLY)
    found = await run_in_threadpool(
        list_silences, request.app.state.store.engine, access, [patient_id]
    )
    if silence_id not in {s.id for s in found}:
        request.state.audit_detail = f"no silence {silence_id[:64]} of Patient/{patient_id[:64]}"
        return _error(request, account, 404, NO_SILENCE)
    bind_write_audit(access, request.scope, request.app.state.audit)
    try:
        await run_in_threadpool(end_silence, request.app.state.store, access, silence_id)
    except SilenceRefused:
        return _error(request, account, 404, NO_SILENCE)
    return Pages.redirect(f"/patients/{patient_id}/alerts/settings?done=ended")


@router.post("/patients/{patient_id}/alerts/rules")
async def save_patient_rules(
    request: Request, patient_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """Save the patient's own rules on the Patient (If-Match): back with "saved", the
    form again with the messages (400), or their values with a notice (409)."""
    submitted = await request.form()
    key: bytes = request.app.state.settings.signing_key
    check_csrf(key, "session", session_id_from(request), submitted.get("csrf"))
    if not _may_edit_rules(access):
        return _error(request, account, 403, RULES_READ_ONLY)
    values = {k: v for k, v in submitted.items() if isinstance(v, str)}
    off = [v for v in submitted.getlist("off") if isinstance(v, str)]
    form, rules = read_form(values, off)
    if rules is None:
        request.state.audit_detail = "alert rules refused: " + ", ".join(sorted(form.errors))
        return await _render(request, account, access, patient_id, rules_form=form, status=400)
    service: FhirService = request.app.state.service
    bind_write_audit(access, request.scope, request.app.state.audit)

    def save() -> None:
        current = service.read("Patient", patient_id, access=access)
        if not form.version.isdigit():
            raise PreconditionFailed("the form has no version")
        service.update(
            "Patient",
            patient_id,
            with_alert_rules(current.content, rules),
            if_match=f'W/"{form.version}"',
            access=access,
        )

    try:
        await run_in_threadpool(save)
    except PreconditionFailed:
        return await _render(
            request, account, access, patient_id, status=409, rules_message=RULES_CONFLICT
        )
    except FhirError as error:
        pages: Pages = request.app.state.pages
        return pages.patient_error(request, account, error)
    return Pages.redirect(f"/patients/{patient_id}/alerts/settings?done=rules#h-rules")

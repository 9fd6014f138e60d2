"""The alert inbox (`/alerts`) and its two actions, acknowledge and resolve (issue 13).

Thin, like the other pages: the alerts come from `fhir_api.alerts.inbox` with the
session's `Access` (the care teams' patients only, as on `/fhir/DetectedIssue`: an
alert of another patient is "not found"), and a change goes through the same
`inbox.acknowledge` / `inbox.resolve` as the API's `$acknowledge` / `$resolve`, with
its AuditEvent in the change's transaction. Every form carries the CSRF token; a
change answers 303 back to the inbox with the filters it was made from. Someone
else's change in between (resolved already) is a 409 with the inbox and a message,
and resolving without a note is a 400 with the message at the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.access.scopes import Interaction
from fhir_api.accounts.sessions import CurrentAccount, check_csrf, session_id_from
from fhir_api.alerts import inbox
from fhir_api.alerts.lifecycle import AlertNotFound, TransitionError
from fhir_api.alerts.model import Status
from fhir_api.audit.http import bind_write_audit
from fhir_api.service import FhirService

from .access import SessionAccess
from .alerts_data import (
    CONDITIONS,
    SEVERITY_GLYPHS,
    SEVERITY_TEXTS,
    inbox_rows,
    my_channels,
    values_text,
)
from .formatting import age_text, moment
from .list_routes import page_clock, search_all
from .patient_routes import display_name
from .rendering import Pages
from .summary import age

__all__ = ["STATES", "InboxQuery", "router"]

router = APIRouter(include_in_schema=False)

PAGE_ROWS = 50
_MAX_NOTE = 2000
# The state filter: what is still to do (the default), each state, or all.
STATES = {
    "active": frozenset({Status.OPEN.value, Status.ACKNOWLEDGED.value}),
    "open": frozenset({Status.OPEN.value}),
    "acknowledged": frozenset({Status.ACKNOWLEDGED.value}),
    "resolved": frozenset({Status.RESOLVED.value}),
    "all": frozenset(),
}
_STATE_TEXTS = {
    "active": "Open and acknowledged",
    "open": "Open",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "all": "All",
}
_DONE = {"acknowledged": "Alert acknowledged.", "resolved": "Alert resolved."}
NOT_FOUND = "No alert of that id is in your care."
ALREADY = "Someone else resolved this alert in the meantime: the list below shows it as it is now."
ACKNOWLEDGED_ALREADY = "This alert was acknowledged already (the row shows by whom)."
NO_ALERTS = "Your role does not see alerts: they go to the patients' care teams."
NOTE_NEEDED = "Resolving by hand needs a note saying why."
NOTE_TOO_LONG = "The note is too long (at most 2,000 characters)."


def _id_like(value: str) -> bool:
    return 0 < len(value) <= 64 and value.isascii() and all(c.isalnum() or c in "-." for c in value)


@dataclass(frozen=True, slots=True)
class InboxQuery:
    """The inbox's filters (query parameters); anything unknown falls back to the default."""

    patient: str = ""
    condition: str = ""
    state: str = "active"
    page: int = 1

    @classmethod
    def of(cls, params: Any) -> InboxQuery:
        """From a query's parameters (a mapping with `get`)."""
        patient = str(params.get("patient") or "")
        condition = str(params.get("condition") or "")
        state = str(params.get("state") or "active")
        page = str(params.get("page") or "1")
        return cls(
            patient=patient if _id_like(patient) else "",
            condition=condition if condition in CONDITIONS else "",
            state=state if state in STATES else "active",
            page=int(page) if page.isdigit() and 0 < len(page) < 6 else 1,
        )

    def filters(self) -> inbox.AlertFilters:
        """What to ask the inbox service for (its order: open first, most severe, oldest)."""
        return inbox.AlertFilters(
            patients=frozenset({self.patient}) if self.patient else frozenset(),
            statuses=STATES[self.state],
            conditions=frozenset({self.condition}) if self.condition else frozenset(),
            count=PAGE_ROWS,
            offset=(self.page - 1) * PAGE_ROWS,
        )

    def query(self, **change: str) -> str:
        """This query's parameters (defaults left out), some changed, without the '?'."""
        values = {
            "patient": self.patient,
            "condition": self.condition,
            "state": "" if self.state == "active" else self.state,
            "page": "" if self.page == 1 else str(self.page),
        }
        values.update(change)
        return urlencode({k: v for k, v in values.items() if v})

    def link(self, **change: str) -> str:
        """This inbox with some parameters changed, as a relative URL."""
        text = self.query(**change)
        return f"/alerts?{text}" if text else "/alerts"


def _patients(service: FhirService, access: Access) -> list[tuple[str, str]]:
    """The caller's patients (id, name) for the patient filter, by name."""
    found = search_all(service, "Patient", [], access)
    return sorted(((p.id, display_name(p.content)) for p in found), key=lambda p: (p[1], p[0]))


def _may_change(access: Access) -> bool:
    return access.principal.scopes.allows("DetectedIssue", Interaction.UPDATE)


def _read(
    service: FhirService, access: Access, query: InboxQuery, zone: tzinfo
) -> tuple[list[Any], int, list[tuple[str, str]], list[tuple[str, str | None]] | None]:
    rows, total = inbox_rows(service, access, query.filters(), zone, display_name)
    channels = my_channels(service.store.engine, access)
    return rows, total, _patients(service, access), channels


async def _render(
    request: Request,
    account: Any,
    access: Access,
    query: InboxQuery,
    *,
    status: int = 200,
    message: str | None = None,
    failed: str | None = None,
    note: str = "",
) -> Response:
    """The inbox page; `failed` names the alert whose form `message` is about."""
    pages: Pages = request.app.state.pages
    service: FhirService = request.app.state.service
    zone: tzinfo = request.app.state.store.zone
    rows, total, patients, channels = await run_in_threadpool(_read, service, access, query, zone)
    language, _chosen = pages.language(request)
    gettext = pages.catalogs.gettext(language)
    now_ms = int(page_clock(request)() * 1000)
    pages_count = max(1, -(-total // PAGE_ROWS))
    done = request.query_params.get("done")
    return pages.render(
        request,
        "alerts.html",
        status=status,
        csrf_for=session_id_from(request) or "",
        account=account,
        nav="alerts",
        rows=rows,
        total=total,
        query=query,
        back=query.query(),
        patients=patients,
        conditions=sorted(CONDITIONS.items(), key=lambda item: gettext(item[1])),
        states=list(_STATE_TEXTS.items()),
        page=query.page,
        pages_count=pages_count,
        previous_page=query.link(page=str(query.page - 1)) if query.page > 1 else None,
        next_page=query.link(page=str(query.page + 1)) if query.page < pages_count else None,
        glyphs=SEVERITY_GLYPHS,
        severity_texts=SEVERITY_TEXTS,
        values=lambda found: values_text(found, gettext),
        when=lambda ms, row_zone: moment(ms, row_zone, language),
        ago=lambda ms: age_text(age(now_ms, ms), gettext),
        may_change=_may_change(access),
        done=_DONE.get(done or ""),
        message=message,
        failed=failed,
        note=note,
        channels=None
        if channels is None
        else ", ".join(f"{name} ({address})" if address else name for name, address in channels),
        lang_links={code: query.link(lang=code) for code in ("ja", "en")},
    )


def _refused(request: Request, account: Any) -> Response:
    """403 as a page: the role has no alerts (an administrator: no clinical data)."""
    pages: Pages = request.app.state.pages
    request.state.audit_detail = "the role may not see or change alerts"
    return pages.render(
        request,
        "error.html",
        status=403,
        csrf_for=session_id_from(request) or "",
        message=NO_ALERTS,
        account=account,
    )


@router.get("/alerts")
async def alert_inbox(request: Request, account: CurrentAccount, access: SessionAccess) -> Response:
    """The signed-in person's alerts: open first, by severity, then age."""
    if not access.principal.scopes.allows("DetectedIssue", Interaction.READ):
        return _refused(request, account)
    return await _render(request, account, access, InboxQuery.of(request.query_params))


async def _form(request: Request) -> tuple[str, InboxQuery]:
    """The note and the inbox's filters of a form, after its CSRF token is checked."""
    form = await request.form()
    key: bytes = request.app.state.settings.signing_key
    check_csrf(key, "session", session_id_from(request), form.get("csrf"))
    note = form.get("note")
    back = form.get("back")
    params = dict(parse_qsl(back)) if isinstance(back, str) else {}
    return (note.strip() if isinstance(note, str) else ""), InboxQuery.of(params)


async def _change(
    request: Request,
    account: Any,
    access: Access,
    alert_id: str,
    action: str,
) -> Response:
    note, query = await _form(request)
    if not _may_change(access):
        return _refused(request, account)
    if len(note) > _MAX_NOTE:
        return await _render(
            request, account, access, query, status=400, message=NOTE_TOO_LONG, failed=alert_id
        )
    if action == "resolve" and not note:
        return await _render(
            request, account, access, query, status=400, message=NOTE_NEEDED, failed=alert_id
        )
    store = request.app.state.store
    # The AuditEvent commits with the change, as for $acknowledge / $resolve on the API.
    bind_write_audit(access, request.scope, request.app.state.audit)
    change = inbox.acknowledge if action == "acknowledge" else inbox.resolve
    try:
        await run_in_threadpool(change, store, access, alert_id, note)
    except AlertNotFound:
        request.state.audit_detail = f"DetectedIssue/{alert_id} is not known"
        pages: Pages = request.app.state.pages
        return pages.render(
            request,
            "error.html",
            status=404,
            csrf_for=session_id_from(request) or "",
            message=NOT_FOUND,
            account=account,
        )
    except TransitionError as error:
        request.state.audit_detail = str(error)[:500]
        text = ALREADY if "resolved" in str(error) else ACKNOWLEDGED_ALREADY
        return await _render(
            request, account, access, query, status=409, message=text, failed=alert_id
        )
    back = query.query(done=f"{action}d")
    return Pages.redirect(f"/alerts?{back}#alert-{alert_id}")


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(
    request: Request, alert_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """Seen and being handled (note optional): its escalation stops."""
    return await _change(request, account, access, alert_id, "acknowledge")


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(
    request: Request, alert_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """Resolved by hand, with a note saying why."""
    return await _change(request, account, access, alert_id, "resolve")

"""The signed-in person's own alert notification settings (`/alerts/settings`, issue 13).

Language of their messages, the zone their hours are in, quiet hours (urgent messages
still come), and whether non-urgent messages come at once, in a daily digest at an
hour, or not at all; it also shows their channels, which an administrator sets
(`homevitals admin alert-channel`). Saved through `settings_api.save_preferences`
(audited in the same transaction); bad input is the form again, 400, nothing saved.
A person who is no Practitioner is sent no messages: the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.accounts.sessions import CurrentAccount, check_csrf, session_id_from
from fhir_api.alerts import settings_api
from fhir_api.alerts.notify import Delivery
from fhir_api.alerts.preferences import PreferenceRefused, Preferences
from fhir_api.audit.http import bind_write_audit
from fhir_api.dates import zone_named

from .access import SessionAccess
from .alerts_data import my_channels
from .i18n import LANGUAGES
from .rendering import Pages

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

DELIVERY_TEXTS = {
    "": "At once (the clinic's default)",
    Delivery.NOW.value: "At once",
    Delivery.DIGEST.value: "In one daily digest",
    Delivery.OFF.value: "Not at all (only urgent ones)",
}
LANGUAGE_TEXTS = {"": "The clinic's language", "ja": "日本語", "en": "English"}
_FIELD_TEXTS = {
    "language": "Please choose a language from the list.",
    "zone": "Please give an IANA time zone such as Asia/Tokyo, or leave it empty.",
    "quiet": (
        "Please give both the start and the end of the quiet hours (HH:MM), "
        "and not the same time, or neither."
    ),
    "non_urgent": "Please choose from the list.",
    "digest_at": "Please give the digest's time as HH:MM, or leave it empty.",
}


@dataclass(slots=True)
class PreferenceForm:
    """The form's values as typed, and what is wrong with them (field: message)."""

    language: str = ""
    zone: str = ""
    quiet_start: str = ""
    quiet_end: str = ""
    non_urgent: str = ""
    digest_at: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, chosen: Preferences) -> PreferenceForm:
        """The stored preferences as the form shows them."""
        return cls(
            language=chosen.language or "",
            zone=chosen.zone or "",
            quiet_start=f"{chosen.quiet[0]:%H:%M}" if chosen.quiet else "",
            quiet_end=f"{chosen.quiet[1]:%H:%M}" if chosen.quiet else "",
            non_urgent=chosen.non_urgent.value if chosen.non_urgent else "",
            digest_at=f"{chosen.digest_at:%H:%M}" if chosen.digest_at else "",
        )


def _hhmm(text: str) -> time:
    if len(text) != 5 or text[2] != ":":
        raise ValueError(text)
    return time.fromisoformat(text)


def read_preferences(values: dict[str, str]) -> tuple[PreferenceForm, Preferences | None]:
    """The typed form and, when every field is sound, the preferences to keep (pure)."""

    def typed(name: str, most: int = 64) -> str:
        return values.get(name, "").strip()[:most]

    form = PreferenceForm(
        language=typed("language"),
        zone=typed("zone"),
        quiet_start=typed("quiet_start", 16),
        quiet_end=typed("quiet_end", 16),
        non_urgent=typed("non_urgent"),
        digest_at=typed("digest_at", 16),
    )
    if form.language not in LANGUAGE_TEXTS:
        form.errors["language"] = _FIELD_TEXTS["language"]
    if form.zone and zone_named(form.zone) is None:
        form.errors["zone"] = _FIELD_TEXTS["zone"]
    quiet: tuple[time, time] | None = None
    if form.quiet_start or form.quiet_end:
        try:
            start, end = _hhmm(form.quiet_start), _hhmm(form.quiet_end)
        except ValueError:
            form.errors["quiet"] = _FIELD_TEXTS["quiet"]
        else:
            if start == end:
                form.errors["quiet"] = _FIELD_TEXTS["quiet"]
            else:
                quiet = (start, end)
    if form.non_urgent not in DELIVERY_TEXTS:
        form.errors["non_urgent"] = _FIELD_TEXTS["non_urgent"]
    digest: time | None = None
    if form.digest_at:
        try:
            digest = _hhmm(form.digest_at)
        except ValueError:
            form.errors["digest_at"] = _FIELD_TEXTS["digest_at"]
    if form.errors:
        return form, None
    return form, Preferences(
        language=form.language or None,
        zone=form.zone or None,
        quiet=quiet,
        non_urgent=Delivery(form.non_urgent) if form.non_urgent else None,
        digest_at=digest,
    )


async def _render(
    request: Request,
    account: Any,
    access: Access,
    *,
    form: PreferenceForm | None = None,
    status: int = 200,
) -> Response:
    pages: Pages = request.app.state.pages
    engine = request.app.state.store.engine
    stored = await run_in_threadpool(settings_api.my_preferences, engine, access)
    channels = await run_in_threadpool(my_channels, engine, access)
    if form is None and stored is not None:
        form = PreferenceForm.of(stored)
    return pages.render(
        request,
        "alert_preferences.html",
        status=status,
        csrf_for=session_id_from(request) or "",
        account=account,
        nav="alerts",
        recipient=stored is not None,
        form=form,
        channels=channels or [],
        languages=list(LANGUAGE_TEXTS.items()),
        deliveries=list(DELIVERY_TEXTS.items()),
        saved=request.query_params.get("saved") == "1",
        lang_links={code: "?" + urlencode({"lang": code}) for code in LANGUAGES},
    )


@router.get("/alerts/settings")
async def preferences_page(
    request: Request, account: CurrentAccount, access: SessionAccess
) -> Response:
    """The signed-in person's notification settings and channels."""
    return await _render(request, account, access)


@router.post("/alerts/settings")
async def save_preferences(
    request: Request, account: CurrentAccount, access: SessionAccess
) -> Response:
    """Save: back to the page with "saved", or the form again with the messages."""
    posted = await request.form()
    key: bytes = request.app.state.settings.signing_key
    check_csrf(key, "session", session_id_from(request), posted.get("csrf"))
    values = {name: value for name, value in posted.items() if isinstance(value, str)}
    form, chosen = read_preferences(values)
    if chosen is None:
        request.state.audit_detail = "preferences refused: " + ", ".join(sorted(form.errors))
        return await _render(request, account, access, form=form, status=400)
    # The AuditEvent commits with the preferences.
    bind_write_audit(access, request.scope, request.app.state.audit)
    try:
        await run_in_threadpool(
            settings_api.save_preferences, request.app.state.store, access, chosen
        )
    except PreferenceRefused as refused:
        request.state.audit_detail = str(refused)[:500]
        return await _render(request, account, access, form=form, status=400)
    return Pages.redirect("/alerts/settings?saved=1")

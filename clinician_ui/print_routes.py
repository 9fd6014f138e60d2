"""The printable one-page 30-day summary (`/patients/{id}/summary`).

Thin like the patient page: the Patient, `$stats` and the period's readings come from
`FhirService` with the session's `Access` (a patient out of reach is a 404), the pure
`print_summary` computes the numbers, `print.css` lays the page out on one A4 sheet.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.accounts.sessions import CurrentAccount, session_id_from
from fhir_api.errors import FhirError
from fhir_api.service import FhirService

from .access import SessionAccess
from .charts import FLAG_NAMES, format_day, occasion_of
from .formatting import duration_text
from .i18n import LANGUAGES
from .list_routes import page_clock
from .patient_facts import SEXES, Facts, facts_of
from .patient_routes import patient_period, readings_between
from .print_summary import PRINT_DAYS, PrintSummary, print_summary
from .rendering import Pages
from .summary import display_names
from .thresholds import limits_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
MAX_FLAGGED_ROWS = 12  # more would not fit one A4 sheet; the rest are counted


def _summary(
    service: FhirService, access: Access, patient_id: str, end_text: str | None, now_ms: int
) -> tuple[str, str | None, Facts, str, PrintSummary, bool]:
    """Name, kana, facts (age on the patient's today), zone, the summary, and whether
    readings were left unread."""
    patient, zone_name, zone, first, last, stats = patient_period(
        service, access, patient_id, end_text, PRINT_DAYS
    )
    midnight = datetime.min.time()
    readings, truncated = readings_between(
        service,
        access,
        patient_id,
        zone,
        datetime.combine(first, midnight).replace(tzinfo=zone),
        # Up to 02:00 after the last day: that evening's late readings count for it.
        datetime.combine(last + timedelta(days=1), midnight).replace(hour=2, tzinfo=zone),
    )
    name, kana = display_names(patient.content)
    summary = print_summary(
        last=last, stats=stats, readings=readings, thresholds=limits_of(patient.content).numbers()
    )
    facts = facts_of(patient.content, datetime.fromtimestamp(now_ms / 1000, zone).date())
    return name, kana, facts, zone_name, summary, truncated


def _number(value: float) -> int | float:
    """152, not 152.0; 36.6 stays."""
    rounded = round(value, 1)
    return int(rounded) if rounded.is_integer() else rounded


@router.get("/patients/{patient_id}/summary")
async def summary_page(
    request: Request,
    patient_id: str,
    access: SessionAccess,
    account: CurrentAccount,
    end: str | None = None,
) -> Response:
    """The 30 days ending today (or `end=YYYY-MM-DD`) on one printable page."""
    pages: Pages = request.app.state.pages
    language, _ = pages.language(request)
    gettext = pages.catalogs.gettext(language)
    csrf_for = session_id_from(request) or ""
    now_ms = int(page_clock(request)() * 1000)
    try:
        name, kana, facts, zone, summary, truncated = await run_in_threadpool(
            _summary, request.app.state.service, access, patient_id, end, now_ms
        )
    except FhirError as error:
        return pages.patient_error(request, account, error)
    flagged: list[dict[str, Any]] = [
        {
            # Under the day it counts for, as on the patient page (01:30: the evening before).
            "day": format_day(occasion_of(f.reading.at)[1], language),
            "time": f.reading.at.strftime("%H:%M"),
            "next_day": occasion_of(f.reading.at)[1] != f.reading.at.date(),
            "kind": f.reading.kind,
            "values": [_number(v) for v in f.reading.values],
            "flags": f.flags,
        }
        for f in summary.flagged
    ]
    suffix = f"&end={end}" if end else ""
    return pages.render(
        request,
        "print_summary.html",
        csrf_for=csrf_for,
        account=account,
        nav="patients",
        patient_id=patient_id,
        name=name,
        kana=kana,
        facts=facts,
        birth_day=format_day(facts.birth, language) if facts.birth else None,
        sexes=SEXES,
        asleep=lambda minutes: duration_text(minutes, gettext),
        zone=zone,
        first_day=format_day(summary.first, language),
        last_day=format_day(summary.last, language),
        s=summary,
        flagged=flagged,
        truncated=truncated,
        flag_names=FLAG_NAMES,
        max_rows=MAX_FLAGGED_ROWS,
        lang_links={code: f"?lang={code}{suffix}" for code in LANGUAGES},
    )

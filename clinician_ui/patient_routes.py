"""The patient page (`/patients/{id}`) and its chart data (`/patients/{id}/chart.json`).

Thin: the patient, `$stats` and the last 7 days' Observations come from
`FhirService` with the signed-in account's `Access` (a patient outside its reach is
a 404, as on the API), `charts.chart_data` shapes them, the template shows them.
The page carries the same data as chart.json in a `<script type="application/json">`
block (not executed, so the CSP allows it), saving the charts a second request.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.accounts.sessions import CurrentAccount, session_id_from
from fhir_api.alerts.model import Status
from fhir_api.dates import patient_zone_name, zone_named
from fhir_api.errors import BadRequest, FhirError
from fhir_api.service import FhirService
from fhir_api.storage.resources import Stored
from fhir_api.storage.series.base import DayStatistics
from fhir_api.storage.series.in_bed import IN_BED, SETTING_SYSTEM

from . import summary
from .access import SessionAccess
from .alerts_data import (
    SEVERITY_GLYPHS,
    SEVERITY_TEXTS,
    chart_marks,
    patient_alerts,
    period_alerts,
    values_text,
    worst_of,
)
from .charts import (
    BP_PANEL,
    FLAG_NAMES,
    LOINC,
    PERIODS,
    PULSE,
    RESPIRATION,
    SLEEP_ASLEEP,
    SPO2_CODES,
    STATS_CODES,
    SUMMARY_DAYS,
    Night,
    NightRate,
    Reading,
    chart_data,
    for_browser,
    format_day,
    night_rates,
    night_windows,
    reading_of,
)
from .formatting import age_text, duration_text, moment
from .i18n import LANGUAGES
from .list_routes import FLAG_TEXTS, GLYPHS, page_clock
from .patient_facts import SEXES, Facts, facts_of
from .patient_requests import recent_requests, request_lines
from .rendering import Pages
from .review_routes import review_block
from .thresholds import limits_of

__all__ = ["display_name", "nights_between", "rates_in_bed", "readings_between", "router"]

router = APIRouter(include_in_schema=False)
DEFAULT_PERIOD = 30
_PAGE = 1000  # Observations per search page
_MAX_PAGES = 10  # 7 days of spot readings fit in one page; this bounds a runaway device
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIRST_END, _LAST_END = date(1901, 1, 1), date(2199, 12, 30)


@dataclass(frozen=True, slots=True)
class _View:
    """What the page shows: the patient's name, facts, newest values and zone, the chart data."""

    name: str
    zone_name: str
    last: date
    data: dict[str, Any]
    truncated: bool
    facts: Facts
    latest: summary.PatientRow


def _period(text: str | None) -> int:
    if text is None:
        return DEFAULT_PERIOD
    if text not in {str(p) for p in PERIODS}:
        raise BadRequest(
            f"period={text!r}: one of {', '.join(map(str, PERIODS))} days", expression=["period"]
        )
    return int(text)


def _last_day(text: str | None, zone: tzinfo) -> date:
    """The period's last day: `end=YYYY-MM-DD`, else today in the patient's zone."""
    if text is None:
        return datetime.fromtimestamp(time.time(), zone).date()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"end={text!r}: a date as YYYY-MM-DD", expression=["end"]) from None
    # Charted instants are 1900-2199 (fhir_api.storage.series.base): beyond, a year's
    # period would also run off Python's dates (9999-12-31 + 1 day).
    if not _FIRST_END <= day <= _LAST_END:
        raise BadRequest(
            f"end={text!r}: from {_FIRST_END.isoformat()} to {_LAST_END.isoformat()}",
            expression=["end"],
        )
    return day


def display_name(patient: dict[str, Any]) -> str:
    """The patient's first name entry as a person writes it (text, else family and given)."""
    for name in patient.get("name", ()):
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str):
            return str(name["text"])
        parts = [name.get("family"), *name.get("given", ())]
        text = " ".join(p for p in parts if isinstance(p, str))
        if text:
            return text
    return str(patient.get("id", ""))


def readings_between(
    service: FhirService,
    access: Access,
    patient_id: str,
    zone: tzinfo,
    first: datetime,
    end: datetime,
) -> tuple[list[Reading], bool]:
    """The charted readings from `first` to `end` (exclusive), and whether pages were left."""
    codes = ",".join(f"{LOINC}|{code}" for code in (BP_PANEL, PULSE, *SPO2_CODES))
    params = [
        ("patient", patient_id),
        ("code", codes),
        # Not the rates in bed the gateway marks (hundreds a night, read through `$stats`
        # in bed instead): a month of 1-minute epochs alone was more than the pages read.
        ("category:not", f"{SETTING_SYSTEM}|{IN_BED}"),
        ("date", f"ge{first.isoformat()}"),
        ("date", f"lt{end.isoformat()}"),
        ("_sort", "date"),
        ("_count", str(_PAGE)),
    ]
    found: list[Reading] = []
    for _ in range(_MAX_PAGES):
        result, _query = service.search("Observation", params, access=access)
        found += [r for m in result.matches if (r := reading_of(m.content, zone))]
        if result.next is None:
            return found, False
        params = [*params[:-1], ("_count", str(_PAGE)), ("_cursor", result.next.token())]
    return found, True


def rates_in_bed(
    service: FhirService,
    access: Access,
    patient_id: str,
    zone: tzinfo,
    last: date,
    nights: Sequence[Night],
) -> list[NightRate]:
    """The heart and breathing rates in bed of the 7 nights that began on the last 7 days:
    `$stats` of the in-bed series (`setting=in-bed`) over each night's hours, never the
    epochs themselves (a week of 1-minute epochs is 20,000 Observations or samples)."""
    days = [last - timedelta(days=back) for back in range(SUMMARY_DAYS - 1, -1, -1)]
    found = []
    for day, start, end in night_windows(nights, days, zone):
        params = [
            ("patient", patient_id),
            ("code", f"{PULSE},{RESPIRATION}"),
            ("start", start.isoformat()),
            ("end", end.isoformat()),
            ("setting", IN_BED),
        ]
        found.append((day, service.stats(params, access=access)[2]))
    return night_rates(found)


def _night(resource: dict[str, Any], zone: tzinfo) -> Night | None:
    period = resource.get("effectivePeriod")
    if resource.get("status") not in ("final", "amended", "corrected", "preliminary"):
        return None
    if not isinstance(period, dict):
        return None
    try:
        start, end = (
            datetime.fromisoformat(str(period.get(k)).replace("Z", "+00:00"))
            for k in ("start", "end")
        )
    except ValueError:
        return None
    if start.tzinfo is None or end.tzinfo is None or end < start:
        return None  # no instant to place, or a night that ends before it began
    return Night(start.astimezone(zone), end.astimezone(zone))


def nights_between(
    service: FhirService,
    access: Access,
    patient_id: str,
    zone: tzinfo,
    first: datetime,
    end: datetime,
) -> list[Night]:
    """The gateway's night summaries (time in bed) that began from `first` to `end`.

    One Observation per night: a year is 365, not the night's epochs.
    """
    params = [
        ("patient", patient_id),
        ("code", f"{LOINC}|{SLEEP_ASLEEP}"),
        ("date", f"ge{first.isoformat()}"),
        ("date", f"lt{end.isoformat()}"),
        ("_sort", "date"),
        ("_count", str(_PAGE)),
    ]
    found: list[Night] = []
    for _ in range(_MAX_PAGES):
        result, _query = service.search("Observation", params, access=access)
        found += [n for m in result.matches if (n := _night(m.content, zone))]
        if result.next is None:
            break
        params = [*params[:-1], ("_count", str(_PAGE)), ("_cursor", result.next.token())]
    return found


def patient_period(
    service: FhirService, access: Access, patient_id: str, end_text: str | None, days: int
) -> tuple[Stored, str, tzinfo, date, date, list[DayStatistics]]:
    """The Patient, its zone (name and zone), the period's first and last day and the
    period's daily statistics, read through the service with the session's Access
    (the patient page and the printable summary read the same way)."""
    patient: Stored = service.read("Patient", patient_id, access=access)
    zone_name = patient_zone_name(patient.content) or str(getattr(service.store.zone, "key", "UTC"))
    zone = zone_named(zone_name) or service.store.zone
    last = _last_day(end_text, zone)
    first = last - timedelta(days=days - 1)
    _, _, stats = service.stats(
        [
            ("subject", f"Patient/{patient_id}"),
            ("code", ",".join(STATS_CODES)),
            ("start", first.isoformat()),
            ("end", (last + timedelta(days=1)).isoformat()),
        ],
        access=access,
    )
    return patient, zone_name, zone, first, last, stats


def _view(
    service: FhirService,
    access: Access,
    patient_id: str,
    period_text: str | None,
    end_text: str | None,
    language: str,
    now_ms: int | None = None,
) -> _View:
    """Everything the page needs, through the service with the session's Access.

    `now_ms` is the page's clock (the header's ages); None: the system clock.
    """
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    period = _period(period_text)
    patient, zone_name, zone, first, last, stats = patient_period(
        service, access, patient_id, end_text, period
    )
    day_after = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    nights = nights_between(
        service,
        access,
        patient_id,
        zone,
        datetime.combine(first, datetime.min.time(), tzinfo=zone),
        day_after,
    )
    week_start = datetime.combine(last - timedelta(days=SUMMARY_DAYS - 1), datetime.min.time())
    # From 02:00 of the day after: an evening reading up to 01:59 counts for the last day.
    readings, truncated = readings_between(
        service,
        access,
        patient_id,
        zone,
        week_start.replace(tzinfo=zone),
        datetime.combine(last + timedelta(days=1), datetime.min.time()).replace(
            hour=2, tzinfo=zone
        ),
    )
    limits = limits_of(patient.content)
    data = chart_data(
        period=period,
        last=last,
        zone=zone,
        zone_name=zone_name,
        stats=stats,
        readings=readings,
        language=language,
        thresholds=limits.numbers(),
        nights=nights,
        rates=rates_in_bed(service, access, patient_id, zone, last, nights),
    )
    newest = [
        s.content
        for s in service.newest_readings([patient_id], summary.CODES, access=access)
        if (s.content.get("subject") or {}).get("reference") == f"Patient/{patient_id}"
    ]
    latest = summary.patient_row(patient.content, newest, (), {}, zone, now_ms, limits)
    today = datetime.fromtimestamp(now_ms / 1000, zone).date()
    return _View(
        display_name(patient.content),
        zone_name,
        last,
        data,
        truncated,
        facts_of(patient.content, today),
        latest,
    )


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def _labels(pages: Pages, language: str) -> dict[str, str]:
    """The charts' texts in the page language (charts.js has no catalogs of its own)."""
    _ = pages.catalogs.gettext(language)
    names = {
        "morning": "Morning",
        "evening": "Evening",
        "other": "Other times",
        "systolic": "Systolic",
        "diastolic": "Diastolic",
        "pulse": "Pulse",
        "spo2": "SpO2",
        "mean": "Mean",
        "minimum": "Min",
        "range": "Daily range",
        "asleep": "Time asleep",
        "in_bed": "Time in bed",
        "heart_rate": "Heart rate",
        "respiration": "Respiration",
        "deep": "Deep sleep",
        "light": "Light sleep",
        "rem": "REM sleep",
        "home_line": "Home hypertension line",
        "target": "Target",
        "low": "Low",
        "high": "High",
        "mmhg": "mmHg",
        "per_min": "/min",
        "percent": "%",
        "minutes": "min",
        "date": "Date",
    }
    return {key: _(text) for key, text in names.items()}


def _link(period: str | None, end: str | None, language: str) -> str:
    """This page in another language, on the same period (base.html's language links)."""
    query = {"period": period, "end": end, "lang": language}
    return "?" + urlencode({k: v for k, v in query.items() if v is not None})


@router.get("/patients/{patient_id}/chart.json")
async def chart_json(
    request: Request,
    patient_id: str,
    access: SessionAccess,
    period: str | None = None,
    end: str | None = None,
) -> Response:
    """The chart data of the page, as JSON (FHIR errors as OperationOutcome)."""
    language, _ = _pages(request).language(request)
    now_ms = int(page_clock(request)() * 1000)
    view = await run_in_threadpool(
        _view, request.app.state.service, access, patient_id, period, end, language, now_ms
    )
    body = orjson.dumps({**view.data, "truncated": view.truncated})
    response = Response(body, media_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/patients/{patient_id}")
async def patient_page(
    request: Request,
    patient_id: str,
    access: SessionAccess,
    account: CurrentAccount,
    period: str | None = None,
    end: str | None = None,
) -> Response:
    """The patient's charts, summary, adherence and tables; errors as the HTML error page."""
    pages = _pages(request)
    language, _ = pages.language(request)
    csrf_for = session_id_from(request) or ""
    now_ms = int(page_clock(request)() * 1000)
    try:
        view = await run_in_threadpool(
            _view, request.app.state.service, access, patient_id, period, end, language, now_ms
        )
    except FhirError as error:
        return pages.patient_error(request, account, error)
    zone = zone_named(view.zone_name) or request.app.state.store.zone
    first = view.last - timedelta(days=int(view.data["period"]) - 1)
    review = await run_in_threadpool(
        review_block,
        request.app.state.service,
        access,
        patient_id,
        zone,
        first,
        view.last,
        language,
    )
    translate = pages.catalogs.gettext(language)
    asked = await run_in_threadpool(
        recent_requests, request.app.state.service, access, [patient_id], now_ms
    )
    requests = request_lines(asked.get(patient_id, {}), now_ms, zone, language, translate)
    flag_texts = {code: translate(text) for code, text in FLAG_NAMES.items()}
    # The patient's alerts, in a block near the top (alertsui; patient_alerts.html).
    alert_rows = await run_in_threadpool(
        patient_alerts,
        request.app.state.service,
        access,
        patient_id,
        now_ms,
        request.app.state.store.zone,
        display_name,
    )
    alert_zone = zone_named(view.zone_name) or request.app.state.store.zone
    # Each alert that opened within the period, as a mark on its chart panel.
    in_period = await run_in_threadpool(
        period_alerts,
        request.app.state.service,
        access,
        patient_id,
        int(view.data["start"] * 1000),
        int(view.data["end"] * 1000),
        request.app.state.store.zone,
        display_name,
    )
    browser = {
        **for_browser(view.data, flag_texts),
        "labels": _labels(pages, language),
        "lang": language,
        "alerts": chart_marks(in_period, view.data["start"], view.data["end"], translate),
    }
    return pages.render(
        request,
        "patient.html",
        csrf_for=csrf_for,
        patient_id=patient_id,
        name=view.name,
        facts=view.facts,
        birth_day=format_day(view.facts.birth, language) if view.facts.birth else None,
        sexes=SEXES,
        latest=view.latest,
        glyphs=GLYPHS,
        flag_texts={level: translate(text) for level, text in FLAG_TEXTS.items()},
        ago=lambda value: age_text(value.age, translate),
        asleep=lambda minutes: duration_text(minutes, translate),
        zone=view.zone_name,
        last_day=format_day(view.last, language),
        end=end,
        periods=PERIODS,
        data=view.data,
        browser=browser,
        truncated=view.truncated,
        flag_names=FLAG_NAMES,
        review=review,
        requests=requests,
        account=account,
        nav="patients",
        lang_links={code: _link(period, end, code) for code in LANGUAGES},
        alert_rows=alert_rows,
        alert_worst=worst_of(
            Counter(r.severity.value for r in alert_rows if r.status is not Status.RESOLVED)
        ),
        alert_glyphs=SEVERITY_GLYPHS,
        alert_severity_texts=SEVERITY_TEXTS,
        alert_values=lambda found: values_text(found, translate),
        alert_when=lambda ms: moment(ms, alert_zone, language),
    )

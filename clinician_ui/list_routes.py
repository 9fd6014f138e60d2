"""The patient list (/patients): the signed-in person's patients and their newest vitals.

Everything is read through `FhirService` with the session's `Access` (one place
enforces who sees what): a Patient search, the newest readings of all listed
patients in one query (`newest_readings`), their reading days
(`reading_days`) and the gateways' heartbeat Devices (a Device search). The rows
are built by the pure `summary` module; sorting and the "flagged only" and "not
reviewed for 7 days" filters are query parameters, so the page needs no script. Each
patient's last review comes from `review_routes.reviews_by_patient` (two queries).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.accounts.sessions import CurrentAccount, session_id_from
from fhir_api.alerts import inbox
from fhir_api.codes import CALL_ME
from fhir_api.dates import patient_zone_name, zone_named
from fhir_api.fhir import GATEWAY_EXTENSIONS
from fhir_api.service import FhirService
from fhir_api.storage.resources import Stored

from . import summary
from .access import SessionAccess
from .alerts_data import SEVERITY_GLYPHS, SEVERITY_TEXTS
from .formatting import age_text, duration_text, long_date, moment
from .patient_requests import recent_requests
from .rendering import Pages
from .review import STALE_DAYS, reviewed_within
from .review_routes import reviews_by_patient
from .thresholds import Level, limits_of

__all__ = ["FLAG_TEXTS", "GLYPHS", "page_clock", "router"]

router = APIRouter(include_in_schema=False)

_PAGE = "1000"  # the search's largest page
_MAX_PAGES = 20  # 20,000 patients: far beyond one person's list
_MAX_QUERY = 100  # characters of a name search
PAGE_ROWS = 100  # rows per page: about 130 KB of HTML (a page stays under 300 KB)
_COLUMNS = ("name", "bp", "pulse", "spo2", "sleep", "adherence", "flags")
# "Last reviewed" sorts too, after the gateway column; sorting by open alerts has its
# link in the patient column's header (the alerts are shown in the patient cell: a
# column of their own made the list wider than 1600 px).
_SORTABLE = (*_COLUMNS, "reviewed", "alerts")
_HEADERS = {
    "name": "Patient",
    "bp": "Blood pressure",
    "pulse": "Pulse",
    "spo2": "SpO2",
    "sleep": "Sleep",
    "adherence": "Adherence",
    "flags": "Flags",
}
# A flag is never colour alone: a glyph and a word as well.
_GLYPHS = {Level.URGENT: "▲▲", Level.HIGH: "▲", Level.LOW: "▼"}
_FLAG_TEXTS = {Level.URGENT: "Urgent", Level.HIGH: "High", Level.LOW: "Low"}
# The patient page's header shows its newest values' flags the same way.
GLYPHS, FLAG_TEXTS = _GLYPHS, _FLAG_TEXTS


def _hiragana_to_katakana(text: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in text)


def _katakana_to_hiragana(text: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def _escaped(text: str) -> str:
    """A user's text as one FHIR search value (its , | $ \\ escaped)."""
    for char in "\\,|$":
        text = text.replace(char, "\\" + char)
    return text


def name_search(text: str) -> str:
    """`name:contains` alternatives for what the user typed: as typed, and its kana read in
    katakana and in hiragana (a JP Core kana name is in either)."""
    forms = dict.fromkeys(
        (text, _hiragana_to_katakana(text), _katakana_to_hiragana(text))
    )  # ordered, unique
    return ",".join(_escaped(form) for form in forms)


def search_all(
    service: FhirService, resource_type: str, params: list[tuple[str, str]], access: Access
) -> list[Stored]:
    """Every match of a search, page after page (bounded)."""
    found: list[Stored] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = [*params, ("_count", _PAGE), ("_total", "none")]
        if cursor is not None:
            page.append(("_cursor", cursor))
        result, _query = service.search(resource_type, page, access=access)
        found += result.matches
        if result.next is None:
            break
        cursor = result.next.token()
    return found


def _newest(
    service: FhirService, patients: Sequence[str], access: Access
) -> dict[str, list[dict[str, Any]]]:
    """Each patient's Observations holding its newest value of each code."""
    by_patient: dict[str, list[dict[str, Any]]] = {p: [] for p in patients}
    for stored in service.newest_readings(patients, summary.CODES, access=access):
        subject = (stored.content.get("subject") or {}).get("reference", "")
        patient = subject.removeprefix("Patient/")
        if patient in by_patient:
            by_patient[patient].append(stored.content)
    return by_patient


def _gateways(
    service: FhirService, readings: dict[str, list[dict[str, Any]]], access: Access
) -> dict[str, dict[str, Any]]:
    """The gateway Devices the newest readings name ("Device/id" to the Device), in reach."""
    named = sorted(
        {
            reference.removeprefix("Device/")
            for found in readings.values()
            for reading in found
            for extension in reading.get("extension", ())
            if isinstance(extension, dict) and extension.get("url") in GATEWAY_EXTENSIONS
            if isinstance(
                reference := (extension.get("valueReference") or {}).get("reference"), str
            )
            and reference.startswith("Device/")
        }
    )
    devices = {
        f"Device/{device.id}": device.content
        for device in service.read_many("Device", named, access=access)
    }
    return devices


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What the user asked of the list (query parameters)."""

    text: str
    sort: str
    descending: bool
    flagged: bool
    page: int = 1
    stale: bool = False  # only patients not reviewed for STALE_DAYS days (or never)
    alerted: bool = False  # only patients with open alerts

    @classmethod
    def of(cls, request: Request) -> ListQuery:
        """From the request's query; anything unknown falls back to the default."""
        params = request.query_params
        sort = params.get("sort", "name")
        return cls(
            text=params.get("q", "").strip()[:_MAX_QUERY],
            sort=sort if sort in _SORTABLE else "name",
            descending=params.get("order") == "desc",
            flagged=params.get("flagged") == "1",
            stale=params.get("stale") == "1",
            alerted=params.get("alerts") == "1",
            page=int(page)
            if (page := params.get("page", "1")).isdigit() and 0 < len(page) < 6
            else 1,
        )

    def link(self, **change: str | bool) -> str:
        """This query with some parameters changed, as a relative URL."""
        values: dict[str, Any] = {
            "q": self.text,
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "flagged": "1" if self.flagged else "",
            "stale": "1" if self.stale else "",
            "alerts": "1" if self.alerted else "",
            "page": "",  # a new sort, filter or language starts at the first page
        }
        values.update(change)
        return "?" + urlencode({k: v for k, v in values.items() if v not in ("", False)})

    def sort_link(self, column: str) -> str:
        """The link of a column header: sort by it, or flip the order when it is the key."""
        if column == self.sort:
            return self.link(order="asc" if self.descending else "desc")
        return self.link(sort=column, order="asc")


def _patients(service: FhirService, access: Access, query: ListQuery) -> list[Stored]:
    """The Patients the query's name search finds in the caller's reach (all without one)."""
    params = [("name:contains", name_search(query.text))] if query.text else []
    return search_all(service, "Patient", params, access)


def build_rows(
    service: FhirService,
    access: Access,
    query: ListQuery,
    now_ms: int,
    default_zone: tzinfo,
    patients: Sequence[Stored] | None = None,
) -> tuple[list[summary.PatientRow], int]:
    """The list's rows (filtered and sorted) and how many patients matched before the filter.

    `patients`: the rows of these (found for `query` already), not of a new search.
    """
    if patients is None:
        patients = _patients(service, access, query)
    ids = [p.id for p in patients]
    readings = _newest(service, ids, access) if ids else {}
    days = (
        service.reading_days(
            ids, codes=summary.CODES, days=summary.ADHERENCE_DAYS, end_ms=now_ms, access=access
        )
        if ids
        else {}
    )
    gateways = _gateways(service, readings, access)
    reviews = reviews_by_patient(service, access, ids)
    asked = recent_requests(service, access, None, now_ms) if ids else {}
    rows = []
    for patient in patients:
        name = patient_zone_name(patient.content)
        zone = (zone_named(name) if name else None) or default_zone
        rows.append(
            summary.patient_row(
                patient.content,
                readings.get(patient.id, []),
                days.get(patient.id, ()),
                gateways,
                zone,
                now_ms,
                limits_of(patient.content),
            )
        )
        call = asked.get(patient.id, {}).get(CALL_ME)
        rows[-1] = replace(
            rows[-1],
            reviewed=reviews.get(patient.id),
            call_asked_ms=call.at_ms if call is not None else None,
        )
    # Each patient's unresolved alerts, in one query for the whole list (issue 13).
    counts = inbox.open_counts(service.store.engine, access, ids) if ids else {}
    rows = [replace(r, alerts=counts[r.id]) if r.id in counts else r for r in rows]
    shown = [r for r in rows if r.flagged] if query.flagged else rows
    shown = [r for r in shown if r.open_alerts] if query.alerted else shown
    if query.stale:
        shown = [r for r in shown if not reviewed_within(r.reviewed, now_ms, STALE_DAYS)]
    return summary.sort_rows(shown, query.sort, query.descending), len(rows)


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of the list: its rows, how many patients match the query (after its
    filters) and in all (before them), which page this is and how many there are."""

    rows: list[summary.PatientRow]
    matching: int
    total: int
    page: int
    pages_count: int


_VALUE_SORTS = ("bp", "pulse", "spo2", "sleep")


def reads_a_page_only(query: ListQuery) -> bool:
    """Whether the query's page can be built from the rows of its own patients: sorted by
    name or by a value, without a filter (the order needs the Patients, and for a value
    their newest readings, but no reading days and no gateways).

    Compared with the whole query, so a field added to ListQuery later (a filter) makes
    it read every row until it is named here.
    """
    plain = ListQuery(query.text, query.sort, query.descending, False, query.page)
    return query == plain and query.sort in ("name", *_VALUE_SORTS)


def _name_order(patient: Stored) -> tuple[str, str]:
    """A Patient's place in the list by name: `summary`'s name key of its row."""
    name, kana = summary.display_names(patient.content)
    return (kana or name, patient.id)


def _ordered(
    service: FhirService, access: Access, query: ListQuery, now_ms: int, default_zone: tzinfo
) -> list[Stored]:
    """The query's Patients in the list's order (for `reads_a_page_only` queries)."""
    patients = _patients(service, access, query)
    if query.sort == "name":
        return sorted(patients, key=_name_order, reverse=query.descending)
    # A value's order: rows from the newest readings alone (their values sort the same).
    readings = _newest(service, [p.id for p in patients], access) if patients else {}
    by_id = {p.id: p for p in patients}
    rows = []
    for patient in patients:
        name = patient_zone_name(patient.content)
        zone = (zone_named(name) if name else None) or default_zone
        rows.append(
            summary.patient_row(patient.content, readings.get(patient.id, []), (), {}, zone, now_ms)
        )
    return [by_id[row.id] for row in summary.sort_rows(rows, query.sort, query.descending)]


def build_page(
    service: FhirService,
    access: Access,
    query: ListQuery,
    now_ms: int,
    default_zone: tzinfo,
    per_page: int = PAGE_ROWS,
) -> ListPage:
    """The page of the list that `query` asks for.

    By name or by a value, without a filter (the list as it opens, or sorted by blood
    pressure), the order and the counts need the Patients (and their newest readings):
    the reading days and gateways, and the rows, are read and built for the page's
    patients alone (1,000 patients: a tenth of that work). Any other sort or filter
    needs every row, and takes them from `build_rows`.
    """
    if reads_a_page_only(query):
        patients = _ordered(service, access, query, now_ms, default_zone)
        pages_count = max(1, -(-len(patients) // per_page))
        page = min(query.page, pages_count)
        chosen = patients[(page - 1) * per_page : page * per_page]
        rows, _ = build_rows(service, access, query, now_ms, default_zone, chosen)
        return ListPage(rows, len(patients), len(patients), page, pages_count)
    rows, total = build_rows(service, access, query, now_ms, default_zone)
    pages_count = max(1, -(-len(rows) // per_page))
    page = min(query.page, pages_count)
    shown = rows[(page - 1) * per_page : page * per_page]
    return ListPage(shown, len(rows), total, page, pages_count)


def page_clock(request: Request) -> Callable[[], float]:
    clock: Callable[[], float] = getattr(request.app.state, "ui_clock", time.time)
    return clock


@router.get("/patients")
async def patient_list(
    request: Request, account: CurrentAccount, access: SessionAccess
) -> Response:
    """The signed-in person's patients with their newest vitals, flags and gateway state."""
    pages: Pages = request.app.state.pages
    service: FhirService = request.app.state.service
    query = ListQuery.of(request)
    now_ms = int(page_clock(request)() * 1000)
    zone: tzinfo = request.app.state.store.zone
    listed = await run_in_threadpool(build_page, service, access, query, now_ms, zone)
    page, pages_count = listed.page, listed.pages_count
    language, _chosen = pages.language(request)
    gettext = pages.catalogs.gettext(language)
    today = datetime.fromtimestamp(now_ms / 1000, zone).date()
    return pages.render(
        request,
        "patients.html",
        csrf_for=session_id_from(request) or "",
        account=account,
        rows=listed.rows,
        matching=listed.matching,
        total=listed.total,
        page=page,
        pages_count=pages_count,
        previous_page=query.link(page=str(page - 1)) if page > 1 else None,
        next_page=query.link(page=str(page + 1)) if page < pages_count else None,
        query=query,
        today=long_date(today, language),
        age=lambda value: age_text(value.age, gettext),
        asleep=lambda minutes: duration_text(minutes, gettext),  # a sleep Value sorts by minutes
        when=lambda ms, row_zone: moment(ms, row_zone, language),
        day_of=lambda ms, row_zone: long_date(
            datetime.fromtimestamp(ms / 1000, row_zone).date(), language
        ),
        adherence_days=summary.ADHERENCE_DAYS,
        stale_days=STALE_DAYS,
        headers=[(column, gettext(_HEADERS[column])) for column in _COLUMNS],
        glyphs=_GLYPHS,
        alert_glyphs=SEVERITY_GLYPHS,
        alert_texts={level: gettext(text) for level, text in SEVERITY_TEXTS.items()},
        flag_texts={level: gettext(text) for level, text in _FLAG_TEXTS.items()},
        lang_links={"ja": query.link(lang="ja"), "en": query.link(lang="en")},
        nav="patients",
    )

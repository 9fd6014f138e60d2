"""Many patients at once: each one's newest reading per code, the days they measured, and
their newest review.

The clinician's patient list shows a row per patient (up to thousands); asking
`$lastn` once per patient costs a round of queries each. These two queries answer
for every listed patient together, over the search index: the database ranks rows
per (patient, code) and only the chosen Observations' bodies are read; the days
with a reading come back as (patient, local day) pairs, never as readings. The
newest completed review Task of each listed patient is one more ranked query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.sql import Select

from ..codes import HOMEVITALS_TASK, VITALS_REVIEW
from ..dates import zone_named
from .resources import Stored, Tx
from .schema import (
    resources,
    search_dates,
    search_references,
    search_terms,
    search_tokens,
    series_codes,
    series_subjects,
    vital_series,
)
from .search_keys import param_term, patient_zone_rows, terms
from .series.base import DAY_MS, constant_offset_segments
from .value_lists import in_values

__all__ = [
    "newest_in_series",
    "newest_per_patient",
    "newest_reviews",
    "patient_zones",
    "reading_days",
    "visible_resources",
]

_NO_READING = ("entered-in-error", "cancelled")  # as `$lastn` and `$stats`: not a reading
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _a_reading(observation_key: ColumnElement[int] = resources.c.key) -> ColumnElement[bool]:
    """Not entered-in-error or cancelled (the Observation whose key is `observation_key`)."""
    status = search_tokens.alias("overview_status")
    return not_(
        exists().where(
            status.c.resource_key == observation_key,
            status.c.term.in_(terms("Observation", "status", search_terms.c.code.in_(_NO_READING))),
        )
    )


def _unindexed(column: ColumnElement[int], since_ms: int | None) -> ColumnElement[int]:
    """`column`, or `column + 0` when the date range should drive the query.

    With a recency bound the few recent date rows are the cheapest start; SQLite's
    planner otherwise started from every reading of each listed patient and probed the
    date range for each (1.9 s for 100 patients). `+ 0` keeps it off those indexes.
    """
    return column if since_ms is None else column + 0


def newest_per_patient(
    tx: Tx,
    patients: Sequence[str],
    codes: Sequence[str],
    *,
    since_ms: int | None,
    visibility: ColumnElement[bool] | None,
) -> list[Stored]:
    """The newest Observation of each code in `codes` for each patient id in `patients`,
    from the search index (a code of the Observation or of one of its components).

    `since_ms` bounds the readings looked at (an index range: the list asks for the
    recent days first and only the pairs left empty without the bound). `visibility`
    is the caller's clause on Observation rows (None: sees all).
    """
    if not patients or not codes:
        return []
    code = search_tokens.alias("overview_code")
    code_term = search_terms.alias("overview_code_term")
    subject = search_references.alias("overview_subject")
    when = search_dates.alias("overview_date")
    targets = [f"Patient/{p}" for p in patients]
    # The index rows alone (a deleted resource has none left); bodies only for the chosen.
    joined = (
        when.join(
            subject,
            and_(
                subject.c.resource_key == when.c.resource_key,
                _unindexed(subject.c.term, since_ms).in_(
                    terms("Observation", "subject", in_values(search_terms.c.code, targets))
                ),
            ),
        )
        .join(code, code.c.resource_key == when.c.resource_key)
        .join(
            code_term,
            and_(
                code_term.c.id == _unindexed(code.c.term, since_ms),
                code_term.c.resource_type == "Observation",
                code_term.c.param.in_(("code", "component-code")),
                code_term.c.code.in_(sorted(set(codes))),
            ),
        )
    )
    where: list[ColumnElement[bool]] = [
        when.c.term == param_term("Observation", "date"),
        _a_reading(when.c.resource_key),
    ]
    if since_ms is not None:
        where.append(when.c.start_ms >= since_ms)
    rank = (
        func.row_number()
        .over(
            partition_by=(subject.c.term, code_term.c.code),
            order_by=(when.c.start_ms.desc(), when.c.resource_key),
        )
        .label("rank")
    )
    ranked = (
        select(when.c.resource_key.label("key"), rank).select_from(joined).where(*where).subquery()
    )
    chosen = select(ranked.c.key).where(ranked.c.rank == 1).distinct()
    # The caller's reach on the chosen rows: the patients were narrowed to it already,
    # and an Observation names a Patient only as its subject, so this drops none.
    return _live(tx, "Observation", resources.c.key.in_(chosen), visibility)


def _live(
    tx: Tx, resource_type: str, which: ColumnElement[bool], visibility: ColumnElement[bool] | None
) -> list[Stored]:
    """The live resources of `resource_type` that `which` picks and `visibility` keeps, in
    one query (the reach is checked once for all, not once per resource)."""
    reach = [visibility] if visibility is not None else []
    rows = tx.connection.execute(
        select(resources).where(
            resources.c.resource_type == resource_type,
            which,
            resources.c.deleted.is_(False),
            *reach,
        )
    ).all()
    return [
        Stored(resource_type, r.id, r.version_id, r.last_updated, False, orjson.loads(r.content))
        for r in rows
    ]


def newest_in_series(
    tx: Tx,
    patients: Sequence[str],
    codes: Sequence[str],
    visibility: ColumnElement[bool] | None,
    *,
    patients_in_reach: bool = False,
) -> list[Stored]:
    """`newest_per_patient` from the SQL series table (`vital_series`), whose key is
    (subject id, code id, time): one index seek per patient and code, however long the
    history; the chosen points name their Observations by resource key (issue 15).

    A value's code is a charted LOINC code (a component's for the blood-pressure panel:
    8480-6 finds the panel); the Observation holding the newest value is returned.
    Entered-in-error and cancelled Observations have no points.
    """
    if not patients or not codes:
        return []
    # The listed Patients' own rows drive the seeks, crossed with the codes' ids. One IN
    # list of the patients, not one per code: SQLAlchemy renders each listed id as a
    # parameter on every request (5 codes x 1,000 patients cost 30 ms).
    patient = resources.alias("overview_patient")
    subject = series_subjects.alias("overview_subject")
    code = series_codes.alias("overview_code")
    newest = (
        select(vital_series.c.observation)
        .where(vital_series.c.subject_id == subject.c.id, vital_series.c.code_id == code.c.id)
        .order_by(vital_series.c.ts_ms.desc())
        .limit(1)
        .scalar_subquery()
    )
    keys = (
        select(newest.label("key"))
        .select_from(
            patient.join(subject, subject.c.subject == literal("Patient/") + patient.c.id).join(
                code, true()
            )
        )
        .where(
            patient.c.resource_type == "Patient",
            in_values(patient.c.id, patients),
            code.c.code.in_(sorted(set(codes))),
        )
    )
    # `patients` is within the caller's reach already (FhirService narrows it), and an
    # Observation names a Patient only as its subject: the reach clause would drop none
    # of these rows, and cost an EXISTS per row (a third of the list's time).
    reach = None if patients_in_reach else visibility
    # The keys' ids, so the outer query seeks (type, id): left with `key IN (...)` and the
    # type, SQLite walked every Observation of the type's index (twice the list's time).
    named = resources.alias("overview_observation")
    chosen = select(named.c.id).where(named.c.key.in_(keys))
    return _live(tx, "Observation", resources.c.id.in_(chosen), reach)


def newest_reviews(tx: Tx, patients: Sequence[str]) -> list[Stored]:
    """The newest completed `vitals-review` Task (by authoredOn) of each patient id in
    `patients`, from the search index in one query (issue 12: the list's "last reviewed").

    `patients` must be within the caller's reach already (FhirService narrows it): a
    Task names a Patient only as its `for` (owner and requester are Practitioners), so
    the reach clause would drop none of these rows.

    The listed patients' `subject` rows drive it, each review's code, status and date
    found by its id: left to itself, SQLite looked each one up among every review's code
    row (`|| ''` keeps it off that index), quadratic in the reviews (1.9 s for 200
    patients with 10 reviews each).
    """
    if not patients:
        return []
    subject = search_references.alias("review_subject")
    code = search_tokens.alias("review_code")
    status = search_tokens.alias("review_status")
    when = search_dates.alias("review_when")
    subject_term = search_terms.alias("review_subject_term")
    review = terms(
        "Task",
        "code",
        search_terms.c.system == HOMEVITALS_TASK,
        search_terms.c.code == VITALS_REVIEW,
    )
    completed = terms("Task", "status", search_terms.c.code == "completed")
    joined = (
        subject_term.join(subject, subject.c.term == subject_term.c.id)
        .join(
            code,
            and_(
                code.c.resource_key == subject.c.resource_key,
                (code.c.term + 0).in_(review),
            ),
        )
        .join(
            status,
            and_(
                status.c.resource_key == subject.c.resource_key,
                (status.c.term + 0).in_(completed),
            ),
        )
        .join(
            when,
            and_(
                when.c.resource_key == subject.c.resource_key,
                when.c.term == param_term("Task", "authored-on"),
            ),
        )
    )
    rank = (
        func.row_number()
        .over(
            partition_by=subject_term.c.code,
            order_by=(when.c.start_ms.desc(), subject.c.resource_key.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(subject.c.resource_key.label("key"), rank)
        .select_from(joined)
        .where(
            subject_term.c.resource_type == "Task",
            subject_term.c.param == "subject",
            in_values(subject_term.c.code, [f"Patient/{p}" for p in patients]),
        )
        .subquery()
    )
    chosen = select(ranked.c.key).where(ranked.c.rank == 1)
    return _live(tx, "Task", resources.c.key.in_(chosen), None)


def _series_days_in_segment(
    patients: Sequence[str], codes: Sequence[str], start_ms: int, end_ms: int, offset_ms: int
) -> Select[Any]:
    """(Patient/id, local day number) of the charted values in [start, end) at one offset."""
    return (
        select(
            series_subjects.c.subject,
            ((vital_series.c.ts_ms + offset_ms) // literal(DAY_MS)).label("day"),
        )
        .select_from(
            series_subjects.join(vital_series, vital_series.c.subject_id == series_subjects.c.id)
        )
        .where(
            in_values(series_subjects.c.subject, [f"Patient/{p}" for p in patients]),
            vital_series.c.code_id.in_(
                select(series_codes.c.id).where(series_codes.c.code.in_(sorted(set(codes))))
            ),
            vital_series.c.ts_ms >= start_ms,
            vital_series.c.ts_ms < end_ms,
        )
        .distinct()
    )


def visible_resources(
    tx: Tx, resource_type: str, ids: Sequence[str], visibility: ColumnElement[bool] | None
) -> list[Stored]:
    """The live resources of `resource_type` among `ids` that `visibility` keeps, in one query
    (the reach is checked once for all, not once per resource)."""
    if not ids:
        return []
    return _live(tx, resource_type, in_values(resources.c.id, ids), visibility)


def patient_zones(tx: Tx, patients: Sequence[str], default: tzinfo) -> dict[str, tzinfo]:
    """Each patient's zone (its tz-code, else `default`), from the index in one query."""
    rows = patient_zone_rows().where(
        resources.c.resource_type == "Patient", in_values(resources.c.id, patients)
    )
    named: dict[str, str] = {rid: code for rid, code in tx.connection.execute(rows)}
    return {p: (zone_named(named[p]) if p in named else None) or default for p in patients}


def _days_in_segment(
    patients: Sequence[str], start_ms: int, end_ms: int, offset_ms: int
) -> Select[Any]:
    """(Patient/id, local day number) of the readings in [start, end) at a constant offset.

    A date without offset (floating) is wall-clock time already: its day is its own.
    """
    subject = search_references.alias("days_subject")
    subject_term = search_terms.alias("days_subject_term")
    when = search_dates.alias("days_date")
    local = case((when.c.floating, when.c.start_ms), else_=when.c.start_ms + offset_ms)
    return (
        select(subject_term.c.code, (local // literal(DAY_MS)).label("day"))
        .select_from(
            when.join(subject, subject.c.resource_key == when.c.resource_key)
            .join(
                subject_term,
                and_(
                    subject_term.c.id == subject.c.term,
                    subject_term.c.resource_type == "Observation",
                    subject_term.c.param == "subject",
                ),
            )
            .join(resources, resources.c.key == when.c.resource_key)
        )
        .where(
            when.c.term == param_term("Observation", "date"),
            # One index range for both kinds, then each kind's own bounds.
            when.c.start_ms >= min(start_ms, start_ms + offset_ms),
            when.c.start_ms < max(end_ms, end_ms + offset_ms),
            or_(
                and_(
                    not_(when.c.floating),
                    when.c.start_ms >= start_ms,
                    when.c.start_ms < end_ms,
                ),
                and_(
                    when.c.floating,
                    when.c.start_ms >= start_ms + offset_ms,
                    when.c.start_ms < end_ms + offset_ms,
                ),
            ),
            in_values(subject_term.c.code, [f"Patient/{p}" for p in patients]),
            resources.c.deleted.is_(False),
            _a_reading(),
        )
        .distinct()
    )


def reading_days(
    tx: Tx,
    zones: Mapping[str, tzinfo],
    days: int,
    end_ms: int,
    series_codes: Sequence[str] | None = None,
) -> dict[str, set[date]]:
    """Per patient id in `zones`: the calendar days (in that patient's zone) with a reading,
    among the `days` local days that end with the day of `end_ms` (readings up to `end_ms`).

    The day arithmetic runs per stretch of constant UTC offset, so a daylight-saving
    change splits the query instead of shifting a day. With `series_codes` the days
    come from the SQL series table (values of those codes: index ranges per patient
    and code), else from the search index (every Observation of the patient).
    """
    by_zone: dict[tzinfo, list[str]] = {}
    for patient, zone in zones.items():
        by_zone.setdefault(zone, []).append(patient)
    statements: list[Select[Any]] = []
    for zone, patients in by_zone.items():
        today = datetime.fromtimestamp(end_ms / 1000, zone).date()
        first = datetime.combine(today - timedelta(days=days - 1), time(), tzinfo=zone)
        start_ms = int(first.timestamp() * 1000)
        for seg_start, seg_end, offset in constant_offset_segments(start_ms, end_ms, zone):
            statements.append(
                _days_in_segment(sorted(patients), seg_start, seg_end, offset)
                if series_codes is None
                else _series_days_in_segment(
                    sorted(patients), series_codes, seg_start, seg_end, offset
                )
            )
    found: dict[str, set[date]] = {patient: set() for patient in zones}
    if not statements:
        return found
    query = statements[0] if len(statements) == 1 else union(*statements)
    # A row per patient and day (30,000 for the list of 1,000): fetched at once, and each
    # day number and subject converted once (a few dozen days, a row's subject repeats).
    days_of: dict[str, set[date] | None] = {}
    day_of: dict[int, date] = {}
    for subject, number in tx.connection.execute(query).all():
        if subject not in days_of:
            days_of[subject] = found.get(str(subject).split("/", 1)[1])
        measured = days_of[subject]
        if measured is None:
            continue
        day = day_of.get(number)
        if day is None:
            day = day_of[number] = date.fromordinal(int(number) + _EPOCH_ORDINAL)
        measured.add(day)
    return found

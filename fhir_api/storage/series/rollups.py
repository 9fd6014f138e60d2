"""Daily rollups of the SQL series: per subject, code and calendar day, min/max/sum/count.

A chart asks for days, and a year of a patient's readings is thousands of rows
but only hundreds of days, so the SQL backends keep one row per day in the
server's time zone (`vital_daily`), as InfluxDB's continuous queries and
TimescaleDB's continuous aggregates do. Every write recomputes the days it
touched from the points themselves, in the same transaction: rollups are never
incremented, so they cannot drift, and a delete or correction is as exact as an
insert. Requests for another zone, or for a range that does not start and end at
local midnight, are answered from the points.

`series_rollups` registers the zone whose rollups are complete. Only the server's
zone is kept; when the setting changes, the next start drops the old zone's rows
and builds the new zone's from every point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, tzinfo
from datetime import time as day_time
from functools import partial
from typing import Any

from sqlalchemy import Connection, Delete, Select, bindparam, delete, func, insert, select

from ..bulk import insert_rows
from ..schema import (
    series_codes,
    series_rollups,
    series_subjects,
    series_zones,
    vital_daily,
    vital_series,
)
from .base import DailyRow, SeriesPoint, constant_offset_segments, merge_days
from .lookups import SeriesIds, find_ids, zone_id
from .statements import padded, run

__all__ = [
    "affected_days",
    "day_runs",
    "day_start_ms",
    "local_day",
    "rebuild_rollups",
    "refresh_days",
    "refresh_points",
    "rollup_statement",
    "rollups_built_for",
    "zone_key",
]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# (connection, subject, codes, start_ms, end_ms, offset_ms) -> rows: the points' aggregate.
DailyQuery = Callable[[Connection, str, Sequence[str], int, int, int], list[DailyRow]]


def zone_key(zone: tzinfo) -> str:
    """The IANA name of a zone (what the rollup rows are labelled with)."""
    return str(getattr(zone, "key", zone))


def local_day(ts_ms: int, zone: tzinfo) -> int:
    """Days since 1970-01-01 of the calendar day `ts_ms` falls on in `zone`."""
    return datetime.fromtimestamp(ts_ms / 1000, zone).date().toordinal() - _EPOCH_ORDINAL


def day_start_ms(day: int, zone: tzinfo) -> int:
    """Epoch milliseconds of local midnight starting `day` in `zone`."""
    midnight = datetime.combine(date.fromordinal(day + _EPOCH_ORDINAL), day_time(), tzinfo=zone)
    return int(midnight.timestamp() * 1000)


def affected_days(
    points: Iterable[tuple[str, str, int]], zone: tzinfo
) -> dict[str, tuple[set[str], set[int]]]:
    """Per subject: the codes and local days that (subject, code, ts_ms) points touch."""
    touched: dict[str, tuple[set[str], set[int]]] = {}
    for subject, code, ts_ms in points:
        codes, days = touched.setdefault(subject, (set(), set()))
        codes.add(code)
        days.add(local_day(ts_ms, zone))
    return touched


def day_runs(days: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive days as (first, last) runs: one recomputation per run."""
    runs: list[tuple[int, int]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def refresh_days(
    connection: Connection,
    query: DailyQuery,
    zone: tzinfo,
    subject: str,
    codes: Sequence[str],
    first: int,
    last: int,
) -> None:
    """Recompute the rollups of `codes` for days first..last from the points."""
    _refresh(
        connection,
        query,
        zone,
        _found_ids(connection, zone, [subject], codes),
        subject,
        codes,
        first,
        last,
    )


def _found_ids(
    connection: Connection, zone: tzinfo, subjects: Iterable[str], codes: Iterable[str]
) -> SeriesIds:
    """The ids a refresh needs, found once for all its days (names without points have no
    rollups: they are left out, not created)."""
    return SeriesIds(
        find_ids(connection, series_subjects.c.subject, subjects),
        find_ids(connection, series_codes.c.code, codes),
        zone_id(connection, zone_key(zone)),
    )


def _refresh(
    connection: Connection,
    query: DailyQuery,
    zone: tzinfo,
    ids: SeriesIds,
    subject: str,
    codes: Sequence[str],
    first: int,
    last: int,
) -> None:
    subject_id = ids.subjects.get(subject)
    if subject_id is None:  # never had a point: no rollups either
        return
    start, end = day_start_ms(first, zone), day_start_ms(last + 1, zone)
    segments = constant_offset_segments(start, end, zone)
    rows: list[DailyRow] = []
    for seg_start, seg_end, offset in segments:
        rows += query(connection, subject, codes, seg_start, seg_end, offset)
    if len(segments) > 1:
        rows = merge_days(rows)
    code_ids = [ids.codes[c] for c in codes if c in ids.codes]
    if code_ids:
        code_ids = padded(code_ids)
        values = {"subject": subject_id, "zone": ids.zone, "first": first, "last": last}
        values.update((f"c{i}", code) for i, code in enumerate(code_ids))
        run(connection, ("rollups-delete", len(code_ids)), partial(_delete, len(code_ids)), values)
    if rows:
        insert_rows(
            connection,
            vital_daily,
            [
                {
                    "subject_id": subject_id,
                    "code_id": ids.codes[row.code],
                    "zone_id": ids.zone,
                    "day": row.day,
                    "minimum": row.minimum,
                    "maximum": row.maximum,
                    "total": row.total,
                    "readings": row.readings,
                }
                for row in rows
            ],
        )


def _delete(code_count: int) -> Delete:
    """DELETE the rollups of one subject, zone, `code_count` codes and days first..last."""
    return delete(vital_daily).where(
        vital_daily.c.subject_id == bindparam("subject"),
        vital_daily.c.zone_id == bindparam("zone"),
        vital_daily.c.code_id.in_([bindparam(f"c{i}") for i in range(code_count)]),
        vital_daily.c.day >= bindparam("first"),
        vital_daily.c.day <= bindparam("last"),
    )


def refresh_points(
    connection: Connection,
    query: DailyQuery,
    zone: tzinfo,
    points: Sequence[SeriesPoint],
    ids: SeriesIds | None = None,
) -> None:
    """Recompute every day these points fall on (after they were written or deleted);
    `ids`: their names' ids and the zone's where the caller has them already.

    SQLite runs one writer at a time. On PostgreSQL two transactions could each
    aggregate a day before the other commits (READ COMMITTED), and the later one
    would then write a day without the other's change; a transaction-scoped advisory
    lock per subject makes the second wait, and its aggregate then sees the first's
    committed points. Subjects are locked in order; a deadlock left between
    transactions is retried by the service like any lost race.
    """
    touched = affected_days(((p.subject, p.code, p.ts_ms) for p in points), zone)
    if connection.dialect.name == "postgresql":
        for subject in sorted(touched):
            connection.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(subject, 0)))
            )
    if ids is None:
        ids = _found_ids(connection, zone, touched, {p.code for p in points})
    for subject, (codes, days) in touched.items():
        for first, last in day_runs(days):
            _refresh(connection, query, zone, ids, subject, sorted(codes), first, last)


def rebuild_rollups(connection: Connection, query: DailyQuery, zone: tzinfo) -> int:
    """Drop every rollup and build `zone`'s from all points; registers the zone. Days built."""
    connection.execute(delete(vital_daily))
    connection.execute(delete(series_rollups))
    spans = connection.execute(
        select(
            series_subjects.c.id,
            series_subjects.c.subject,
            func.min(vital_series.c.ts_ms),
            func.max(vital_series.c.ts_ms),
        )
        .join(series_subjects, series_subjects.c.id == vital_series.c.subject_id)
        .group_by(series_subjects.c.id, series_subjects.c.subject)
    ).all()
    codes_of: dict[int, list[str]] = {}
    for subject_id, code in connection.execute(
        select(vital_series.c.subject_id, series_codes.c.code)
        .join(series_codes, series_codes.c.id == vital_series.c.code_id)
        .distinct()
    ):
        codes_of.setdefault(subject_id, []).append(code)
    ids = SeriesIds(
        {subject: subject_id for subject_id, subject, _, _ in spans},
        find_ids(connection, series_codes.c.code, {c for cs in codes_of.values() for c in cs}),
        zone_id(connection, zone_key(zone)),
    )
    for subject_id, subject, first_ms, last_ms in spans:
        _refresh(
            connection,
            query,
            zone,
            ids,
            subject,
            sorted(codes_of[subject_id]),
            local_day(first_ms, zone),
            local_day(last_ms, zone),
        )
    connection.execute(
        insert(series_rollups).values(zone=zone_key(zone), built_ms=int(time.time() * 1000))
    )
    return int(connection.execute(select(func.count()).select_from(vital_daily)).scalar() or 0)


def rollups_built_for(connection: Connection) -> str | None:
    """The zone whose rollups are complete, if any."""
    return connection.execute(select(series_rollups.c.zone)).scalar()


def rollup_statement(code_count: int) -> Select[Any]:
    """Days first..last of `code_count` codes, by code and day (one bind per code)."""
    return (
        select(
            series_codes.c.code,
            vital_daily.c.day,
            vital_daily.c.minimum,
            vital_daily.c.maximum,
            vital_daily.c.total,
            vital_daily.c.readings,
        )
        .select_from(vital_daily.join(series_codes, series_codes.c.id == vital_daily.c.code_id))
        .where(
            vital_daily.c.subject_id
            == select(series_subjects.c.id)
            .where(series_subjects.c.subject == bindparam("subject"))
            .scalar_subquery(),
            vital_daily.c.zone_id
            == select(series_zones.c.id)
            .where(series_zones.c.zone == bindparam("zone"))
            .scalar_subquery(),
            series_codes.c.code.in_([bindparam(f"code{i}") for i in range(code_count)]),
            vital_daily.c.day >= bindparam("first"),
            vital_daily.c.day <= bindparam("last"),
        )
        .order_by(series_codes.c.code, vital_daily.c.day)
    )

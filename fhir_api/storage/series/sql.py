"""Series in the SQL database itself (SQLite by default, PostgreSQL in production).

Points are written on the resource store's connection, in its transaction: a
stored Observation, its points and the daily rollups of the days they fall on
(`rollups.py`) commit or roll back together.

A point row is (subject id, code id, time, Observation key, value): the names are
small integers into lookup tables (`lookups.py`) and the Observation is named by its
resource key (`resources.key`), whose row holds its id. `series_observations` keeps,
by that key, the subject and the first and last instant of its points: removing an
Observation's points seeks them through the clustered key (per code, within that
span) instead of a second index on every point, and no id is stored again (issue 15).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, tzinfo
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..bulk import insert_rows
from ..database import READ_ONLY
from ..schema import (
    resources,
    series_codes,
    series_observations,
    series_outbox,
    series_subjects,
    vital_daily,
    vital_series,
)
from .base import DAY_MS, DailyRow, SeriesPoint, series_points
from .lookups import SeriesIds, series_ids
from .rollups import (
    day_start_ms,
    local_day,
    rebuild_rollups,
    refresh_points,
    rollup_statement,
    rollups_built_for,
    zone_key,
)
from .statements import padded, resource_keys, run, run_in_chunks

__all__ = ["SqlSeriesStore", "subject_id_of"]

_LOGGER = logging.getLogger(__name__)
_ROLLUP_BUILD_LOCK = 0x486F6D6556  # "HomeV": the advisory lock key of a rollup build
_REDERIVE_BATCH = 500  # Observations per statement when points are derived again
_CHUNK = 500  # ids per IN list

_DAY = (
    (vital_series.c.ts_ms + bindparam("offset", type_=BigInteger))
    // bindparam("day_ms", type_=BigInteger)
).label("day")


def subject_id_of(subject: Any) -> Any:
    """The id of a subject reference, as a scalar subquery (NULL when it has no points)."""
    return (
        select(series_subjects.c.id).where(series_subjects.c.subject == subject).scalar_subquery()
    )


def _daily_statement(code_count: int) -> Select[Any]:
    """The daily aggregate over `code_count` codes (one bind each, so it compiles once)."""
    return (
        select(
            series_codes.c.code,
            _DAY,
            func.min(vital_series.c.value),
            func.max(vital_series.c.value),
            func.sum(vital_series.c.value),
            func.count(),
        )
        .select_from(vital_series.join(series_codes, series_codes.c.id == vital_series.c.code_id))
        .where(
            vital_series.c.subject_id == subject_id_of(bindparam("subject")),
            series_codes.c.code.in_([bindparam(f"code{i}") for i in range(code_count)]),
            vital_series.c.ts_ms >= bindparam("start"),
            vital_series.c.ts_ms < bindparam("end"),
        )
        .group_by(series_codes.c.code, _DAY)
    )


def _owners_statement(count: int) -> Select[Any]:
    """The rows of `count` Observations in `series_observations` (binds k0..)."""
    return select(
        series_observations.c.key,
        series_observations.c.subject_id,
        series_observations.c.first_ms,
        series_observations.c.last_ms,
    ).where(series_observations.c.key.in_([bindparam(f"k{i}") for i in range(count)]))


def _owners(connection: Connection, keys: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """(key, subject id, first and last instant) of those of `keys` with points."""
    rows = run_in_chunks(connection, ("owners",), _owners_statement, keys, "k")
    return [(int(k), int(s), int(a), int(b)) for k, s, a, b in rows]


def _claim_statement(dialect: str, count: int) -> Any:
    """INSERT `count` Observations' rows (binds k, s, a, b + row number) unless there,
    returning the keys of those inserted."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows: list[dict[str, Any]] = [
        {
            "key": bindparam(f"k{i}"),
            "subject_id": bindparam(f"s{i}"),
            "first_ms": bindparam(f"a{i}"),
            "last_ms": bindparam(f"b{i}"),
        }
        for i in range(count)
    ]
    return (
        insert(series_observations)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[series_observations.c.key])
        .returning(series_observations.c.key)
    )


def _claim(
    connection: Connection, spans: dict[int, tuple[int, int, int]], keys: Sequence[int]
) -> set[int]:
    """Those of `keys` whose row this inserts (one statement per chunk: on PostgreSQL a
    round trip each); rows already there are left as they are."""
    claimed: set[int] = set()
    dialect = connection.dialect.name
    for start in range(0, len(keys), _CHUNK):
        # A repeated row conflicts with itself: nothing more is stored.
        chunk = padded(keys[start : start + _CHUNK])
        values: dict[str, Any] = {}
        for i, key in enumerate(chunk):
            subject, first, last = spans[key]
            values.update({f"k{i}": key, f"s{i}": subject, f"a{i}": first, f"b{i}": last})
        shape = len(chunk)
        rows = run(connection, ("claim", shape), partial(_claim_statement, dialect, shape), values)
        claimed.update(int(key) for (key,) in rows)
    return claimed


def _record_spans(connection: Connection, spans: dict[int, tuple[int, int, int]]) -> None:
    """Give each Observation in `spans` (key -> subject id, first and last instant) its
    row, or widen the row left to the new points (points written in two calls of one
    transaction, or a row whose points were removed by hand)."""
    keys = sorted(spans)
    claimed = _claim(connection, spans, keys)
    left = [k for k in keys if k not in claimed]
    again = []
    for key, subject, first, last in _owners(connection, left) if left else ():
        new_subject, new_first, new_last = spans[key]
        if subject != new_subject:  # its points filed under another subject: gone
            _remove_keys(connection, {key: ""})
            again.append(key)
            continue
        if new_first < first or new_last > last:
            connection.execute(
                update(series_observations)
                .where(series_observations.c.key == key)
                .values(first_ms=min(first, new_first), last_ms=max(last, new_last))
            )
    if again:
        _claim(connection, spans, again)


def _keys_of(connection: Connection, points: Sequence[SeriesPoint]) -> dict[str, int]:
    """The resource key of each point's Observation: the one it carries, else looked up."""
    keys = {p.observation_id: p.observation_key for p in points if p.observation_key}
    missing = {p.observation_id for p in points} - keys.keys()
    if missing:
        keys.update(resource_keys(connection, "Observation", missing))
        unknown = sorted(missing - keys.keys())
        if unknown:
            raise ValueError(f"points of Observations not stored: {', '.join(unknown[:5])}")
    return keys


def _insert(connection: Connection, points: Sequence[SeriesPoint], zone: str | None) -> SeriesIds:
    """Insert points with their subjects', codes' and Observations' ids; those ids and
    `zone`'s (the rollups' zone, if any)."""
    ids = series_ids(
        connection, {p.subject for p in points}, {p.code: p.unit for p in points}, zone
    )
    subjects, codes = ids.subjects, ids.codes
    keys = _keys_of(connection, points)
    spans: dict[int, tuple[int, int, int]] = {}
    for point in points:
        key = keys[point.observation_id]
        span = spans.get(key)
        if span is None:
            spans[key] = (subjects[point.subject], point.ts_ms, point.ts_ms)
        else:
            spans[key] = (span[0], min(span[1], point.ts_ms), max(span[2], point.ts_ms))
    _record_spans(connection, spans)
    insert_rows(
        connection,
        vital_series,
        [
            {
                "subject_id": subjects[p.subject],
                "code_id": codes[p.code],
                "ts_ms": p.ts_ms,
                "observation": keys[p.observation_id],
                "value": p.value,
            }
            for p in points
        ],
    )
    return ids


def _remove(connection: Connection, observation_ids: Sequence[str]) -> list[SeriesPoint]:
    """Delete the points of these Observations and their rows; the points that were there
    (subject, code and time only)."""
    keys = resource_keys(connection, "Observation", observation_ids)
    return _remove_keys(connection, {key: name for name, key in keys.items()})


def _remove_keys(connection: Connection, names: dict[int, str]) -> list[SeriesPoint]:
    """Delete the points of the Observations keyed in `names` (key -> id) and their rows."""
    gone: list[SeriesPoint] = []
    ordered = sorted(names)
    for start in range(0, len(ordered), _CHUNK):
        owners = connection.execute(
            select(
                series_observations.c.key,
                series_observations.c.subject_id,
                series_observations.c.first_ms,
                series_observations.c.last_ms,
                series_subjects.c.subject,
            )
            .join(series_subjects, series_subjects.c.id == series_observations.c.subject_id)
            .where(series_observations.c.key.in_(ordered[start : start + _CHUNK]))
        ).all()
        for key, subject_id, first, last, subject in owners:
            # Every code's range of this subject within the span: seeks in the clustered key.
            where = and_(
                vital_series.c.subject_id == subject_id,
                vital_series.c.code_id.in_(select(series_codes.c.id)),
                vital_series.c.ts_ms >= first,
                vital_series.c.ts_ms <= last,
                vital_series.c.observation == key,
            )
            gone += [
                SeriesPoint(subject, code, ts, 0.0, "", names[key], key)
                for code, ts in connection.execute(
                    select(series_codes.c.code, vital_series.c.ts_ms)
                    .join(series_codes, series_codes.c.id == vital_series.c.code_id)
                    .where(where)
                )
            ]
            connection.execute(delete(vital_series).where(where))
        if owners:
            connection.execute(
                delete(series_observations).where(
                    series_observations.c.key.in_([row.key for row in owners])
                )
            )
    return gone


class SqlSeriesStore:
    """`SeriesStore` on the `vital_series` table."""

    in_resource_transaction = True

    def __init__(self, engine: Engine, zone: tzinfo | None = None) -> None:
        """`zone`: the calendar whose days are kept as rollups (None: no rollups)."""
        self._engine = engine
        self._zone = zone
        self._rollups_ready = False

    def ensure_rollups(self) -> int | None:
        """Re-derive queued Observations' points, then build the rollups if they are not
        complete for this zone; days built, or None."""
        with self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # servers starting together: one builds
                connection.execute(select(func.pg_advisory_xact_lock(_ROLLUP_BUILD_LOCK)))
            rederived = self._rederive_queued(connection)
            if self._zone is None:
                built = None
            elif rollups_built_for(connection) == zone_key(self._zone) and not rederived:
                built = None
            else:
                _LOGGER.info("building daily rollups for %s from every point", self._zone)
                built = rebuild_rollups(connection, self._query_daily, self._zone)
        self._rollups_ready = self._zone is not None
        return built

    def _rederive_queued(self, connection: Connection) -> int:
        """Points of the Observations queued in `series_outbox`, derived again; how many.

        The SQL backend writes points in the resource's own transaction and queues
        nothing itself: a queue here comes from migration 0004, which queued every
        Observation so that its points are derived again with one unit per code and
        one point per charted coding (issue 10).
        """
        queued = connection.execute(
            select(series_outbox.c.seq, series_outbox.c.observation_id).order_by(
                series_outbox.c.seq
            )
        ).all()
        if not queued:
            return 0
        _LOGGER.info("deriving the series points of %s queued Observations", len(queued))
        zone = self._zone or UTC
        ids = list(dict.fromkeys(observation_id for _, observation_id in queued))
        for start in range(0, len(ids), _REDERIVE_BATCH):
            chunk = ids[start : start + _REDERIVE_BATCH]
            _remove(connection, chunk)
            live = connection.execute(
                select(resources.c.id, resources.c.key, resources.c.content).where(
                    resources.c.resource_type == "Observation",
                    resources.c.id.in_(chunk),
                    resources.c.deleted.is_(False),
                )
            ).all()
            points = [
                point
                for observation_id, key, content in live
                for point in series_points(json.loads(content), observation_id, zone, key)
            ]
            if points:
                _insert(connection, points, None)
        connection.execute(delete(series_outbox).where(series_outbox.c.seq <= queued[-1][0]))
        return len(ids)

    def write(self, connection: Connection | None, points: Sequence[SeriesPoint]) -> None:
        """Insert points, then recompute the days they fall on.

        The caller removed the observation's old points first.
        """
        if not points:
            return
        if connection is None:
            raise ValueError("SQL series writes need the resource transaction's connection")
        zone = zone_key(self._zone) if self._zone is not None else None
        ids = _insert(connection, points, zone)
        if self._zone is not None:
            refresh_points(connection, self._query_daily, self._zone, points, ids)

    def delete_observation(self, connection: Connection | None, observation_id: str) -> None:
        """Remove an Observation's points and recompute the days they fell on."""
        if connection is None:
            raise ValueError("SQL series writes need the resource transaction's connection")
        gone = _remove(connection, [observation_id])
        if gone and self._zone is not None:
            refresh_points(connection, self._query_daily, self._zone, gone)

    def daily_rollup(
        self, subject: str, codes: Sequence[str], start_ms: int, end_ms: int, zone: tzinfo
    ) -> list[DailyRow] | None:
        """Whole days in the rollups' zone, read from the rollups; None for anything else."""
        if not self._rollups_ready or self._zone is None or zone_key(zone) != zone_key(self._zone):
            return None
        first, last = local_day(start_ms, zone), local_day(end_ms, zone) - 1
        if day_start_ms(first, zone) != start_ms or day_start_ms(last + 1, zone) != end_ms:
            return None  # not local midnight to local midnight
        values: dict[str, Any] = {
            "subject": subject,
            "zone": zone_key(zone),
            "first": first,
            "last": last,
            **{f"code{i}": code for i, code in enumerate(codes)},
        }
        count = len(codes)
        with self._engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            build = partial(rollup_statement, count)
            rows = run(connection, ("rollup", count), build, values).fetchall()
        # The unit is the code's canonical one (units.py), set by daily_statistics. Made
        # with tuple.__new__: a NamedTuple's own constructor is a Python function, and
        # five years of four codes is 7,300 rows (bench/query.py).
        new = tuple.__new__
        return [new(DailyRow, (c, d, lo, hi, total, n, "")) for c, d, lo, hi, total, n in rows]

    def daily(
        self, subject: str, codes: Sequence[str], start_ms: int, end_ms: int, offset_ms: int
    ) -> list[DailyRow]:
        """One GROUP BY over the clustered (subject, code, ts) key."""
        with self._engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            return self._query_daily(connection, subject, codes, start_ms, end_ms, offset_ms)

    def _query_daily(
        self,
        connection: Connection,
        subject: str,
        codes: Sequence[str],
        start_ms: int,
        end_ms: int,
        offset_ms: int,
    ) -> list[DailyRow]:
        """The points' daily aggregate on `connection` (units left empty: one per code).

        The statement is compiled by SQLAlchemy once per number of codes and then run
        as the driver's own SQL: a chart request costs the query, not its construction
        and result processing.
        """
        values: dict[str, Any] = {
            "subject": subject,
            "start": start_ms,
            "end": end_ms,
            "offset": offset_ms,
            "day_ms": DAY_MS,
            **{f"code{i}": code for i, code in enumerate(codes)},
        }
        count = len(codes)
        rows = run(connection, ("points", count), partial(_daily_statement, count), values)
        return [
            DailyRow(c, int(d), float(lo), float(hi), float(total), int(n), "")
            for c, d, lo, hi, total, n in rows
        ]

    def close(self) -> None:
        """Nothing to release: the engine belongs to the resource store."""

    def clear(self) -> None:
        """Remove every point and every rollup (both empty: the rollups stay complete); the
        lookup tables stay (a few rows per patient and code)."""
        with self._engine.begin() as connection:
            connection.execute(delete(vital_series))
            connection.execute(delete(series_observations))
            connection.execute(delete(vital_daily))

"""The small integers a series row names its subject, code and zone by (issue 15).

A point repeated "Patient/<uuid>" (44 characters) and its code as text in its
key; each is now an id into a lookup table of a few rows per patient or code.
Ids are found, or created, in the writer's own transaction. They are not cached
between transactions: an id created in a transaction that rolls back is given
again to another name, and a cache would then file one patient's points under
another's. Creation is `INSERT ... ON CONFLICT DO NOTHING` and a second SELECT,
so two PostgreSQL writers creating the same name concurrently both get its one
id (READ COMMITTED: the second insert waits for the first and then does nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import (
    Column,
    CompoundSelect,
    Connection,
    Select,
    bindparam,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..schema import series_codes, series_subjects, series_zones
from .statements import padded, run, run_in_chunks

__all__ = ["SeriesIds", "code_ids", "find_ids", "series_ids", "subject_ids", "zone_id"]

_CHUNK = 512  # names in the one-statement look-up of `series_ids`


def find_ids(connection: Connection, name: Column[str], names: Iterable[str]) -> dict[str, int]:
    """The ids of those of `names` that a lookup table holds (`name`: its name column)."""
    rows = run_in_chunks(
        connection, ("lookup", name.table.name), partial(_lookup, name), sorted(set(names)), "v"
    )
    return {str(value): int(identifier) for value, identifier in rows}


def _lookup(name: Column[str], count: int) -> Select[tuple[str, int]]:
    """SELECT name, id WHERE name IN (v0 .. v{count-1})."""
    return select(name, name.table.c.id).where(name.in_([bindparam(f"v{i}") for i in range(count)]))


def _ensure(
    connection: Connection, name: Column[str], names: Mapping[str, Mapping[str, Any]]
) -> dict[str, int]:
    """The ids of `names`, creating the missing ones (each with its other columns)."""
    found = find_ids(connection, name, names)
    missing = sorted(names.keys() - found.keys())
    if missing:
        rows = [{name.name: each, **names[each]} for each in missing]
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(insert(name.table).on_conflict_do_nothing(), rows)
        found.update(find_ids(connection, name, missing))
    return found


def subject_ids(connection: Connection, subjects: Iterable[str]) -> dict[str, int]:
    """Ids of subject references ("Patient/<id>"), created where missing."""
    return _ensure(connection, series_subjects.c.subject, {s: {} for s in subjects})


def code_ids(connection: Connection, units: Mapping[str, str]) -> dict[str, int]:
    """Ids of series codes, created where missing with their unit (`units`: code -> unit)."""
    return _ensure(connection, series_codes.c.code, {c: {"unit": u} for c, u in units.items()})


def zone_id(connection: Connection, zone: str) -> int:
    """The id of a zone's IANA name, created if missing."""
    return _ensure(connection, series_zones.c.zone, {zone: {}})[zone]


@dataclass(frozen=True, slots=True)
class SeriesIds:
    """The ids of one write's subjects, codes and rollup zone (0: no zone)."""

    subjects: dict[str, int]
    codes: dict[str, int]
    zone: int


def _all_statement(subjects: int, codes: int) -> CompoundSelect[Any]:
    """One SELECT of the ids of subjects s0.., codes c0.. and zone z (a round trip, not three)."""

    def part(kind: str, name: Column[str], binds: list[Any]) -> Select[Any]:
        return select(literal_column(f"'{kind}'"), name, name.table.c.id).where(name.in_(binds))

    return union_all(
        part("s", series_subjects.c.subject, [bindparam(f"s{i}") for i in range(subjects)]),
        part("c", series_codes.c.code, [bindparam(f"c{i}") for i in range(codes)]),
        part("z", series_zones.c.zone, [bindparam("z")]),
    )


def series_ids(
    connection: Connection, subjects: Iterable[str], units: Mapping[str, str], zone: str | None
) -> SeriesIds:
    """Ids of subjects, codes (`units`: code -> unit) and a zone, created where missing.

    Every upload needs them: found in one statement when they exist (on PostgreSQL
    each statement is a round trip).
    """
    wanted_subjects, wanted_codes = sorted(set(subjects)), sorted(units)
    if not wanted_subjects or not wanted_codes or max(len(wanted_subjects), len(units)) > _CHUNK:
        return SeriesIds(
            subject_ids(connection, wanted_subjects),
            code_ids(connection, units),
            zone_id(connection, zone) if zone else 0,
        )
    some_subjects, some_codes = padded(wanted_subjects), padded(wanted_codes)
    values = {"z": zone or ""}
    values.update((f"s{i}", name) for i, name in enumerate(some_subjects))
    values.update((f"c{i}", name) for i, name in enumerate(some_codes))
    shape = (len(some_subjects), len(some_codes))
    rows = run(connection, ("series ids", *shape), partial(_all_statement, *shape), values)
    found: dict[str, dict[str, int]] = {"s": {}, "c": {}, "z": {}}
    for kind, name, identifier in rows:
        found[kind][name] = int(identifier)
    if len(found["s"]) < len(wanted_subjects):
        found["s"] = subject_ids(connection, wanted_subjects)
    if len(found["c"]) < len(wanted_codes):
        found["c"] = code_ids(connection, units)
    zone_found = (found["z"].get(zone) or zone_id(connection, zone)) if zone else 0
    return SeriesIds(found["s"], found["c"], zone_found)

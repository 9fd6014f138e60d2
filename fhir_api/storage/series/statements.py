"""The write path's statements, compiled by SQLAlchemy once per database and shape, then run
as the driver's own SQL.

Every upload looks up its subject's and codes' ids, its Observations' keys and the
rollup rows of its days. Built and compiled per call, each of these small
statements cost SQLAlchemy more than the database's own work (an IN list is
re-rendered per call): ingest ran at a third of its rate (bench/series_size.py).
Lists are padded to a power of two by repeating their last value, so a handful
of shapes is compiled, whatever their lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection, CursorResult, Select, bindparam, select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util.typing import TupleAny, Unpack

from ..schema import resources

__all__ = ["padded", "resource_keys", "run", "run_in_chunks"]

_CHUNK = 500  # ids per IN list

_COMPILED: dict[tuple[str, str, Hashable], tuple[str, tuple[str, ...] | None]] = {}


def padded(values: Sequence[Any]) -> list[Any]:
    """`values` (not empty) lengthened to a power of two with copies of its last value."""
    size = 1
    while size < len(values):
        size *= 2
    return [*values, *[values[-1]] * (size - len(values))]


def run(
    connection: Connection,
    key: Hashable,
    build: Callable[[], ClauseElement],
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> CursorResult[Unpack[TupleAny]]:
    """Run the statement `build()` makes (compiled once per dialect and `key`) with `values`:
    one set of bound values, or a list of them (executemany)."""
    dialect = connection.dialect
    cache_key = (dialect.name, dialect.driver, key)
    found = _COMPILED.get(cache_key)
    if found is None:
        compiled = cast(SQLCompiler, build().compile(dialect=dialect))
        order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        found = _COMPILED[cache_key] = (compiled.string, order)
    sql, order = found

    def bound(one: Mapping[str, Any]) -> Any:
        return tuple(one[name] for name in order) if order is not None else dict(one)

    if isinstance(values, Mapping):
        return connection.exec_driver_sql(sql, bound(values))
    return connection.exec_driver_sql(sql, [bound(one) for one in values])


def run_in_chunks(
    connection: Connection,
    key: tuple[Hashable, ...],
    build: Callable[[int], ClauseElement],
    values: Sequence[Any],
    prefix: str,
    fixed: Mapping[str, Any] | None = None,
) -> Iterator[Any]:
    """The rows of `build(n)`, an IN-list statement binding `prefix`0 .. `prefix`{n-1}
    (and `fixed`), run over `values` in padded chunks of at most `_CHUNK`."""
    for start in range(0, len(values), _CHUNK):
        chunk = padded(values[start : start + _CHUNK])
        binds = {f"{prefix}{i}": value for i, value in enumerate(chunk)}
        yield from run(
            connection, (*key, len(chunk)), partial(build, len(chunk)), {**(fixed or {}), **binds}
        )


def _resource_keys_statement(count: int) -> Select[Any]:
    """The resource keys of `count` resources of type `t` by id (binds t, o0..)."""
    return select(resources.c.id, resources.c.key).where(
        resources.c.resource_type == bindparam("t"),
        resources.c.id.in_([bindparam(f"o{i}") for i in range(count)]),
    )


def resource_keys(connection: Connection, resource_type: str, ids: Iterable[str]) -> dict[str, int]:
    """The resource key (`resources.key`) of each of `ids` that is a stored `resource_type`,
    deleted or not: the key its index rows and series points name it by."""
    rows = run_in_chunks(
        connection,
        ("resource keys",),
        _resource_keys_statement,
        sorted(set(ids)),
        "o",
        {"t": resource_type},
    )
    return {str(i): int(k) for i, k in rows}

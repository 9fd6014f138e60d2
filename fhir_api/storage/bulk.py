"""Many-row INSERTs as the driver's own SQL.

SQLAlchemy's executemany runs every row's parameters through its compiler in
Python (a `construct_params` call per row): for the 2,300 rows a Bundle of 100
Observations indexes, that was about as much time as SQLite's own work on them.
Here SQLAlchemy compiles the INSERT once per dialect and table, and the driver
binds the rows itself. Only for plain column types; every row carries the same
columns (those left out, such as an autoincrement key, take their defaults).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert

__all__ = ["insert_rows"]

_COMPILED: dict[tuple[str, str, str, tuple[str, ...]], tuple[str, tuple[str, ...] | None]] = {}


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (each with the same columns of `table`) in one executemany."""
    if not rows:
        return
    dialect = connection.dialect
    columns = tuple(rows[0])
    key = (dialect.name, dialect.driver, table.name, columns)
    found = _COMPILED.get(key)
    if found is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        found = _COMPILED[key] = (compiled.string, order)
    sql, order = found
    if order is not None:  # positional drivers (sqlite3: qmark)
        connection.exec_driver_sql(sql, [tuple(row[name] for name in order) for row in rows])
    else:  # named parameters (psycopg: pyformat)
        connection.exec_driver_sql(sql, [dict(row) for row in rows])

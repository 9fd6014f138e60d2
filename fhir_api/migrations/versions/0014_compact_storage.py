"""Compact storage (issue 15): each version's JSON once, compressed with a stored dictionary.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

`resources` keeps the current version's JSON and `resource_versions` only the earlier
ones (NULL for the current version), each as a zstd frame naming its dictionary
(fhir_api/storage/compression.py); the dictionaries are kept in
`compression_dictionaries`. Both tables become WITHOUT ROWID on SQLite (the table is
its primary key's B-tree instead of a table plus an index repeating the key).
`identifiers` gets the primary key (resource_type, value, system), which serves the
look-ups by value that needed `ix_identifiers_value` (dropped: it repeated every
identifier a third time). `identifier` searches read that table, so the
`identifier` rows of `search_tokens`, which repeated each identifier once more, go.

Rows are copied into new tables page by page and the old tables dropped, so every
resource and version is kept with exactly the JSON it had (tests/fhir_api/
test_storage_migration.py compares them all). The downgrade restores the earlier layout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from fhir_api.storage.compression import bundled_dictionaries, compress, decompress

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_PAGE = 2_000
_TABLES = ("resources", "resource_versions")


def _columns(content: sa.types.TypeEngine[Any], *, history: bool) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = [
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
    ]
    if history:
        columns.append(sa.Column("version_id", sa.Integer, primary_key=True))
    else:
        columns.append(sa.Column("version_id", sa.Integer, nullable=False))
    return [
        *columns,
        sa.Column("last_updated", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", content, nullable=history and isinstance(content, sa.LargeBinary)),
    ]


def _pages(connection: sa.Connection, table: sa.Table) -> Iterator[list[sa.Row[Any]]]:
    """Every row of `table` in primary-key order, a page at a time (keyset pagination)."""
    key = list(table.primary_key.columns)
    last: tuple[Any, ...] | None = None
    while True:
        query = sa.select(table).order_by(*key).limit(_PAGE)
        if last is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*last))
        rows = list(connection.execute(query).all())
        if not rows:
            return
        yield rows
        last = tuple(getattr(rows[-1], c.name) for c in key)


def _rebuild(
    make: Callable[[str], sa.Table],
    fill: Callable[[sa.Connection, sa.Table, sa.Table, sa.Table], None],
) -> None:
    """Create the new tables beside the old, fill them, drop the old, take their names."""
    connection = op.get_bind()
    meta = sa.MetaData()
    old = {name: sa.Table(name, meta, autoload_with=connection) for name in _TABLES}
    new = {name: make(name) for name in _TABLES}
    for table in new.values():
        table.create(connection)
    fill(connection, old["resources"], new["resources"], old["resource_versions"])
    fill(connection, old["resource_versions"], new["resource_versions"], old["resources"])
    for name in _TABLES:
        op.drop_table(name)
        op.rename_table(f"{name}_new", name)
        if connection.dialect.name == "postgresql":
            op.execute(f"ALTER INDEX {name}_new_pkey RENAME TO {name}_pkey")


def _compact_table(name: str) -> sa.Table:
    return sa.Table(
        f"{name}_new",
        sa.MetaData(),
        *_columns(sa.LargeBinary(), history=name == "resource_versions"),
        sqlite_with_rowid=False,
    )


def _plain_table(name: str) -> sa.Table:
    return sa.Table(f"{name}_new", sa.MetaData(), *_columns(sa.Text(), history="versions" in name))


def _current_versions(
    connection: sa.Connection, current: sa.Table, rows: list[sa.Row[Any]]
) -> dict[tuple[str, str], int]:
    ids = sorted({row.id for row in rows})
    found = connection.execute(
        sa.select(current.c.resource_type, current.c.id, current.c.version_id).where(
            current.c.id.in_(ids)
        )
    )
    return {(kind, rid): version for kind, rid, version in found}


def _compact(connection: sa.Connection, old: sa.Table, new: sa.Table, other: sa.Table) -> None:
    history = "version_id" in new.primary_key.columns
    for rows in _pages(connection, old):
        current = _current_versions(connection, other, rows) if history else {}
        values = []
        for row in rows:
            content: bytes | None = compress(row.content) if row.content else b""
            if history and current.get((row.resource_type, row.id)) == row.version_id:
                content = None  # the current version: its JSON is in `resources`
            values.append({**row._asdict(), "content": content})
        connection.execute(sa.insert(new), values)


def _expand(connection: sa.Connection, old: sa.Table, new: sa.Table, other: sa.Table) -> None:
    history = "version_id" in new.primary_key.columns
    for rows in _pages(connection, old):
        current: dict[tuple[str, str], str] = {}
        if history and any(row.content is None for row in rows):
            ids = sorted({row.id for row in rows})
            current = {
                (kind, rid): decompress(bytes(body)) if body else ""
                for kind, rid, body in connection.execute(
                    sa.select(other.c.resource_type, other.c.id, other.c.content).where(
                        other.c.id.in_(ids)
                    )
                )
            }
        values = []
        for row in rows:
            if row.content is None:
                text = current[(row.resource_type, row.id)]
            else:
                text = decompress(bytes(row.content)) if row.content else ""
            values.append({**row._asdict(), "content": text})
        connection.execute(sa.insert(new), values)


def upgrade() -> None:
    dictionaries = op.create_table(
        "compression_dictionaries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    now = int(time.time() * 1000)
    op.bulk_insert(
        dictionaries,
        [{"id": k, "created_ms": now, "content": v} for k, v in bundled_dictionaries().items()],
    )
    _rebuild(_compact_table, _compact)
    _key_identifiers(("resource_type", "value", "system"))  # ix_identifiers_value goes with it
    op.execute("DELETE FROM search_tokens WHERE param = 'identifier'")


def downgrade() -> None:
    op.execute(
        "INSERT INTO search_tokens (resource_type, resource_id, param, system, code)"
        " SELECT resource_type, resource_id, 'identifier', system, value FROM identifiers"
    )
    _key_identifiers(("resource_type", "system", "value"))
    op.create_index(
        "ix_identifiers_value", "identifiers", ["resource_type", "value", "system"], unique=True
    )
    _rebuild(_plain_table, _expand)
    op.drop_table("compression_dictionaries")


def _key_identifiers(key: tuple[str, ...]) -> None:
    """Rebuild `identifiers` with the primary key `key` (same rows, same columns)."""
    connection = op.get_bind()
    columns = {
        "resource_type": sa.String(64),
        "system": sa.String(512),
        "value": sa.String(512),
    }
    op.create_table(
        "identifiers_new",
        *(sa.Column(name, columns[name], primary_key=True) for name in key),
        sa.Column("resource_id", sa.String(64), nullable=False),
    )
    op.execute(
        "INSERT INTO identifiers_new (resource_type, system, value, resource_id)"
        " SELECT resource_type, system, value, resource_id FROM identifiers"
    )
    op.drop_index("ix_identifiers_resource", table_name="identifiers")
    op.drop_table("identifiers")
    op.rename_table("identifiers_new", "identifiers")
    if connection.dialect.name == "postgresql":
        op.execute("ALTER INDEX identifiers_new_pkey RENAME TO identifiers_pkey")
    op.create_index("ix_identifiers_resource", "identifiers", ["resource_type", "resource_id"])

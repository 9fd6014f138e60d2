"""Integer-keyed search index (issue 15): index rows name a resource key and a term id.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30

`resources` gets an integer `key` (SQLite: the rowid itself; PostgreSQL: an identity
column), numbered in the order the resources were last written, with a unique index on
(resource_type, id). The distinct (type, param, system, code) of the token rows, the
(type, param, target) of the reference rows and the (type, param) of the date and
string rows become `search_terms`, and every index row becomes (term, resource key)
plus its own values: the same rows, each a few bytes instead of the type, a
36-character id, the parameter and the system URL again.

The rows are moved with INSERT ... SELECT inside the database (no resource is decoded,
so none can change; tests/fhir_api/test_keyed_index_migration.py compares every
version and a set of searches before and after). The downgrade restores the 0014 layout.
"""

# The SQL here is put together from this file's own table and column names only.
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_SEARCH = ("search_tokens", "search_references", "search_dates", "search_strings")
_KEY = '"key"'  # quoted: a keyword in SQLite
_RESOURCE_COLUMNS = "resource_type, id, version_id, last_updated, deleted, content"


def _key_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rename(old: str, new: str) -> None:
    """Give table `old` the name `new`, with its PostgreSQL primary key and sequence."""
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX IF EXISTS {old}_pkey RENAME TO {new}_pkey")
        op.execute(f"ALTER SEQUENCE IF EXISTS {old}_key_seq RENAME TO {new}_key_seq")
        op.execute(f"ALTER SEQUENCE IF EXISTS {old}_id_seq RENAME TO {new}_id_seq")


# --- upgrade ------------------------------------------------------------------------------


def _keyed_resources() -> None:
    op.create_table(
        "resources_new",
        sa.Column("key", _key_type(), primary_key=True, autoincrement=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.execute(
        f"INSERT INTO resources_new ({_RESOURCE_COLUMNS})"
        f" SELECT {_RESOURCE_COLUMNS} FROM resources ORDER BY last_updated, resource_type, id"
    )
    op.drop_table("resources")
    _rename("resources_new", "resources")
    op.create_index("ux_resources_id", "resources", ["resource_type", "id"], unique=True)


def _keyed_versions() -> None:
    """The history by resource key, without the current versions' rows (their JSON is in
    `resources`; 0014 kept a row with NULL content for each)."""
    op.create_table(
        "resource_versions_new",
        sa.Column("resource_key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("version_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_updated", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO resource_versions_new"
        " (resource_key, version_id, last_updated, deleted, content)"
        f" SELECT r.{_KEY}, v.version_id, v.last_updated, v.deleted, v.content"
        " FROM resource_versions v JOIN resources r"
        " ON r.resource_type = v.resource_type AND r.id = v.id"
        " WHERE v.version_id < r.version_id"
    )
    op.drop_table("resource_versions")
    _rename("resource_versions_new", "resource_versions")


def _new_search_tables() -> None:
    op.create_table(
        "search_terms",
        sa.Column("id", _key_type(), primary_key=True, autoincrement=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("param", sa.String(64), nullable=False),
        sa.Column("system", sa.String(512), nullable=False),
        sa.Column("code", sa.String(512), nullable=False),
    )
    op.create_index(
        "ux_search_terms",
        "search_terms",
        ["resource_type", "param", "code", "system"],
        unique=True,
    )

    def keyed() -> list[sa.Column[Any]]:
        return [
            sa.Column("term", sa.BigInteger, nullable=False),
            sa.Column("resource_key", sa.BigInteger, nullable=False),
        ]

    op.create_table(
        "search_tokens_new",
        sa.Column("term", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("resource_key", sa.BigInteger, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    op.create_table("search_references_new", *keyed())
    op.create_table(
        "search_dates_new",
        *keyed(),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("floating", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "search_strings_new",
        *keyed(),
        sa.Column("value", sa.String(512), nullable=False),
        sa.Column("value_exact", sa.String(512), nullable=False, server_default=""),
    )


def _keyed_index() -> None:
    _new_search_tables()
    op.execute(
        "INSERT INTO search_terms (resource_type, param, system, code)"
        " SELECT resource_type, param, system, code FROM search_tokens"
        " UNION SELECT resource_type, param, '', target FROM search_references"
        " UNION SELECT resource_type, param, '', '' FROM search_dates"
        " UNION SELECT resource_type, param, '', '' FROM search_strings"
        " UNION SELECT resource_type, 'identifier', system, '' FROM identifiers"
    )
    keys = "JOIN resources r ON r.resource_type = s.resource_type AND r.id = s.resource_id"
    term = "JOIN search_terms t ON t.resource_type = s.resource_type AND t.param = s.param"
    op.execute(
        "INSERT INTO search_tokens_new (term, resource_key)"
        f" SELECT DISTINCT t.id, r.{_KEY} FROM search_tokens s {keys}"
        f" {term} AND t.system = s.system AND t.code = s.code"
    )
    op.execute(
        "INSERT INTO search_references_new (term, resource_key)"
        f" SELECT DISTINCT t.id, r.{_KEY} FROM search_references s {keys}"
        f" {term} AND t.system = '' AND t.code = s.target"
    )
    op.execute(
        "INSERT INTO search_dates_new (term, resource_key, start_ms, end_ms, floating)"
        f" SELECT t.id, r.{_KEY}, s.start_ms, s.end_ms, s.floating FROM search_dates s {keys}"
        f" {term} AND t.system = '' AND t.code = ''"
    )
    op.execute(
        "INSERT INTO search_strings_new (term, resource_key, value, value_exact)"
        f" SELECT t.id, r.{_KEY}, s.value, s.value_exact FROM search_strings s {keys}"
        f" {term} AND t.system = '' AND t.code = ''"
    )
    op.create_table(
        "identifiers_new",
        sa.Column("value", sa.String(512), primary_key=True),
        sa.Column("term", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("resource_key", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO identifiers_new (value, term, resource_key)"
        f" SELECT s.value, t.id, r.{_KEY} FROM identifiers s {keys}"
        " JOIN search_terms t ON t.resource_type = s.resource_type"
        " AND t.param = 'identifier' AND t.system = s.system AND t.code = ''"
    )
    for name in (*_SEARCH, "identifiers"):
        op.drop_table(name)
        _rename(f"{name}_new", name)
    op.create_index("ix_identifiers_resource", "identifiers", ["resource_key"])
    op.create_index("ix_search_tokens_resource", "search_tokens", ["resource_key", "term"])
    name = "search_references"
    op.create_index(f"ix_{name}_lookup", name, ["term", "resource_key"])
    op.create_index(f"ix_{name}_resource", name, ["resource_key", "term"])
    op.create_index("ix_search_dates_lookup", "search_dates", ["term", "start_ms"])
    op.create_index("ix_search_dates_resource", "search_dates", ["resource_key", "term"])
    op.create_index("ix_search_strings_lookup", "search_strings", ["term", "value"])
    op.create_index("ix_search_strings_resource", "search_strings", ["resource_key"])


def upgrade() -> None:
    _keyed_resources()
    _keyed_versions()
    _keyed_index()


# --- downgrade ----------------------------------------------------------------------------


def _plain_search_tables() -> None:
    def named() -> list[sa.Column[Any]]:
        return [
            sa.Column("resource_type", sa.String(64), nullable=False),
            sa.Column("resource_id", sa.String(64), nullable=False),
            sa.Column("param", sa.String(64), nullable=False),
        ]

    extra: dict[str, list[sa.Column[Any]]] = {
        "search_tokens": [
            sa.Column("system", sa.String(512), nullable=False),
            sa.Column("code", sa.String(512), nullable=False),
        ],
        "search_references": [sa.Column("target", sa.String(256), nullable=False)],
        "search_dates": [
            sa.Column("start_ms", sa.BigInteger, nullable=False),
            sa.Column("end_ms", sa.BigInteger, nullable=False),
            sa.Column("floating", sa.Boolean, nullable=False, server_default=sa.false()),
        ],
        "search_strings": [
            sa.Column("value", sa.String(512), nullable=False),
            sa.Column("value_exact", sa.String(512), nullable=False, server_default=""),
        ],
    }
    for name in _SEARCH:
        op.create_table(f"{name}_old", *named(), *extra[name])


def _plain_index() -> None:
    _plain_search_tables()
    joins = f"JOIN resources r ON r.{_KEY} = s.resource_key JOIN search_terms t ON t.id = s.term"
    named = "r.resource_type, r.id, t.param"
    op.execute(
        "INSERT INTO search_tokens_old (resource_type, resource_id, param, system, code)"
        f" SELECT {named}, t.system, t.code FROM search_tokens s {joins}"
    )
    op.execute(
        "INSERT INTO search_references_old (resource_type, resource_id, param, target)"
        f" SELECT {named}, t.code FROM search_references s {joins}"
    )
    op.execute(
        "INSERT INTO search_dates_old"
        " (resource_type, resource_id, param, start_ms, end_ms, floating)"
        f" SELECT {named}, s.start_ms, s.end_ms, s.floating FROM search_dates s {joins}"
    )
    op.execute(
        "INSERT INTO search_strings_old (resource_type, resource_id, param, value, value_exact)"
        f" SELECT {named}, s.value, s.value_exact FROM search_strings s {joins}"
    )
    lookup: dict[str, list[str]] = {
        "search_tokens": ["resource_type", "param", "code"],
        "search_references": ["resource_type", "param", "target"],
        "search_dates": ["resource_type", "param", "start_ms"],
        "search_strings": ["resource_type", "param", "value"],
    }
    op.create_table(
        "identifiers_old",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(512), primary_key=True),
        sa.Column("system", sa.String(512), primary_key=True),
        sa.Column("resource_id", sa.String(64), nullable=False),
    )
    op.execute(
        "INSERT INTO identifiers_old (resource_type, value, system, resource_id)"
        f" SELECT r.resource_type, s.value, t.system, r.id FROM identifiers s {joins}"
    )
    for name in (*_SEARCH, "identifiers"):
        op.drop_table(name)
        _rename(f"{name}_old", name)
        lookup.setdefault(name, [])
        if lookup[name]:
            op.create_index(f"ix_{name}_lookup", name, lookup[name])
        op.create_index(f"ix_{name}_resource", name, ["resource_type", "resource_id"])
    op.drop_table("search_terms")


def _plain_versions() -> None:
    """0014's history: every version by (type, id), the current one with NULL content."""
    op.create_table(
        "resource_versions_old",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, primary_key=True),
        sa.Column("last_updated", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=True),
        sqlite_with_rowid=False,
    )
    columns = "resource_type, id, version_id, last_updated, deleted, content"
    op.execute(
        f"INSERT INTO resource_versions_old ({columns})"
        " SELECT r.resource_type, r.id, v.version_id, v.last_updated, v.deleted, v.content"
        f" FROM resource_versions v JOIN resources r ON r.{_KEY} = v.resource_key"
    )
    op.execute(
        f"INSERT INTO resource_versions_old ({columns})"
        " SELECT resource_type, id, version_id, last_updated, deleted, NULL FROM resources"
    )
    op.drop_table("resource_versions")
    _rename("resource_versions_old", "resource_versions")


def _plain_resources() -> None:
    op.create_table(
        "resources_old",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.execute(
        f"INSERT INTO resources_old ({_RESOURCE_COLUMNS}) SELECT {_RESOURCE_COLUMNS} FROM resources"
    )
    op.drop_table("resources")
    _rename("resources_old", "resources")


def downgrade() -> None:
    _plain_index()
    _plain_versions()
    _plain_resources()

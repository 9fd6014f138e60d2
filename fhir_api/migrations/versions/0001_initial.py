"""Initial schema: resources, versions, identifiers, search index, tokens, vital series.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "resource_versions",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, primary_key=True),
        sa.Column("last_updated", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "identifiers",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("system", sa.String(512), primary_key=True),
        sa.Column("value", sa.String(512), primary_key=True),
        sa.Column("resource_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_identifiers_resource", "identifiers", ["resource_type", "resource_id"])
    for table, kind in (
        ("search_tokens", "token"),
        ("search_references", "reference"),
        ("search_dates", "date"),
        ("search_strings", "string"),
    ):
        columns: list[sa.Column[Any]] = [
            sa.Column("resource_type", sa.String(64), nullable=False),
            sa.Column("resource_id", sa.String(64), nullable=False),
            sa.Column("param", sa.String(64), nullable=False),
        ]
        if kind == "token":
            columns += [
                sa.Column("system", sa.String(512), nullable=False),
                sa.Column("code", sa.String(512), nullable=False),
            ]
            lookup = ["resource_type", "param", "code"]
        elif kind == "reference":
            columns += [sa.Column("target", sa.String(256), nullable=False)]
            lookup = ["resource_type", "param", "target"]
        elif kind == "date":
            columns += [
                sa.Column("start_ms", sa.BigInteger, nullable=False),
                sa.Column("end_ms", sa.BigInteger, nullable=False),
            ]
            lookup = ["resource_type", "param", "start_ms"]
        else:
            columns += [sa.Column("value", sa.String(512), nullable=False)]
            lookup = ["resource_type", "param", "value"]
        op.create_table(table, *columns)
        op.create_index(f"ix_{table}_lookup", table, lookup)
        op.create_index(f"ix_{table}_resource", table, ["resource_type", "resource_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "vital_series",
        sa.Column("subject", sa.String(128), primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("ts_ms", sa.BigInteger, primary_key=True),
        sa.Column("observation_id", sa.String(64), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_vital_series_observation", "vital_series", ["observation_id"])
    op.create_table(
        "series_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("observation_id", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "series_outbox",
        "vital_series",
        "api_tokens",
        "search_strings",
        "search_dates",
        "search_references",
        "search_tokens",
        "identifiers",
        "resource_versions",
        "resources",
    ):
        op.drop_table(table)

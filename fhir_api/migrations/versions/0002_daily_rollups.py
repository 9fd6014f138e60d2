"""Daily rollups of the vital series, for chart requests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The tables start empty and unregistered; the server builds the rollups for its
time zone the first time it starts on this schema (fhir_api/storage/series/rollups.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vital_daily",
        sa.Column("subject", sa.String(128), primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("zone", sa.String(64), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("minimum", sa.Float, nullable=False),
        sa.Column("maximum", sa.Float, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "series_rollups",
        sa.Column("zone", sa.String(64), primary_key=True),
        sa.Column("built_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("series_rollups")
    op.drop_table("vital_daily")

"""Alert silences (issue 13): pause a patient's or a rule's notifications for a while.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

Self-contained: one table of its own, so it can be renumbered at merge without change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_silences",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("rule", sa.String(64), nullable=True),
        sa.Column("gateway", sa.String(128), nullable=True),
        sa.Column("starts_ms", sa.BigInteger(), nullable=False),
        sa.Column("ends_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_alert_silences_patient", "alert_silences", ["patient_id", "ends_ms"])
    op.create_index("ix_alert_silences_ends", "alert_silences", ["ends_ms"])


def downgrade() -> None:
    op.drop_table("alert_silences")

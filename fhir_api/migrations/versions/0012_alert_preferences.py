"""Alert preferences per recipient (issue 13): language, zone, quiet hours, digest.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

Self-contained: one table of its own, so it can be renumbered at merge without change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_preferences",
        sa.Column("recipient", sa.String(128), primary_key=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("zone", sa.String(64), nullable=True),
        sa.Column("quiet_start", sa.String(5), nullable=True),
        sa.Column("quiet_end", sa.String(5), nullable=True),
        sa.Column("non_urgent", sa.String(8), nullable=True),
        sa.Column("digest_at", sa.String(5), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_preferences")

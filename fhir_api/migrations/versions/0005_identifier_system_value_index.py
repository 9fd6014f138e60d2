"""An index on identifiers by value (then system), for look-ups that lead with the value.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

The primary key (resource_type, system, value) serves look-ups that name the
system. A conditional create `identifier=value`, and the transaction look-ups
that gather many values at once, lead with the value instead, and without this
index both SQLite and PostgreSQL read every identifier of the resource type: 67 ms
per look-up at 265,000 Observation identifiers (issue 10), growing with the store.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_identifiers_value", "identifiers", ["resource_type", "value", "system"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_identifiers_value", table_name="identifiers")

"""Alerts (issue 13): the work queue, per-patient state, alerts, leases and the outbox.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

Self-contained: it only creates tables of its own, so it can be renumbered behind
another 0010 at merge without change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_work",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("observation_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_alert_work_patient", "alert_work", ["patient_id", "seq"])
    op.create_table(
        "alert_state",
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("due_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_alert_state_due", "alert_state", ["due_ms"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
    )
    op.create_index("ix_alerts_patient", "alerts", ["patient_id", "status"])
    op.create_table(
        "alert_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "alert_recipients",
        sa.Column("recipient", sa.String(128), primary_key=True),
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(320), nullable=True),
    )
    op.create_table(
        "alert_notifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("address", sa.String(320), nullable=True),
        sa.Column("grouping_key", sa.String(256), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("due_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_ms", sa.BigInteger(), nullable=True),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claimed_until_ms", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_alert_notifications_due", "alert_notifications", ["sent_ms", "due_ms"])
    op.create_index(
        "ix_alert_notifications_group",
        "alert_notifications",
        ["recipient", "channel", "grouping_key"],
    )


def downgrade() -> None:
    for table in (
        "alert_notifications",
        "alert_recipients",
        "alert_leases",
        "alerts",
        "alert_state",
        "alert_work",
    ):
        op.drop_table(table)

"""The audit trail: hash-chained AuditEvents, append-only in the database itself.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Triggers refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on
`audit_events` and `audit_event_patients`: no API or command of the server
changes an audit row, and neither can a stray SQL statement. A database owner
can still drop the triggers; the hash chain (`homevitals admin audit verify`)
is what shows that a row was altered then.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
_TABLES = ("audit_events", "audit_event_patients")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
        sa.Column("agent", sa.String(256), nullable=False),
        sa.Column("action", sa.String(1), nullable=False),
        sa.Column("subtype", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(2), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_agent", "audit_events", ["agent", "seq"])
    op.create_index("ix_audit_events_recorded", "audit_events", ["recorded_ms", "seq"])
    op.create_index("ix_audit_events_action", "audit_events", ["action", "seq"])
    op.create_table(
        "audit_event_patients",
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
    )
    op.create_index("ix_audit_event_patients_seq", "audit_event_patients", ["seq"])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for table in _TABLES:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
            )


def _postgresql_triggers() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
        END
        $$
        """
    )
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )


def downgrade() -> None:
    # A downgrade would drop the trail with its tables: refuse unless it is empty.
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()
    if count:
        raise RuntimeError(
            f"the audit trail holds {count} events: a downgrade would drop them; "
            "back the store up and remove them by hand if you really must"
        )
    # Dropping a table drops its triggers; the function goes after them.
    op.drop_table("audit_chain_head")
    op.drop_table("audit_event_patients")
    op.drop_table("audit_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_append_only()")

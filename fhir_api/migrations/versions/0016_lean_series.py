"""Lean series rows (issue 15): a point names its subject, code and Observation by small ints.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30

A point was (subject "Patient/<uuid>", code, time, Observation id, value, unit) in
its key, with a second index repeating the Observation id and the key: about 250
bytes on SQLite. It becomes (subject id, code id, time, Observation key, value):
the names live once in `series_subjects`, `series_codes` (with the code's one
unit) and `series_zones`; the Observation by its resource key (`resources.key`,
migration 0015: its row holds the id), with `series_observations` keeping by that
key the subject and the span of its points, so its points are found through the
clustered key: no second index, no id stored again. `vital_daily` keys on ids the
same way.

Rows are copied inside the database (INSERT ... SELECT) into new tables and the
old ones dropped; every point and rollup keeps its values (tests/fhir_api/
test_series_layout.py compares them all, both ways). The unit of a code is the one
its points have (one per code since migration 0004). It reads `resources.key`, so it
comes after migration 0015.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _rename(old: str, new: str) -> None:
    """Give a table its final name (and its primary key's index on PostgreSQL)."""
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX {old}_pkey RENAME TO {new}_pkey")


def upgrade() -> None:
    op.create_table(
        "series_subjects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(128), nullable=False, unique=True),
    )
    op.create_table(
        "series_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("unit", sa.String(32), nullable=False),
    )
    op.create_table(
        "series_zones",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("zone", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "series_observations",
        sa.Column("key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("subject_id", sa.Integer, nullable=False),
        sa.Column("first_ms", sa.BigInteger, nullable=False),
        sa.Column("last_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "vital_series_new",
        sa.Column("subject_id", sa.Integer, primary_key=True),
        sa.Column("code_id", sa.Integer, primary_key=True),
        sa.Column("ts_ms", sa.BigInteger, primary_key=True),
        sa.Column("observation", sa.BigInteger, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "vital_daily_new",
        sa.Column("subject_id", sa.Integer, primary_key=True),
        sa.Column("code_id", sa.Integer, primary_key=True),
        sa.Column("zone_id", sa.Integer, primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("minimum", sa.Float, nullable=False),
        sa.Column("maximum", sa.Float, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    for statement in (
        "INSERT INTO series_subjects (subject) SELECT subject FROM vital_series"
        " UNION SELECT subject FROM vital_daily ORDER BY 1",
        "INSERT INTO series_codes (code, unit) SELECT code, MIN(unit) FROM vital_series"
        " GROUP BY code ORDER BY code",
        "INSERT INTO series_codes (code, unit) SELECT DISTINCT code, '' FROM vital_daily"
        " WHERE code NOT IN (SELECT code FROM series_codes) ORDER BY code",
        "INSERT INTO series_zones (zone) SELECT DISTINCT zone FROM vital_daily ORDER BY zone",
        # One subject per Observation (its `subject`): MIN only names it. The key is the
        # Observation's resources.key; a point of no stored Observation is not kept.
        "INSERT INTO series_observations (key, subject_id, first_ms, last_ms)"
        " SELECT r.key, MIN(s.id), MIN(v.ts_ms), MAX(v.ts_ms)"
        " FROM vital_series v JOIN series_subjects s ON s.subject = v.subject"
        " JOIN resources r ON r.resource_type = 'Observation' AND r.id = v.observation_id"
        " GROUP BY r.key ORDER BY r.key",
        "INSERT INTO vital_series_new (subject_id, code_id, ts_ms, observation, value)"
        " SELECT s.id, c.id, v.ts_ms, r.key, v.value FROM vital_series v"
        " JOIN series_subjects s ON s.subject = v.subject"
        " JOIN series_codes c ON c.code = v.code"
        " JOIN resources r ON r.resource_type = 'Observation' AND r.id = v.observation_id"
        " ORDER BY s.id, c.id, v.ts_ms, r.key",
        "INSERT INTO vital_daily_new (subject_id, code_id, zone_id, day, minimum, maximum,"
        " total, readings)"
        " SELECT s.id, c.id, z.id, d.day, d.minimum, d.maximum, d.total, d.readings"
        " FROM vital_daily d JOIN series_subjects s ON s.subject = d.subject"
        " JOIN series_codes c ON c.code = d.code JOIN series_zones z ON z.zone = d.zone"
        " ORDER BY s.id, c.id, z.id, d.day",
    ):
        op.execute(statement)
    op.drop_index("ix_vital_series_observation", table_name="vital_series")
    op.drop_table("vital_series")
    op.drop_table("vital_daily")
    _rename("vital_series_new", "vital_series")
    _rename("vital_daily_new", "vital_daily")


def downgrade() -> None:
    op.create_table(
        "vital_series_old",
        sa.Column("subject", sa.String(128), primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("ts_ms", sa.BigInteger, primary_key=True),
        sa.Column("observation_id", sa.String(64), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "vital_daily_old",
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
    op.execute(
        "INSERT INTO vital_series_old (subject, code, ts_ms, observation_id, value, unit)"
        " SELECT s.subject, c.code, v.ts_ms, r.id, v.value, c.unit"
        " FROM vital_series v JOIN series_subjects s ON s.id = v.subject_id"
        " JOIN series_codes c ON c.id = v.code_id"
        " JOIN resources r ON r.key = v.observation"
    )
    op.execute(
        "INSERT INTO vital_daily_old (subject, code, zone, day, minimum, maximum, total,"
        " readings)"
        " SELECT s.subject, c.code, z.zone, d.day, d.minimum, d.maximum, d.total, d.readings"
        " FROM vital_daily d JOIN series_subjects s ON s.id = d.subject_id"
        " JOIN series_codes c ON c.id = d.code_id JOIN series_zones z ON z.id = d.zone_id"
    )
    for table in (
        "vital_series",
        "vital_daily",
        "series_observations",
        "series_zones",
        "series_codes",
        "series_subjects",
    ):
        op.drop_table(table)
    _rename("vital_series_old", "vital_series")
    _rename("vital_daily_old", "vital_daily")
    op.create_index("ix_vital_series_observation", "vital_series", ["observation_id"])

"""Series points in one unit per code, one point per charted coding: derive them again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Before this revision a point kept the unit its Observation arrived in, was made
for one coding only, and could hold any value or date (issue 10). The points
are a cache of the Observations, so this revision does not convert them in SQL:
it drops the SQL series and its rollups and queues every live Observation in
`series_outbox`. The server derives the points again from there with the
current rules: the SQL backend at its next start, before it builds the rollups
(`SqlSeriesStore.ensure_rollups`), InfluxDB through the outbox flush, which
overwrites each point in place (same measurement, tags and time). Nothing is
lost if the server stops meanwhile: the queue is in the database.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM vital_daily"))
    op.execute(sa.text("DELETE FROM series_rollups"))
    op.execute(sa.text("DELETE FROM vital_series"))
    op.execute(
        sa.text(
            "INSERT INTO series_outbox (observation_id, created_ms, attempts) "
            "SELECT id, :now, 0 FROM resources "
            "WHERE resource_type = 'Observation' AND deleted = :deleted ORDER BY id"
        ).bindparams(now=int(time.time() * 1000), deleted=False)
    )


def downgrade() -> None:
    # The derived points stay valid for the older code: one unit per code is a unit.
    pass

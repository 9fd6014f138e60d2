"""Heart and breathing rates measured in bed move to a series of their own.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

The bed sensor's epoch heart rates (LOINC 8867-4) and breathing rates (9279-1)
were filed in the same series as spot pulses and respirations, so `$stats` and
the patient list mixed a night's epochs into the day's pulse. The server now
keeps them under `code@in-bed` (`fhir_api/storage/series/in_bed.py`). The points
are a cache of the Observations, so, as 0004 did, this revision queues every
Observation with a point of those two codes in `series_outbox`, and the server
derives their points again with the current rule: the SQL backend at its next
start, before it rebuilds the rollups (`SqlSeriesStore.ensure_rollups`). With
InfluxDB an Observation's old point under the plain code is not overwritten by
the flush (another series key): run `homevitals server reindex` after upgrading.
Nothing is lost if the server stops meanwhile: the queue is in the database.

Self-contained (series tables only), so it can be renumbered at merge.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "INSERT INTO series_outbox (observation_id, created_ms, attempts) "
            "SELECT DISTINCT observation_id, :now, 0 FROM vital_series "
            "WHERE code IN ('8867-4', '9279-1') ORDER BY observation_id"
        ).bindparams(now=int(time.time() * 1000))
    )


def downgrade() -> None:
    # Older code reads the plain codes only: put the in-bed points back under them.
    op.execute(sa.text("DELETE FROM vital_daily WHERE code LIKE '%@in-bed'"))
    op.execute(
        sa.text(
            "UPDATE vital_series SET code = substr(code, 1, length(code) - length('@in-bed')) "
            "WHERE code LIKE '%@in-bed'"
        )
    )
    op.execute(sa.text("DELETE FROM series_rollups"))  # the next start rebuilds them

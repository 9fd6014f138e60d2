"""Zone-free date index, exact strings and Patient zones for search (issue 10).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

Date search applies the patient's time zone when it runs (fhir_api/storage/indexing.py):
dates without an offset become floating wall-clock ranges, each Patient's tz-code
becomes the hidden `_tz` token, and `:exact` needs each string as written. Only
Patients and date-only Observation dates are re-indexed: rows of dates with an offset
are instants already and stay as they are.
"""

from __future__ import annotations

import json
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_DAY_MS = 86_400_000


def upgrade() -> None:
    from fhir_api.storage.indexing import index_resource

    op.add_column(
        "search_dates",
        sa.Column("floating", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "search_strings",
        sa.Column("value_exact", sa.String(512), nullable=False, server_default=""),
    )
    connection = op.get_bind()
    meta = sa.MetaData()
    resources = sa.Table("resources", meta, autoload_with=connection)
    dates = sa.Table("search_dates", meta, autoload_with=connection)
    strings = sa.Table("search_strings", meta, autoload_with=connection)
    tokens = sa.Table("search_tokens", meta, autoload_with=connection)

    patients = connection.execute(
        sa.select(resources.c.id, resources.c.content).where(
            resources.c.resource_type == "Patient", resources.c.deleted.is_(False)
        )
    ).all()
    for patient_id, content in patients:
        entries = index_resource(json.loads(content), UTC)
        key = {"resource_type": "Patient", "resource_id": patient_id}
        for table in (dates, strings):
            connection.execute(
                sa.delete(table).where(
                    table.c.resource_type == "Patient", table.c.resource_id == patient_id
                )
            )
        if entries.dates:
            connection.execute(
                sa.insert(dates),
                [
                    {**key, "param": p, "start_ms": a, "end_ms": b, "floating": f}
                    for p, a, b, f in entries.dates
                ],
            )
        if entries.strings:
            connection.execute(
                sa.insert(strings),
                [{**key, "param": p, "value": v, "value_exact": x} for p, v, x in entries.strings],
            )
        zones = [t for t in entries.tokens if t[0] == "_tz"]
        if zones:
            connection.execute(
                sa.insert(tokens),
                [{**key, "param": p, "system": s, "code": c} for p, s, c in zones],
            )

    # A date without a time covers a day or more; those are the only candidates to float.
    candidates = connection.execute(
        sa.select(resources.c.id, resources.c.content)
        .join(
            dates,
            sa.and_(
                dates.c.resource_type == resources.c.resource_type,
                dates.c.resource_id == resources.c.id,
            ),
        )
        .where(
            resources.c.resource_type == "Observation",
            dates.c.param == "date",
            dates.c.end_ms - dates.c.start_ms >= _DAY_MS,
        )
    ).all()
    for observation_id, content in candidates:
        for param, start, end, floating in index_resource(json.loads(content), UTC).dates:
            if floating:
                connection.execute(
                    sa.update(dates)
                    .where(
                        dates.c.resource_type == "Observation",
                        dates.c.resource_id == observation_id,
                        dates.c.param == param,
                    )
                    .values(start_ms=start, end_ms=end, floating=True)
                )


def downgrade() -> None:
    op.execute("DELETE FROM search_tokens WHERE resource_type = 'Patient' AND param = '_tz'")
    op.drop_column("search_strings", "value_exact")
    op.drop_column("search_dates", "floating")

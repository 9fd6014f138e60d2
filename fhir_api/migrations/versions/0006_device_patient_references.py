"""Index each Device's patient reference, so a Patient is not deleted under its Device.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

A Device's `patient` now has to resolve, and deleting that Patient is a 409 (or
deletes the Device with it, `_cascade=delete`). The check reads the reference
index, which held no Device rows before this revision: each live Device with a
patient reference gets its row.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    meta = sa.MetaData()
    resources = sa.Table("resources", meta, autoload_with=connection)
    references = sa.Table("search_references", meta, autoload_with=connection)
    devices = connection.execute(
        sa.select(resources.c.id, resources.c.content).where(
            resources.c.resource_type == "Device", resources.c.deleted.is_(False)
        )
    ).all()
    rows = []
    for device_id, content in devices:
        patient = json.loads(content).get("patient")
        if isinstance(patient, dict) and isinstance(patient.get("reference"), str):
            rows.append(
                {
                    "resource_type": "Device",
                    "resource_id": device_id,
                    "param": "patient",
                    "target": patient["reference"][:256],
                }
            )
    connection.execute(
        sa.delete(references).where(
            references.c.resource_type == "Device", references.c.param == "patient"
        )
    )
    if rows:
        connection.execute(sa.insert(references), rows)


def downgrade() -> None:
    connection = op.get_bind()
    references = sa.Table("search_references", sa.MetaData(), autoload_with=connection)
    connection.execute(
        sa.delete(references).where(
            references.c.resource_type == "Device", references.c.param == "patient"
        )
    )

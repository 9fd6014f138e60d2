"""Stored Observations for tests that write series points straight to the SQL series store.

A point names its Observation by the resource key (`resources.key`, issue 15), so the
Observation must be stored: these rows stand for them (deleted, no content needed).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Engine, insert, select

from fhir_api.storage.schema import resources


def stub_observations(where: Engine | Connection, ids: Iterable[str]) -> None:
    """Store a (deleted) Observation row for each of `ids` that is not stored yet."""
    wanted = set(ids)
    if isinstance(where, Engine):
        with where.begin() as connection:
            stub_observations(connection, wanted)
        return
    stored = set(
        where.execute(
            select(resources.c.id).where(
                resources.c.resource_type == "Observation", resources.c.id.in_(wanted)
            )
        ).scalars()
    )
    rows = [
        {
            "resource_type": "Observation",
            "id": name,
            "version_id": 1,
            "last_updated": 0,
            "deleted": True,
            "content": "",
        }
        for name in sorted(wanted - stored)
    ]
    if rows:
        where.execute(insert(resources), rows)

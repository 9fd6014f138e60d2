"""Flushing queued Observations to a series store outside the database (InfluxDB).

Rows in `series_outbox` are written in the resource's own transaction, so a
stored Observation always either has its points or a pending row. `flush`
retries them; failures stay queued with their error and are logged, and
`homevitals server reindex` rebuilds everything from the resource store.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import delete, func, select, update

from ..resources import ResourceStore
from ..schema import resources, series_outbox
from .base import series_points

__all__ = ["flush_series_outbox", "pending_series"]

_LOGGER = logging.getLogger(__name__)


def pending_series(store: ResourceStore) -> int:
    """How many Observations still wait for the series store."""
    with store.reading() as tx:
        return int(
            tx.connection.execute(select(func.count()).select_from(series_outbox)).scalar_one()
        )


def flush_series_outbox(store: ResourceStore, limit: int = 1000) -> int:
    """Write queued Observations' points; returns how many were flushed."""
    with store.reading() as tx:
        queued = tx.connection.execute(
            select(series_outbox.c.seq, series_outbox.c.observation_id)
            .order_by(series_outbox.c.seq)
            .limit(limit)
        ).all()
    flushed = 0
    for seq, observation_id in queued:
        try:
            with store.reading() as tx:
                row = tx.connection.execute(
                    select(resources.c.version_id, resources.c.deleted, resources.c.content).where(
                        resources.c.resource_type == "Observation", resources.c.id == observation_id
                    )
                ).first()
            if row is None or row.deleted or row.version_id > 1:
                store.series.delete_observation(None, observation_id)
            if row is not None and not row.deleted:
                points = series_points(json.loads(row.content), observation_id, store.zone)
                store.series.write(None, points)
        except Exception as exc:  # any failure keeps the row queued
            _LOGGER.warning("series store write for Observation/%s failed: %s", observation_id, exc)
            with store.transaction() as tx:
                tx.connection.execute(
                    update(series_outbox)
                    .where(series_outbox.c.seq == seq)
                    .values(attempts=series_outbox.c.attempts + 1, last_error=str(exc)[:1000])
                )
            break  # the store is likely down: keep order, retry later
        with store.transaction() as tx:
            tx.connection.execute(delete(series_outbox).where(series_outbox.c.seq == seq))
        flushed += 1
    return flushed

"""Series in the SQL database itself (SQLite by default, PostgreSQL in production).

Points are written on the resource store's connection, in its transaction: a
stored Observation and its points commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, delete, func, insert, select

from ..schema import vital_series
from .base import DAY_MS, DailyRow, SeriesPoint

__all__ = ["SqlSeriesStore"]


class SqlSeriesStore:
    """`SeriesStore` on the `vital_series` table."""

    in_resource_transaction = True

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def write(self, connection: Connection | None, points: Sequence[SeriesPoint]) -> None:
        """Insert points; the caller removed the observation's old points first."""
        if not points:
            return
        if connection is None:
            raise ValueError("SQL series writes need the resource transaction's connection")
        connection.execute(
            insert(vital_series),
            [
                {
                    "subject": p.subject,
                    "code": p.code,
                    "ts_ms": p.ts_ms,
                    "observation_id": p.observation_id,
                    "value": p.value,
                    "unit": p.unit,
                }
                for p in points
            ],
        )

    def delete_observation(self, connection: Connection | None, observation_id: str) -> None:
        """Remove an Observation's points."""
        if connection is None:
            raise ValueError("SQL series writes need the resource transaction's connection")
        connection.execute(
            delete(vital_series).where(vital_series.c.observation_id == observation_id)
        )

    def daily(
        self, subject: str, codes: Sequence[str], start_ms: int, end_ms: int, offset_ms: int
    ) -> list[DailyRow]:
        """One GROUP BY over the clustered (subject, code, ts) key."""
        day = ((vital_series.c.ts_ms + offset_ms) // DAY_MS).label("day")
        query = (
            select(
                vital_series.c.code,
                day,
                func.min(vital_series.c.value),
                func.max(vital_series.c.value),
                func.sum(vital_series.c.value),
                func.count(),
                func.max(vital_series.c.unit),
            )
            .where(
                vital_series.c.subject == subject,
                vital_series.c.code.in_(list(codes)),
                vital_series.c.ts_ms >= start_ms,
                vital_series.c.ts_ms < end_ms,
            )
            .group_by(vital_series.c.code, day)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            DailyRow(r[0], int(r[1]), float(r[2]), float(r[3]), float(r[4]), int(r[5]), r[6])
            for r in rows
        ]

    def close(self) -> None:
        """Nothing to release: the engine belongs to the resource store."""

    def clear(self) -> None:
        """Remove every point."""
        with self._engine.begin() as connection:
            connection.execute(delete(vital_series))

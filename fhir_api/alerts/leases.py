"""Named leases in the database: one holder at a time, handed over when it lapses.

The scheduled scans (no reading, escalation, digests) must run on one worker at a
time across every process and server, and must not stop when that worker dies. A
lease row says who holds it until when; `take` is one conditional UPDATE (or the
INSERT of a missing row), which exactly one contender wins on SQLite and
PostgreSQL alike (compare healthchecks' compare-and-set flips, STYLE.md anchor 6).
The holder renews by taking again before it lapses; a dead holder's lease lapses
and the next contender takes it.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, or_, update

from ..storage.schema import alert_leases
from ._sql import insert_missing

__all__ = ["release", "take"]


def take(connection: Connection, name: str, holder: str, now_ms: int, hold_ms: int) -> bool:
    """Take or renew lease `name` for `holder` until `now_ms + hold_ms`; whether it is held.

    Commit right after: the lease is the row, and the row counts once committed.
    """
    insert_missing(connection, alert_leases, [{"name": name, "holder": holder, "expires_ms": -1}])
    result = connection.execute(
        update(alert_leases)
        .where(
            alert_leases.c.name == name,
            or_(alert_leases.c.holder == holder, alert_leases.c.expires_ms < now_ms),
        )
        .values(holder=holder, expires_ms=now_ms + hold_ms)
    )
    return result.rowcount == 1


def release(connection: Connection, name: str, holder: str) -> None:
    """Give lease `name` up, if `holder` has it (a clean stop hands over at once)."""
    connection.execute(
        delete(alert_leases).where(alert_leases.c.name == name, alert_leases.c.holder == holder)
    )

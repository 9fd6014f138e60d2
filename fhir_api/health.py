"""Liveness and readiness, for systemd, load balancers and orchestrators.

`/healthz` answers 200 while the process can answer at all: it touches nothing,
so a slow database never gets a live server restarted. `/readyz` answers 200 only
when the resource database and the series backend both answer a trivial query
within a few seconds, else 503 naming which one failed. Neither needs a token
nor any stored data, and neither says more than "ok" or the failing part's name
(never a URL, user or error text, which could carry credentials).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
from sqlalchemy import text

from .settings import SeriesBackend, Settings
from .storage.database import READ_ONLY
from .storage.resources import ResourceStore

__all__ = ["Readiness", "check_readiness"]

_LOGGER = logging.getLogger(__name__)
_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Readiness:
    """Each dependency's state: "ok" or "unavailable"."""

    database: str
    series: str

    @property
    def ready(self) -> bool:
        """Whether every dependency answered."""
        return self.database == "ok" and self.series == "ok"

    def as_json(self) -> dict[str, str]:
        """The `/readyz` body."""
        return {
            "status": "ready" if self.ready else "unavailable",
            "database": self.database,
            "series": self.series,
        }


def _database(store: ResourceStore) -> str:
    try:
        with store.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            connection.execute(text("SELECT 1")).scalar_one()
    except Exception as exc:  # any failure means "not ready"; the log says why
        _LOGGER.warning("readiness: the database does not answer (%s)", type(exc).__name__)
        return "unavailable"
    return "ok"


def _influx(settings: Settings) -> str:
    # /ping answers 204 without credentials on InfluxDB 1.x, 2.x and 3.x.
    try:
        answer = httpx.get(settings.influx_url.rstrip("/") + "/ping", timeout=_TIMEOUT)
    except httpx.HTTPError as exc:
        _LOGGER.warning("readiness: InfluxDB does not answer (%s)", type(exc).__name__)
        return "unavailable"
    if answer.status_code >= 400:
        _LOGGER.warning("readiness: InfluxDB /ping answered %s", answer.status_code)
        return "unavailable"
    return "ok"


def check_readiness(settings: Settings, store: ResourceStore) -> Readiness:
    """Ask the database and the series backend (blocking: run it off the event loop)."""
    database = _database(store)
    if settings.series_backend is SeriesBackend.INFLUXDB:
        series = _influx(settings)
    else:
        series = database  # the series tables live in the same database
    return Readiness(database, series)

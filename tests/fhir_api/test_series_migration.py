"""Migration 0004: a store written before issue 10 gets its points derived again."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from fhir_api.app import build_store
from fhir_api.service import FhirService
from fhir_api.storage.schema import series_codes, series_outbox, vital_series
from fhir_api.storage.series.base import SeriesPoint, daily_statistics
from fhir_api.storage.series.influx import InfluxSeriesStore
from fhir_api.storage.series.sync import flush_series_outbox, pending_series

from ..services import influxdb_server
from .conftest import settings_for
from .helpers import downgrade, spo2
from .test_stats_correctness import vital

START = int(datetime(2024, 11, 1, tzinfo=UTC).timestamp() * 1000)
END = int(datetime(2024, 12, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "influxdb"])
def test_migration_0004_derives_old_points_again_issue_10(tmp_path: Path, backend: str) -> None:
    with ExitStack() as stack:
        settings = settings_for(backend, stack, tmp_path)
        store = build_store(settings)
        service = FhirService(store, after_write=lambda: flush_series_outbox(store))
        service.update("Patient", "m", {"resourceType": "Patient", "id": "m"})
        fahrenheit = service.create(
            "Observation", vital("Patient/m", "8310-5", "2024-11-27T19:00:00+09:00", 98.6, "[degF]")
        ).stored.id
        service.create(
            "Observation", vital("Patient/m", "8310-5", "2024-11-27T07:00:00+09:00", 37.0, "Cel")
        )
        oximeter = service.create("Observation", spo2("Patient/m", "2024-11-27T07:00:00+09:00", 96))
        assert oximeter.created

        # Put the store back as the code before issue 10 left it: the Fahrenheit value
        # as it arrived, no point for the second coding (59408-5), schema at 0003.
        downgrade(store.engine, "0005")  # what later revisions added goes first
        ts = int(datetime(2024, 11, 27, 10, tzinfo=UTC).timestamp() * 1000)
        legacy = SeriesPoint("Patient/m", "8310-5", ts, 98.6, "[degF]", fahrenheit)
        with store.transaction() as tx:
            if store.series.in_resource_transaction:
                # The layout before 0016: codes, units and Observation ids as text.
                tx.connection.execute(
                    text(
                        "UPDATE vital_series SET value = 98.6, unit = '[degF]'"
                        " WHERE observation_id = :id"
                    ).bindparams(id=fahrenheit)
                )
                tx.connection.execute(text("DELETE FROM vital_series WHERE code = '59408-5'"))
            # Later revisions run again on the way back to head: undo 0005's index too.
            tx.connection.execute(text("DROP INDEX ix_identifiers_value"))
            tx.connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
        if not store.series.in_resource_transaction:
            store.series.write(None, [legacy])
            store.series.delete_observation(None, oximeter.stored.id)
            store.series.write(
                None,
                [
                    SeriesPoint(
                        "Patient/m", "2708-6", ts - 43_200_000, 96.0, "%", oximeter.stored.id
                    )
                ],
            )

        def means(code: str) -> list[tuple[str, float, int]]:
            days = daily_statistics(store.series, "Patient/m", [code], START, END, settings.zone)
            return [(d.day.isoformat(), round(d.mean, 3), d.readings) for d in days]

        if store.series.in_resource_transaction:  # the layout before 0016: read as text
            with store.reading() as tx:
                old = tx.connection.execute(
                    text(
                        "SELECT code, AVG(value), COUNT(*) FROM vital_series"
                        " WHERE code IN ('8310-5', '59408-5') GROUP BY code"
                    )
                ).all()
            assert [(c, round(m, 3), n) for c, m, n in old] == [("8310-5", 67.8, 2)]  # the defect
        else:
            assert means("8310-5") == [("2024-11-27", 67.8, 2)]  # the defect
            assert means("59408-5") == []
        store.series.close()
        store.engine.dispose()

        store = build_store(settings)  # migrates to head and derives the points again
        if not store.series.in_resource_transaction:
            assert pending_series(store) == 3
            assert flush_series_outbox(store) == 3
        assert pending_series(store) == 0
        assert means("8310-5") == [("2024-11-27", 37.0, 2)]
        assert means("59408-5") == [("2024-11-27", 96.0, 1)]
        if store.series.in_resource_transaction:
            with store.reading() as tx:
                units = tx.connection.execute(
                    select(series_codes.c.code, series_codes.c.unit)
                    .join(vital_series, vital_series.c.code_id == series_codes.c.id)
                    .distinct()
                ).all()
                assert not tx.connection.execute(select(series_outbox)).all()
            assert sorted(units) == [("2708-6", "%"), ("59408-5", "%"), ("8310-5", "Cel")]
        store.series.close()
        store.engine.dispose()


def test_influxdb_points_from_before_issue_10_cannot_break_a_chart() -> None:
    """Two old points of 1e308 summed to +Inf, which InfluxDB sends as invalid JSON (a 500)."""
    with influxdb_server() as url:
        store = InfluxSeriesStore(url, f"hv_{uuid.uuid4().hex[:8]}")
        store.create_database()
        day = int(datetime(2024, 11, 27, tzinfo=UTC).timestamp() * 1000)
        store.write(
            None,
            [
                SeriesPoint("Patient/old", "29463-7", day + 1000, 1e308, "kg", "a"),
                SeriesPoint("Patient/old", "29463-7", day + 2000, 1e308, "kg", "b"),
                SeriesPoint("Patient/old", "29463-7", day + 3000, 61.0, "kg", "c"),
            ],
        )
        days = daily_statistics(store, "Patient/old", ["29463-7"], START, END, UTC)
        store.close()
    assert [(d.day.isoformat(), d.mean, d.readings) for d in days] == [("2024-11-27", 61.0, 1)]

"""The resource store is the source of truth: series failures are retried, and reindex rebuilds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, func, select

import homevitals_cli
from fhir_api.app import build_store
from fhir_api.service import FhirService
from fhir_api.settings import Settings
from fhir_api.storage.schema import series_outbox, vital_series
from fhir_api.storage.series.base import daily_statistics
from fhir_api.storage.series.influx import InfluxSeriesStore
from fhir_api.storage.series.sync import flush_series_outbox, pending_series

from ..services import free_port, influxdb_server
from .helpers import spo2

START = int(datetime(2024, 11, 1, tzinfo=UTC).timestamp() * 1000)
END = int(datetime(2024, 12, 1, tzinfo=UTC).timestamp() * 1000)


def test_influxdb_outage_keeps_points_queued_until_it_is_back(tmp_path):
    with influxdb_server() as url:
        database = f"hv_{uuid.uuid4().hex[:8]}"
        up = InfluxSeriesStore(url, database)
        up.create_database()
        dead = f"http://127.0.0.1:{free_port()}"
        settings = Settings(
            data_dir=tmp_path, series_backend="influxdb", influx_url=dead, influx_database=database
        )
        store = build_store(settings)
        service = FhirService(store, after_write=lambda: flush_series_outbox(store))
        service.update("Patient", "p1", {"resourceType": "Patient", "id": "p1"})
        created = service.create("Observation", spo2("Patient/p1", "2024-11-27T07:00:00+09:00", 93))
        assert created.created  # the reading is stored even though InfluxDB is down
        assert pending_series(store) == 1
        with store.reading() as tx:
            attempts, error = tx.connection.execute(
                select(series_outbox.c.attempts, series_outbox.c.last_error)
            ).one()
        assert attempts == 1 and "InfluxDB" in error
        store.series.close()
        store.series = up  # InfluxDB is back
        assert flush_series_outbox(store) == 1
        assert pending_series(store) == 0
        days = daily_statistics(up, "Patient/p1", ["2708-6"], START, END, settings.zone)
        assert [(d.day.isoformat(), d.mean) for d in days] == [("2024-11-27", 93.0)]
        up.close()
        store.engine.dispose()


def test_reindex_rebuilds_the_series_from_the_resources(tmp_path, monkeypatch, capsys):
    settings = Settings(data_dir=tmp_path)
    store = build_store(settings)
    service = FhirService(store)
    service.update("Patient", "p2", {"resourceType": "Patient", "id": "p2"})
    for day, value in ((26, 95), (27, 97), (27, 99)):
        service.create("Observation", spo2("Patient/p2", f"2024-11-{day}T07:00:00+09:00", value))
    with store.transaction() as tx:
        tx.connection.execute(delete(vital_series))  # the series store is lost
    assert daily_statistics(store.series, "Patient/p2", ["2708-6"], START, END, settings.zone) == []
    monkeypatch.setenv("HOMEVITALS_DATA_DIR", str(tmp_path))
    assert homevitals_cli.main(["server", "reindex"]) == 0
    # Two points each: the SpO2 Observations carry LOINC 2708-6 and 59408-5.
    assert "rebuilt 6 series points from 3 Observations" in capsys.readouterr().out
    days = daily_statistics(store.series, "Patient/p2", ["2708-6"], START, END, settings.zone)
    assert [(d.day.isoformat(), d.mean, d.readings) for d in days] == [
        ("2024-11-26", 95.0, 1),
        ("2024-11-27", 98.0, 2),
    ]
    with store.reading() as tx:
        assert (
            tx.connection.execute(select(func.count()).select_from(vital_series)).scalar_one() == 6
        )
    store.engine.dispose()

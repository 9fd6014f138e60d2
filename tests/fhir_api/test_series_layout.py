"""Lean series rows (issue 15): points by small ids, the Observation link, migration 0016."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, delete, func, select, text

from fhir_api import migrations
from fhir_api.service import FhirService
from fhir_api.storage.database import make_engine, migrate
from fhir_api.storage.schema import resources, series_observations, series_subjects, vital_series
from fhir_api.storage.series.base import DAY_MS, SeriesPoint, daily_statistics
from fhir_api.storage.series.lookups import subject_ids

from ..services import postgres_database
from .conftest import settings_for
from .helpers import blood_pressure, downgrade, spo2
from .series_stubs import stub_observations
from .test_sampled_data import night
from .test_sleep_series import figures, open_store
from .test_stats_correctness import vital

BEFORE_0016 = ScriptDirectory(str(Path(migrations.__file__).parent)).get_revision("0016")
POINTS = (  # every point and rollup with its names, in the new layout
    "SELECT s.subject, c.code, v.ts_ms, r.id, v.value, c.unit FROM vital_series v"
    " JOIN series_subjects s ON s.id = v.subject_id JOIN series_codes c ON c.id = v.code_id"
    " JOIN series_observations o ON o.key = v.observation JOIN resources r ON r.key = o.key"
)
DAYS = (
    "SELECT s.subject, c.code, z.zone, d.day, d.minimum, d.maximum, d.total, d.readings"
    " FROM vital_daily d JOIN series_subjects s ON s.id = d.subject_id"
    " JOIN series_codes c ON c.id = d.code_id JOIN series_zones z ON z.id = d.zone_id"
)
OLD_POINTS = "SELECT subject, code, ts_ms, observation_id, value, unit FROM vital_series"
OLD_DAYS = "SELECT subject, code, zone, day, minimum, maximum, total, readings FROM vital_daily"


def rows(connection: Connection, query: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in connection.execute(text(query)))


def populate(service: FhirService) -> dict[str, str]:
    """Two patients' spot readings, a night as SampledData, an update and a delete."""
    ids = {}
    for patient in ("s", "t"):
        service.update("Patient", patient, {"resourceType": "Patient", "id": patient})
    for day in range(20, 28):
        when = f"2024-11-{day}T07:{day:02d}:00+09:00"
        service.create("Observation", blood_pressure("Patient/s", when, 120 + day, 80.5))
        service.create("Observation", spo2("Patient/t", when, 90 + day % 10))
    ids["pulse"] = service.create(
        "Observation", vital("Patient/s", "8867-4", "2024-11-27T00:30:00Z", 72, "/min")
    ).stored.id
    ids["night"] = service.create("Observation", night("8867-4", "52 54 60 56")).stored.id
    ids["breaths"] = service.create("Observation", night("9279-1", "14 15 E 17")).stored.id
    changed = service.create("Observation", spo2("Patient/t", "2024-11-27T08:00:00Z", 91))
    service.update(
        "Observation",
        changed.stored.id,
        {**spo2("Patient/t", "2024-11-27T09:00:00Z", 99), "id": changed.stored.id},
    )
    gone = service.create("Observation", spo2("Patient/t", "2024-11-27T10:00:00Z", 80))
    service.delete("Observation", gone.stored.id)
    return ids


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0016_keeps_every_point_and_rollup_both_ways(
    tmp_path: Path, backend: str
) -> None:
    with ExitStack() as stack:
        settings = settings_for(backend, stack, tmp_path)
        with ExitStack() as first:
            store = open_store(first, settings)
            ids = populate(FhirService(store))
            with store.reading() as tx:
                points, days = rows(tx.connection, POINTS), rows(tx.connection, DAYS)
            assert len(points) == 8 * 2 + 8 * 2 + 1 + 4 + 3 + 2  # panel, SpO2 x2 codes, ...
            assert len(days) > 10
            downgrade(store.engine, BEFORE_0016.down_revision)
            with store.reading() as tx:
                assert rows(tx.connection, OLD_POINTS) == points
                assert rows(tx.connection, OLD_DAYS) == days
            migrate(store.engine)
            with store.reading() as tx:
                assert rows(tx.connection, POINTS) == points
                assert rows(tx.connection, DAYS) == days

        # The migrated store serves charts, and its Observations' points go with them.
        service = FhirService(open_store(stack, settings))
        assert figures(service, "8867-4") == [("8867-4", 72.0, 72.0, 1)]
        in_bed = ("setting", "in-bed")
        assert figures(service, "8867-4,9279-1", in_bed) == [
            ("8867-4", 52.0, 60.0, 4),
            ("9279-1", 14.0, 17.0, 3),
        ]
        service.delete("Observation", ids["night"])
        assert figures(service, "8867-4,9279-1", in_bed) == [("9279-1", 14.0, 17.0, 3)]
        assert [o.id for o in service.newest_readings(["s"], ["8867-4"])] == [ids["pulse"]]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_points_at_the_same_instant_stay_apart_by_observation(tmp_path: Path, backend: str) -> None:
    """Two readings of one patient, code and instant are two points; removing one Observation
    (its points found by subject, span and key, not by an index on the id) leaves the other."""
    with ExitStack() as stack:
        service = FhirService(open_store(stack, settings_for(backend, stack, tmp_path)))
        service.update("Patient", "s", {"resourceType": "Patient", "id": "s"})
        when = "2024-11-27T00:30:00Z"
        first = service.create("Observation", vital("Patient/s", "8867-4", when, 60, "/min"))
        second = service.create("Observation", vital("Patient/s", "8867-4", when, 80, "/min"))
        night_id = service.create("Observation", night("8867-4", "52 54 60 56")).stored.id
        assert figures(service, "8867-4") == [("8867-4", 60.0, 80.0, 2)]
        service.delete("Observation", first.stored.id)
        assert figures(service, "8867-4") == [("8867-4", 80.0, 80.0, 1)]
        changed = vital("Patient/s", "8867-4", "2024-11-27T03:00:00Z", 70, "/min")
        service.update("Observation", second.stored.id, {**changed, "id": second.stored.id})
        assert figures(service, "8867-4") == [("8867-4", 70.0, 70.0, 1)]
        assert figures(service, "8867-4", ("setting", "in-bed")) == [("8867-4", 52.0, 60.0, 4)]
        store = service.store
        with store.reading() as tx:
            linked = tx.connection.execute(
                select(resources.c.id).join(
                    series_observations, series_observations.c.key == resources.c.key
                )
            ).scalars()
            assert sorted(linked) == sorted([second.stored.id, night_id])
            count = select(func.count()).select_from(vital_series)
            assert tx.connection.execute(count).scalar_one() == 1 + 4


def test_a_point_costs_a_few_tens_of_bytes_on_sqlite(tmp_path: Path) -> None:
    """Issue 15: a point was about 250 bytes (names and a 36-character id in its key, and
    an index repeating them); a year of spot readings and nights is measured here."""
    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path)
        store = open_store(stack, settings)
        service = FhirService(store)
        service.update("Patient", "s", {"resourceType": "Patient", "id": "s"})
        entries = []
        for day in range(1, 29):
            when = f"2024-11-{day:02d}T07:00:00+09:00"
            entries.append(blood_pressure("Patient/s", when, 120 + day, 80))
            entries.append(spo2("Patient/s", when, 90 + day % 10))
        for entry in entries:
            service.create("Observation", entry)
        for day in range(1, 29):  # a night of 96 epochs per signal
            one = night("8867-4", " ".join(str(50 + i % 20) for i in range(96)), minutes=0)
            one["effectivePeriod"] = {
                "start": f"2024-11-{day:02d}T01:00:00Z",
                "end": f"2024-11-{day:02d}T09:00:00Z",
            }
            service.create("Observation", one)
        with store.reading() as tx:
            points = tx.connection.execute(
                select(func.count()).select_from(vital_series)
            ).scalar_one()
        store.engine.dispose()
        connection = sqlite3.connect(tmp_path / "homevitals.db")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        owner = dict(connection.execute("SELECT name, tbl_name FROM sqlite_master"))
        size = dict.fromkeys(("vital_series", "series_observations"), 0)
        for name, used in connection.execute(
            "SELECT name, SUM(pgsize - unused) FROM dbstat GROUP BY name"
        ):
            table = owner.get(name, name)
            if table in size:
                size[table] += used
        connection.close()
    assert points == 28 * (2 + 2 + 96)
    charted = 28 * 3  # a panel, an SpO2 reading and a night each day
    per_point = sum(size.values()) / points
    per_observation = size["series_observations"] / charted
    # 19.0 bytes here with the Observations' rows; 21.1 while those rows held the id, 37
    # with an index on the Observation key beside the clustered one.
    assert per_point < 20.5, f"{per_point:.1f} bytes per point"
    # An Observation's own row: 30 bytes here by its resource key (a small store: page
    # overhead included), 101.5 with a key of its own, its 36-character id and that id's
    # unique index (issue 15).
    assert per_observation < 40, f"{per_observation:.1f} bytes per charted Observation"


def test_two_postgresql_writers_of_a_new_subject_get_its_one_id() -> None:
    """The second writer's insert waits for the first's commit, then finds its row: no
    unique violation (a 500) and no second id for one patient."""
    with postgres_database() as url:
        engine = make_engine(url)
        migrate(engine)
        first = engine.connect()
        first.begin()
        mine = subject_ids(first, ["Patient/new"])["Patient/new"]
        answers: list[int] = []

        def second_writer() -> None:
            with engine.begin() as connection:
                answers.append(subject_ids(connection, ["Patient/new"])["Patient/new"])

        other = threading.Thread(target=second_writer)
        other.start()
        other.join(0.5)
        assert other.is_alive()  # waits for the first transaction
        first.commit()
        other.join(10)
        first.close()
        with engine.connect() as connection:
            count = select(func.count()).select_from(series_subjects)
            assert connection.execute(count).scalar_one() == 1
        engine.dispose()
    assert answers == [mine]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_points_of_one_observation_written_twice_or_left_behind_are_found(
    tmp_path: Path, backend: str
) -> None:
    """A second write of one Observation's points widens its span (both removed together);
    a row left under another subject (its points removed by hand) is replaced."""
    with ExitStack() as stack:
        store = open_store(stack, settings_for(backend, stack, tmp_path))
        day = 1_732_665_600_000  # 2024-11-27T00:00Z

        def point(subject: str, at: int, value: float) -> SeriesPoint:
            return SeriesPoint(subject, "8867-4", day + at, value, "/min", "obs-1")

        with store.transaction() as tx:
            stub_observations(tx.connection, ["obs-1"])
            store.series.write(tx.connection, [point("Patient/a", 1000, 60.0)])
            store.series.write(tx.connection, [point("Patient/a", 9000, 70.0)])
        utc = ZoneInfo("UTC")
        days = daily_statistics(store.series, "Patient/a", ["8867-4"], day, day + DAY_MS, utc)
        assert [(d.minimum, d.maximum, d.readings) for d in days] == [(60.0, 70.0, 2)]
        with store.transaction() as tx:
            store.series.delete_observation(tx.connection, "obs-1")
            assert (
                tx.connection.execute(select(func.count()).select_from(vital_series)).scalar() == 0
            )
            store.series.write(tx.connection, [point("Patient/a", 1000, 60.0)])
            tx.connection.execute(delete(vital_series))  # the points lost, their row left
            store.series.write(tx.connection, [point("Patient/b", 5000, 80.0)])
        days = daily_statistics(store.series, "Patient/b", ["8867-4"], day, day + DAY_MS, utc)
        assert [(d.minimum, d.readings) for d in days] == [(80.0, 1)]
        with store.transaction() as tx:
            store.series.delete_observation(tx.connection, "obs-1")
            assert (
                tx.connection.execute(select(func.count()).select_from(vital_series)).scalar() == 0
            )
            rows = tx.connection.execute(select(func.count()).select_from(series_observations))
            assert rows.scalar() == 0

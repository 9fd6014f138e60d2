"""Daily rollups: always equal to the days computed from the points, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from fhir_api.storage.database import make_engine, migrate
from fhir_api.storage.series.base import SeriesPoint
from fhir_api.storage.series.rollups import affected_days, day_runs, day_start_ms, local_day
from fhir_api.storage.series.sql import SqlSeriesStore

from ..services import postgres_database
from .series_stubs import stub_observations

PARIS = ZoneInfo("Europe/Paris")  # 2024-03-31 has 23 hours there
TOKYO = ZoneInfo("Asia/Tokyo")
CODES = ["8480-6", "8462-4"]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'series.db'}")
        migrate(made)
        yield made
        made.dispose()
        return
    with postgres_database() as url:
        made = make_engine(url)
        migrate(made)
        yield made
        made.dispose()


def expected_days(points: list[SeriesPoint], subject: str, zone: ZoneInfo) -> dict:
    """(code, local date) -> (min, max, sum, count), computed point by point with zoneinfo."""
    days: dict = {}
    for p in points:
        if p.subject != subject:
            continue
        when = datetime.fromtimestamp(p.ts_ms / 1000, zone).date()
        lo, hi, total, n = days.get((p.code, when), (p.value, p.value, 0.0, 0))
        days[(p.code, when)] = (min(lo, p.value), max(hi, p.value), total + p.value, n + 1)
    return days


def rollup_days(store: SqlSeriesStore, subject: str, zone: ZoneInfo, first, last) -> dict:
    start = int(datetime(first.year, first.month, first.day, tzinfo=zone).timestamp() * 1000)
    end = int(datetime(last.year, last.month, last.day, tzinfo=zone).timestamp() * 1000)
    rows = store.daily_rollup(subject, CODES, start, end, zone)
    assert rows is not None
    epoch = datetime(1970, 1, 1).date()
    return {
        (r.code, epoch + timedelta(days=r.day)): (r.minimum, r.maximum, r.total, r.readings)
        for r in rows
    }


def random_points(rng: random.Random, count: int, prefix: str) -> list[SeriesPoint]:
    start = datetime(2024, 3, 28, tzinfo=UTC)
    return [
        SeriesPoint(
            rng.choice(["Patient/a", "Patient/b"]),
            rng.choice(CODES),
            int((start + timedelta(minutes=rng.randrange(0, 8 * 24 * 60))).timestamp() * 1000),
            float(rng.randrange(60, 180)),
            "mm[Hg]",
            f"{prefix}-{n}",
        )
        for n in range(count)
    ]


def test_rollups_equal_the_points_through_writes_corrections_and_deletes(engine):
    rng = random.Random(4)
    store = SqlSeriesStore(engine, PARIS)
    assert store.ensure_rollups() == 0  # an empty store: nothing to build, now complete
    alive: dict[str, list[SeriesPoint]] = {}
    for batch in range(6):
        points = random_points(rng, 40, f"obs{batch}")
        with engine.begin() as connection:
            stub_observations(connection, {p.observation_id for p in points})
            store.write(connection, points)
        for p in points:
            alive.setdefault(p.observation_id, []).append(p)
    with engine.begin() as connection:
        for observation_id in rng.sample(sorted(alive), 60):  # deletions and corrections
            store.delete_observation(connection, observation_id)
            gone = alive.pop(observation_id)
            if rng.random() < 0.5:
                moved = [
                    SeriesPoint(
                        p.subject,
                        p.code,
                        p.ts_ms + 86_400_000,
                        p.value + 1,
                        p.unit,
                        p.observation_id,
                    )
                    for p in gone
                ]
                store.write(connection, moved)
                alive[observation_id] = moved
    points = [p for ps in alive.values() for p in ps]
    first, last = datetime(2024, 3, 27).date(), datetime(2024, 4, 8).date()
    for subject in ("Patient/a", "Patient/b"):
        assert rollup_days(store, subject, PARIS, first, last) == expected_days(
            points, subject, PARIS
        )


def test_existing_points_are_rolled_up_and_a_new_zone_replaces_the_old(engine):
    points = random_points(random.Random(9), 200, "obs")
    with engine.begin() as connection:
        stub_observations(connection, {p.observation_id for p in points})
        SqlSeriesStore(engine).write(connection, points)  # a store without rollups
    tokyo = SqlSeriesStore(engine, TOKYO)
    assert tokyo.ensure_rollups() > 0
    assert tokyo.ensure_rollups() is None  # complete: nothing to do on the next start
    first, last = datetime(2024, 3, 27).date(), datetime(2024, 4, 8).date()
    assert rollup_days(tokyo, "Patient/a", TOKYO, first, last) == expected_days(
        points, "Patient/a", TOKYO
    )
    # The server's zone changes: the Tokyo rows go, UTC days are built from the points.
    utc = SqlSeriesStore(engine, ZoneInfo("UTC"))
    assert utc.ensure_rollups() > 0
    assert rollup_days(utc, "Patient/b", ZoneInfo("UTC"), first, last) == expected_days(
        points, "Patient/b", ZoneInfo("UTC")
    )
    assert utc.daily_rollup("Patient/a", CODES, 0, 86_400_000, TOKYO) is None


def test_only_whole_days_in_the_rollup_zone_come_from_rollups(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'series.db'}")
    migrate(engine)
    store = SqlSeriesStore(engine, TOKYO)
    store.ensure_rollups()
    midnight = day_start_ms(local_day(1_727_740_800_000, TOKYO), TOKYO)
    assert store.daily_rollup("Patient/a", CODES, midnight, midnight + 86_400_000, TOKYO) == []
    assert (
        store.daily_rollup("Patient/a", CODES, midnight + 60_000, midnight + 86_400_000, TOKYO)
        is None
    )
    assert store.daily_rollup("Patient/a", CODES, midnight, midnight + 86_400_000, PARIS) is None
    assert (
        SqlSeriesStore(engine, TOKYO).daily_rollup(  # not yet checked: not trusted
            "Patient/a", CODES, midnight, midnight + 86_400_000, TOKYO
        )
        is None
    )
    engine.dispose()


def test_day_arithmetic_follows_the_zone():
    # 00:30 CET and 23:30 CEST on 2024-03-31 are one day in Paris, and that day is 23 h long.
    first = int(datetime(2024, 3, 31, 0, 30, tzinfo=PARIS).timestamp() * 1000)
    second = int(datetime(2024, 3, 31, 23, 30, tzinfo=PARIS).timestamp() * 1000)
    assert local_day(first, PARIS) == local_day(second, PARIS)
    day = local_day(first, PARIS)
    assert day_start_ms(day + 1, PARIS) - day_start_ms(day, PARIS) == 23 * 3_600_000
    assert affected_days(
        [("Patient/a", "8480-6", first), ("Patient/a", "8462-4", second)], PARIS
    ) == {"Patient/a": ({"8480-6", "8462-4"}, {day})}
    assert day_runs([5, 3, 4, 9, 10, 12]) == [(3, 5), (9, 10), (12, 12)]


def test_concurrent_writers_of_one_day_leave_it_exact_on_postgresql():
    # The day holds P0. Transaction 1 deletes P0 and has not committed when transaction 2
    # adds B to the same day: 2's aggregate must wait for 1, or it would count P0 again.
    import threading

    with postgres_database() as url:
        engine = make_engine(url)
        migrate(engine)
        store = SqlSeriesStore(engine, TOKYO)
        store.ensure_rollups()
        noon = int(datetime(2024, 10, 1, 12, tzinfo=TOKYO).timestamp() * 1000)
        stub_observations(engine, ["p0", "b"])
        with engine.begin() as connection:
            store.write(
                connection, [SeriesPoint("Patient/a", "8480-6", noon, 150.0, "mm[Hg]", "p0")]
            )
        first = engine.connect()
        first_tx = first.begin()
        store.delete_observation(first, "p0")

        def second() -> None:
            with engine.begin() as connection:
                store.write(
                    connection,
                    [SeriesPoint("Patient/a", "8480-6", noon + 60_000, 120.0, "mm[Hg]", "b")],
                )

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # waiting for the first transaction's lock on the patient
        first_tx.commit()
        first.close()
        thread.join(timeout=10)
        day = datetime(2024, 10, 1).date()
        assert rollup_days(store, "Patient/a", TOKYO, day, day + timedelta(days=1)) == {
            ("8480-6", day): (120.0, 120.0, 120.0, 1)
        }
        engine.dispose()

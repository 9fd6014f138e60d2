"""Bytes on disk per Observation, per table and in total, on SQLite and PostgreSQL (issue 15).

Run: `.venv/bin/python bench/storage.py --patients 20 --days 30` (a quick run; the
issue's data set is `--patients 1000 --days 365`, about 2.9 million Observations:
with `--batch 20 --layouts ''` about 40 min for SQLite and 60 for PostgreSQL on a
2-vCPU VM; the earlier layouts' downgrades, which rewrite every row, come on top).

Every patient has a cuff and an oximeter, each read twice a day: a cuff reading is a
blood-pressure panel and a pulse rate, an oximeter reading an SpO2 and a pulse rate,
as the gateway's own mapper builds them (about 2 KB of JSON each). They are written
through the server's own write path (`ResourceStore.create_many`: resource, identifiers,
search index and series points in one transaction per upload), one upload per reading
(or `--batch` of them), and the ingest rate is that path's (the readings are made between the writes, untimed).

Sizes: SQLite's `dbstat` after `wal_checkpoint(TRUNCATE)` (every table with its indexes,
free pages not counted);
PostgreSQL's `pg_total_relation_size` (table, indexes and TOAST) after `VACUUM`. The
earlier layouts are the same store taken back with the migrations' own downgrades and
measured in the same run: "0014" (compressed JSON, text-keyed search index) and
"before" (migration 0013, before issue 15); "0015" is the keyed search index with
the series rows as they were. `$stats` is timed on the newest layout through the
server's series store; on every layout, the same daily aggregate as direct SQL over
its own series rows (the older layouts' code is gone from this tree: `--baseline`
times it).

`--baseline REV` also runs this bench as it was at git revision REV (e.g. the commit
before migration 0015) on the same data set, for its ingest rates and
`$stats` time beside this layout's: the write path of an earlier layout is that
revision's code, which this one no longer has.

Target: at most 1,500 bytes per Observation on SQLite, every table and index included.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _homes import _reading, make_homes
from _server import PG_ADMIN_URL, postgres_database
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from fhir_api import migrations
from fhir_api.storage.database import make_engine, migrate
from fhir_api.storage.ids import new_id
from fhir_api.storage.resources import ResourceStore
from fhir_api.storage.series.sql import SqlSeriesStore
from gateway.mapping import MappingContext, map_reading
from gateway.mapping.devices import DeviceKind

ZONE = __import__("zoneinfo").ZoneInfo("Asia/Tokyo")
START = datetime(2025, 11, 1)
OLD_HEAD = "0013"
# The earlier layouts measured beside the newest: 0015 (keyed search index, series rows
# still by text), 0014 (compressed JSON, text-keyed index), 0013 (before issue 15).
LAYOUTS = ("0015", "0014", OLD_HEAD)
TARGET = 1_500


def _local(reference: dict[str, Any], devices: dict[str, str]) -> None:
    """Point a bundle-local `urn:uuid:` reference at the Device it names."""
    if reference.get("reference", "").startswith("urn:uuid:"):
        reference["reference"] = devices.setdefault(
            reference["reference"], f"Device/d{len(devices)}"
        )


def patients_of(count: int) -> list[dict[str, Any]]:
    """The bench's Patients."""
    return [
        {"resourceType": "Patient", "id": h.patient_id, "name": [{"family": f"B{h.index}"}]}
        for h in make_homes(count, prefix="bench")
    ]


def uploads(patients: int, days: int) -> Iterator[list[dict[str, Any]]]:
    """Every reading's Observations (one upload each), in time order, made as they are
    written (a year of a thousand patients' readings does not fit in memory at once);
    the same readings each time (a seeded generator)."""
    rng = random.Random(15)  # noqa: S311 - test data
    homes = make_homes(patients, prefix="bench")
    devices: dict[str, str] = {}
    kinds = (DeviceKind.BLOOD_PRESSURE, DeviceKind.PULSE_OXIMETER)
    for day in range(days):
        for hour in (7, 19):
            for home in homes:
                for sensor in home.sensors:
                    if sensor.kind not in kinds:
                        continue
                    when = START + timedelta(days=day, hours=hour, minutes=rng.randint(0, 59))
                    received = when.replace(tzinfo=UTC) - timedelta(hours=9, seconds=-20)
                    ctx = MappingContext(sensor, home.gateway, home.patient, received)
                    upload = map_reading(_reading(sensor.kind, rng, when), ctx)  # type: ignore[arg-type]
                    for observation in upload:
                        _local(observation.get("device", {}), devices)
                        for extension in observation.get("extension", ()):
                            _local(extension.get("valueReference", {}), devices)
                    yield upload


def ingest(
    engine: Engine,
    people: list[dict[str, Any]],
    readings: Iterable[list[dict[str, Any]]],
    batch: int = 1,
) -> tuple[int, float]:
    """Write everything through the server's write path, `batch` uploads per transaction;
    how many Observations, and how many per second."""
    store = ResourceStore(engine, SqlSeriesStore(engine, ZONE), ZONE)
    with store.transaction() as tx:
        tx.create_many([("Patient", p["id"], dict(p)) for p in people])
    writing = 0.0  # the write path's time alone: the readings are made between the writes
    count = 0
    pending: list[tuple[str, str, dict[str, Any]]] = []

    def write() -> None:
        nonlocal writing, count, pending
        began = time.perf_counter()
        with store.transaction() as tx:
            tx.create_many(pending)
        writing += time.perf_counter() - began
        count += len(pending)
        pending = []

    taken = 0
    for upload in readings:
        pending += [("Observation", new_id(), o) for o in upload]
        taken += 1
        if taken == batch:
            write()
            taken = 0
    if pending:
        write()
    return count, count / writing


def stats_ms(engine: Engine, patients: int, days: int) -> float:
    """Median time of one patient's daily aggregate over the whole span (the chart's `$stats`)."""
    series = SqlSeriesStore(engine, ZONE)
    series.ensure_rollups()
    start = int(START.replace(tzinfo=UTC).timestamp() * 1000) - 86_400_000
    end = start + (days + 2) * 86_400_000
    times = []
    for n in range(min(patients, 20)):
        began = time.perf_counter()
        series.daily(f"Patient/bench-{n:05d}", ["8480-6", "8867-4"], start, end, 9 * 3_600_000)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


# One patient's daily min/max/sum/count of two codes, straight over the points: the
# series rows by text (up to 0015) and by small ids (0016).
_DAILY_BY_TEXT = (
    "SELECT code, (ts_ms + :offset) / 86400000 AS day, min(value), max(value), sum(value),"
    " count(*) FROM vital_series WHERE subject = :subject AND code IN ('8480-6', '8867-4')"
    " AND ts_ms >= :start AND ts_ms < :end GROUP BY code, day"
)
_DAILY_BY_ID = (
    "SELECT c.code, (v.ts_ms + :offset) / 86400000 AS day, min(v.value), max(v.value),"
    " sum(v.value), count(*) FROM vital_series v JOIN series_codes c ON c.id = v.code_id"
    " WHERE v.subject_id = (SELECT id FROM series_subjects WHERE subject = :subject)"
    " AND c.code IN ('8480-6', '8867-4') AND v.ts_ms >= :start AND v.ts_ms < :end"
    " GROUP BY c.code, day"
)


def points_sql_ms(engine: Engine, patients: int, days: int) -> float:
    """Median time of the daily aggregate as direct SQL over whichever series rows the
    store's layout has (the same answer, so the layouts compare like with like)."""
    start = int(START.replace(tzinfo=UTC).timestamp() * 1000) - 86_400_000
    end = start + (days + 2) * 86_400_000
    times = []
    with engine.connect() as connection:
        columns = connection.exec_driver_sql("SELECT * FROM vital_series WHERE 1 = 0").keys()
        lean = "subject_id" in columns
        query = text(_DAILY_BY_ID if lean else _DAILY_BY_TEXT)
        for _ in range(3):
            for n in range(min(patients, 20)):
                began = time.perf_counter()
                connection.execute(
                    query,
                    {
                        "offset": 9 * 3_600_000,
                        "subject": f"Patient/bench-{n:05d}",
                        "start": start,
                        "end": end,
                    },
                ).all()
                times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def sqlite_sizes(path: Path) -> dict[str, int]:
    """Bytes per table (its indexes counted with it) after a truncating checkpoint."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    owner = dict(connection.execute("SELECT name, tbl_name FROM sqlite_master"))
    sizes: dict[str, int] = defaultdict(int)
    for name, size in connection.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
        sizes[owner.get(name, name)] += size
    connection.close()
    return dict(sizes)


def postgres_sizes(engine: Engine) -> dict[str, int]:
    """Bytes per table: heap, indexes and TOAST (`pg_total_relation_size`), after VACUUM."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
        rows = connection.execute(
            text(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class"
                " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
        )
        return {name: int(size) for name, size in rows}


def to_layout(engine: Engine, revision: str) -> None:
    """Take the store back to an earlier layout (the migrations' own downgrades)."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def report(title: str, layouts: dict[str, dict[str, int]], observations: int) -> int:
    """Print bytes per Observation per table, a column per layout; the first one's total."""
    print(f"\n{title}: bytes per Observation ({observations:,} Observations)")
    print(f"  {'table':<28}" + "".join(f"{name:>9}" for name in layouts))
    names = sorted(
        {n for sizes in layouts.values() for n in sizes},
        key=lambda n: -max(sizes.get(n, 0) for sizes in layouts.values()),
    )
    for name in names:
        row = [sizes.get(name, 0) for sizes in layouts.values()]
        if any(row):
            print(f"  {name:<28}" + "".join(f"{b / observations:>9.0f}" for b in row))
    totals = [sum(sizes.values()) for sizes in layouts.values()]
    print(f"  {'total':<28}" + "".join(f"{t / observations:>9.0f}" for t in totals))
    return totals[0] // observations


def baseline(revision: str, patients: int, days: int, postgres: str) -> list[str]:
    """This bench as it was at `revision`: its ingest and `$stats` lines (SQLite, and
    PostgreSQL unless `postgres` is '')."""
    with tempfile.TemporaryDirectory() as scratch:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision],  # noqa: S607 - git on the PATH
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", scratch], input=archive, check=True)  # noqa: S607
        run = subprocess.run(
            [
                sys.executable,
                str(Path(scratch) / "bench" / "storage.py"),
                f"--patients={patients}",
                f"--days={days}",
                f"--postgres={postgres}",
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": scratch},
        )
    return [line.strip() for line in run.stdout.splitlines() if "ingest" in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--postgres", default=PG_ADMIN_URL, help="admin URL ('' to skip)")
    parser.add_argument("--baseline", default="", help="git revision to compare ingest with")
    parser.add_argument(
        "--layouts",
        default=",".join(LAYOUTS),
        help="earlier layouts to measure beside the newest ('' for none)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=1,
        help="uploads per transaction (the sizes do not depend on it; the ingest rate does)",
    )
    args = parser.parse_args()
    layouts_wanted = [name for name in args.layouts.split(",") if name]
    people = patients_of(args.patients)
    print(
        f"{args.patients} patients x {args.days} days, {args.batch} upload(s) per transaction",
        flush=True,
    )
    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "store.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        observations, rate = ingest(engine, people, uploads(args.patients, args.days), args.batch)
        stats = stats_ms(engine, args.patients, args.days)
        times = [f"new: {points_sql_ms(engine, args.patients, args.days):.2f} ms"]
        engine.dispose()
        layouts = {"new": sqlite_sizes(path)}
        for revision in layouts_wanted:
            old_path = Path(scratch) / f"{revision}.db"
            shutil.copy(path, old_path)
            old_engine = make_engine(f"sqlite:///{old_path}")
            to_layout(old_engine, revision)
            times.append(
                f"{revision}: {points_sql_ms(old_engine, args.patients, args.days):.2f} ms"
            )
            old_engine.dispose()
            # Free pages (the dropped tables of the newer layout) are not counted.
            layouts[revision] = sqlite_sizes(old_path)
            old_path.unlink()
        total = report("SQLite", layouts, observations)
        print(f"  ingest {rate:,.0f} Observations/s; $stats median {stats:.2f} ms")
        print(f"  the daily aggregate as direct SQL over each layout's points: {'; '.join(times)}")
        failed |= total > TARGET
        print(f"  target <= {TARGET} B per Observation: {'met' if total <= TARGET else 'NOT met'}")
        sys.stdout.flush()
    if args.baseline:
        for line in baseline(args.baseline, args.patients, args.days, args.postgres):
            print(f"  at {args.baseline}: {line}")
    if args.postgres:
        with postgres_database(args.postgres) as url:
            engine = make_engine(url)
            migrate(engine)
            observations, rate = ingest(
                engine, people, uploads(args.patients, args.days), args.batch
            )
            layouts = {"new": postgres_sizes(engine)}
            for revision in layouts_wanted:
                to_layout(engine, revision)
                layouts[revision] = postgres_sizes(engine)
            engine.dispose()
            report("PostgreSQL", layouts, observations)
            print(f"  ingest {rate:,.0f} Observations/s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Series tables' bytes per point and per Observation, and chart reads, old code vs new (issue 15).

Run: `.venv/bin/python bench/series_size.py --old-code /path/to/main --patients 100 --days 60`

The same store is built twice, each by its own code in a child process: the old
code (`--old-code`, a checkout before the lean series rows) and this tree's. Every
patient has a cuff and an oximeter read twice a day (the gateway's own mapper, as
bench/storage.py builds them: a panel and a pulse rate, an SpO2 and a pulse rate),
and a bed sensor's nights as SampledData (a heart-rate and a breathing-rate
Observation of 48 five-minute epochs each), all written through the server's write
path (`ResourceStore.create_many`, one transaction per upload), so both codes
derive their own points and rollups. Then each store is sized (SQLite `dbstat`
after `wal_checkpoint(TRUNCATE)`, free pages not counted; PostgreSQL
`pg_total_relation_size` after `VACUUM`), and the chart reads are timed, children
of both codes taking turns: `$stats` over every day from the points
(`SqlSeriesStore.daily`) and from the rollups (`daily_statistics`), the patient
list's newest values (`FhirService.newest_readings`, what `$lastn max=1` gives for
many patients) and its days with a reading (`FhirService.reading_days`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CODE = Path(os.environ.get("HV_CODE", HERE.parent))
sys.path.insert(0, str(CODE))  # before bench's helpers put this tree on the path

from fhir_api.service import FhirService
from fhir_api.storage.database import make_engine, migrate
from fhir_api.storage.ids import new_id
from fhir_api.storage.resources import ResourceStore
from fhir_api.storage.series.base import daily_statistics
from fhir_api.storage.series.sql import SqlSeriesStore

sys.path.insert(1, str(HERE))
from storage import (
    PG_ADMIN_URL,
    ZONE,
    patients_of,
    postgres_database,
    postgres_sizes,
    sqlite_sizes,
    uploads,
)

START = datetime(2025, 11, 1)
SERIES = (
    "vital_series",
    "vital_daily",
    "series_subjects",
    "series_codes",
    "series_zones",
    "series_observations",
)
EPOCHS = 48
MDC = "urn:iso:std:iso:11073:10101"
IN_BED = {"system": "http://homevitals.org/fhir/CodeSystem/measurement-setting", "code": "in-bed"}
PER_MIN = {"value": 0, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}


def night(patient: str, day: int, mdc: str, values: list[int]) -> dict[str, Any]:
    """A bed sensor's night of five-minute epochs from 23:00 local as one Observation."""
    start = START + timedelta(days=day, hours=23 - 9)  # Tokyo is UTC+9
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [IN_BED]}],
        "code": {"coding": [{"system": MDC, "code": mdc}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectivePeriod": {
            "start": start.isoformat() + "Z",
            "end": (start + timedelta(minutes=5 * EPOCHS)).isoformat() + "Z",
        },
        "valueSampledData": {
            "origin": PER_MIN,
            "period": 300_000,
            "dimensions": 1,
            "data": " ".join(str(v) for v in values),
        },
    }


def build(url: str, patients: int, days: int) -> dict[str, Any]:
    """Write the data set through the write path; counts and ingest rate."""
    engine = make_engine(url)
    migrate(engine)
    store = ResourceStore(engine, SqlSeriesStore(engine, ZONE), ZONE)
    store.series.ensure_rollups()  # type: ignore[attr-defined]
    people, readings = patients_of(patients), list(uploads(patients, days))
    rng = random.Random(16)  # noqa: S311 - test data
    nights = [
        [
            night(p["id"], day, "147842", [rng.randint(48, 75) for _ in range(EPOCHS)]),
            night(p["id"], day, "151562", [rng.randint(11, 19) for _ in range(EPOCHS)]),
        ]
        for day in range(days)
        for p in people
    ]
    with store.transaction() as tx:
        tx.create_many([("Patient", p["id"], dict(p)) for p in people])
    began = time.perf_counter()
    for upload in [*readings, *nights]:
        with store.transaction() as tx:
            tx.create_many([("Observation", new_id(), o) for o in upload])
    elapsed = time.perf_counter() - began
    with store.reading() as tx:
        points = tx.connection.exec_driver_sql("SELECT count(*) FROM vital_series").scalar()
    engine.dispose()
    spot = sum(len(r) for r in readings)
    return {
        "spot": spot,
        "nights": 2 * len(nights),
        "points": int(points or 0),
        "ingest": (spot + 2 * len(nights)) / elapsed,
    }


def sizes(url: str) -> dict[str, int]:
    """Bytes of the series tables (each with its indexes)."""
    if url.startswith("sqlite"):
        found = sqlite_sizes(Path(url.removeprefix("sqlite:///")))
    else:
        engine = make_engine(url)
        found = postgres_sizes(engine)
        engine.dispose()
    return {name: found.get(name, 0) for name in SERIES}


def timings(url: str, patients: int, days: int, repeat: int) -> dict[str, float]:
    """Median milliseconds of each chart read on this code (one child's turn)."""
    engine = make_engine(url)
    series = SqlSeriesStore(engine, ZONE)
    series.ensure_rollups()
    store = ResourceStore(engine, series, ZONE)
    service = FhirService(store)
    first = int(START.replace(tzinfo=UTC).timestamp() * 1000) - 9 * 3_600_000
    end = first + days * 86_400_000
    ids = [f"bench-{n:05d}" for n in range(patients)]
    codes = ["8480-6", "8462-4", "8867-4", "59408-5"]
    reads = {
        "$stats from points (ms)": lambda n: series.daily(
            f"Patient/{ids[n % patients]}", codes, first, end, 9 * 3_600_000
        ),
        "$stats from rollups (ms)": lambda n: daily_statistics(
            series, f"Patient/{ids[n % patients]}", codes, first, end, ZONE
        ),
        "in-bed $stats from points (ms)": lambda n: series.daily(
            f"Patient/{ids[n % patients]}", ["8867-4@in-bed"], first, end, 9 * 3_600_000
        ),
        "newest of 5 codes, all patients (ms)": lambda n: service.newest_readings(
            ids, [*codes, "2708-6"]
        ),
        "days with a reading, 30 days, all patients (ms)": lambda n: service.reading_days(
            ids, codes=codes, days=30, end_ms=end
        ),
    }
    found: dict[str, float] = {}
    for name, read in reads.items():
        read(0)  # warm-up: statements compiled, pages cached
        spent = []
        for n in range(repeat):
            began = time.perf_counter()
            read(n)
            spent.append((time.perf_counter() - began) * 1000)
        found[name] = statistics.median(spent)
    engine.dispose()
    return found


def child(code: Path, *args: str) -> Any:
    """Run this script's `--child` mode on `code`; its JSON answer."""
    environment = {**os.environ, "HV_CODE": str(code), "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, __file__, *args],
        env=environment,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child(args: argparse.Namespace) -> int:
    kind, url = args.child_args[0], args.child_args[1]
    if kind == "build":
        answer: Any = build(url, args.patients, args.days)
    elif kind == "sizes":
        answer = sizes(url)
    else:
        answer = timings(url, args.patients, args.days, args.repeat)
    print(json.dumps(answer))
    return 0


def report(title: str, built: dict[str, Any], found: dict[str, dict[str, int]]) -> None:
    observations = built["old"]["spot"] + built["old"]["nights"]
    points = built["old"]["points"]
    print(
        f"\n{title}: {built['old']['spot']:,} spot Observations, {built['old']['nights']:,}"
        f" nights as SampledData; {points:,} points (new code: {built['new']['points']:,})"
    )
    print(f"  {'table':<22}{'old B':>14}{'new B':>14}{'old B/pt':>10}{'new B/pt':>10}")
    for name in SERIES:
        old, new = found["old"][name], found["new"][name]
        if old or new:
            print(f"  {name:<22}{old:>14,}{new:>14,}{old / points:>10.1f}{new / points:>10.1f}")
    old, new = sum(found["old"].values()), sum(found["new"].values())
    print(
        f"  {'total':<22}{old:>14,}{new:>14,}{old / points:>10.1f}{new / points:>10.1f}"
        f"\n  per Observation (spot and nights): old {old / observations:,.0f} B,"
        f" new {new / observations:,.0f} B"
        f"\n  ingest, Observations/s: old {built['old']['ingest']:,.0f},"
        f" new {built['new']['ingest']:,.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old-code", type=Path, default=Path("/work/main"))
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=PG_ADMIN_URL, help="admin URL ('' to skip)")
    parser.add_argument("--child", dest="child_args", nargs=2, default=None)
    args = parser.parse_args()
    if args.child_args:
        return run_child(args)
    codes = {"old": args.old_code.resolve(), "new": CODE}
    common = ["--patients", str(args.patients), "--days", str(args.days)]
    common += ["--repeat", str(args.repeat)]
    with tempfile.TemporaryDirectory(prefix="hv-series-") as scratch:
        urls = {which: f"sqlite:///{Path(scratch) / f'{which}.db'}" for which in codes}
        built = {w: child(codes[w], *common, "--child", "build", urls[w]) for w in codes}
        found = {w: child(codes[w], *common, "--child", "sizes", urls[w]) for w in codes}
        report("SQLite", built, found)
        times: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
        for _ in range(args.rounds):  # turn about: both see the same machine
            for which in codes:
                answer = child(codes[which], *common, "--child", "time", urls[which])
                for name, value in answer.items():
                    times[which].setdefault(name, []).append(value)
        print("  chart reads, median of rounds (old code / new code):")
        for name in times["old"]:
            old, new = statistics.median(times["old"][name]), statistics.median(times["new"][name])
            print(f"    {name:<48}{old:>8.2f}{new:>8.2f}")
    if args.postgres:
        with (
            postgres_database(args.postgres) as old_url,
            postgres_database(args.postgres) as new_url,
        ):
            urls = {"old": old_url, "new": new_url}
            built = {w: child(codes[w], *common, "--child", "build", urls[w]) for w in codes}
            found = {w: child(codes[w], *common, "--child", "sizes", urls[w]) for w in codes}
            report("PostgreSQL", built, found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

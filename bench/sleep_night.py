"""What a night of sleep costs, sent one Observation per epoch (before issue 15) and as
SampledData windows (since): one window per signal for the night (a sensor read in the
morning), or one every 2 hours (a sensor the gateway reads all night): Observations,
JSON bytes, and bytes on disk in the server's SQLite store.

    python bench/sleep_night.py [--nights 14]

Nights are built by the gateway's own mapper from the open sleep profile's epochs
(stage, heart rate, breathing rate), with the night's summary either way. The store
figures are the whole database file after a truncating checkpoint (every table and
index: resources, history, search index, series), divided by the nights.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import device_adapters as da
from device_adapters import Quantity, Unit
from gateway.mapping import (
    GatewayIdentity,
    MappingContext,
    PatientLink,
    SensorIdentity,
    map_reading,
    map_sleep_night,
    nights_from_epochs,
    transaction_bundle,
    upload_entries,
)
from gateway.mapping.devices import DeviceKind
from gateway.mapping.sleep_samples import map_epoch_samples

TOKYO = ZoneInfo("Asia/Tokyo")
GATEWAY = GatewayIdentity("B827EBFFFE4A6C01", "0.1.0", "bench gateway")
SENSOR = SensorIdentity("D0:00:00:00:00:08", DeviceKind.SLEEP, model="SL-1")
PATIENT = PatientLink(logical_id="bench-sleeper")
Resource = dict[str, Any]


def night(start: datetime, epochs: int, seconds: int, rng: random.Random) -> list[da.SleepEpoch]:
    """A night of epochs: awake, then light, deep and REM at random, awake at the end."""
    stages = [1, 1] + [rng.choice([2, 2, 3, 3, 4, 2]) for _ in range(epochs - 4)] + [1, 1]
    return [
        da.SleepEpoch(
            n,
            start + timedelta(seconds=seconds * n),
            Quantity(float(seconds), Unit.SECOND),
            da.SleepStage(stage),
            heart_rate=Quantity(float(rng.randrange(48, 66)), Unit.PER_MIN),
            respiration_rate=Quantity(float(rng.randrange(11, 18)), Unit.PER_MIN),
        )
        for n, stage in enumerate(stages)
    ]


def per_epoch(epochs: list[da.SleepEpoch], ctx: MappingContext) -> list[Resource]:
    return [r for e in epochs for r in map_reading(e, ctx)]


def sampled(epochs: list[da.SleepEpoch], ctx: MappingContext) -> list[Resource]:
    return map_epoch_samples(epochs, ctx)


def sampled_every_two_hours(epochs: list[da.SleepEpoch], ctx: MappingContext) -> list[Resource]:
    """As a gateway that reads the sensor all night sends it: a window per 2 hours."""
    seconds = int(epochs[0].duration.value or 1)
    per_window = 7200 // seconds
    return [
        r
        for i in range(0, len(epochs), per_window)
        for r in map_epoch_samples(epochs[i : i + per_window], ctx)
    ]


def summary(epochs: list[da.SleepEpoch], ctx: MappingContext) -> list[Resource]:
    return [r for n in nights_from_epochs(epochs) for r in map_sleep_night(n, ctx)]


def store_bytes(bundles: list[Resource]) -> int:
    """The server's SQLite file after these uploads and a truncating checkpoint, minus
    the file with the Patient alone."""
    from fhir_api.app import build_store
    from fhir_api.service import FhirService
    from fhir_api.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        store = build_store(Settings(data_dir=Path(folder)))
        service = FhirService(store)
        service.update(
            "Patient", "bench-sleeper", {"resourceType": "Patient", "id": "bench-sleeper"}
        )
        database = Path(folder) / "homevitals.db"

        def size() -> int:
            with sqlite3.connect(database) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                count = connection.execute("PRAGMA page_count").fetchone()[0]
                page = connection.execute("PRAGMA page_size").fetchone()[0]
            return int(count * page)

        empty = size()
        for bundle in bundles:
            service.bundle(bundle)
        grown = size() - empty
        store.engine.dispose()
    return grown


def measure(
    name: str,
    nights: list[list[da.SleepEpoch]],
    how: Callable[[list[da.SleepEpoch], MappingContext], list[Resource]],
    with_store: bool,
) -> None:
    received = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    ctx = MappingContext(SENSOR, GATEWAY, PATIENT, received, zone=TOKYO)
    resources = [how(epochs, ctx) + summary(epochs, ctx) for epochs in nights]
    observations = sum(len(r) for r in resources) / len(nights)
    json_bytes = sum(len(json.dumps(x, separators=(",", ":"))) for r in resources for x in r)
    bundles = [transaction_bundle(upload_entries(r, SENSOR, GATEWAY, PATIENT)) for r in resources]
    upload = sum(len(json.dumps(b, separators=(",", ":"))) for b in bundles)
    line = (
        f"{name:<34} {observations:6.0f} Observations/night  "
        f"{json_bytes / len(nights):9,.0f} B JSON/night  {upload / len(nights):9,.0f} B upload/night"
    )
    if with_store:
        line += f"  {store_bytes(bundles) / len(nights):11,.0f} B on disk/night (SQLite)"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=14)
    parser.add_argument("--no-store", action="store_true", help="leave the server store out")
    args = parser.parse_args()
    rng = random.Random(15)  # noqa: S311 - bench data
    for epochs, seconds in ((48, 600), (96, 300), (960, 30)):
        first = datetime(2026, 11, 1, 22, 30)
        nights = [
            night(first + timedelta(days=d), epochs, seconds, rng) for d in range(args.nights)
        ]
        label = f"{epochs} epochs of {seconds} s"
        measure(f"{label}, one per epoch", nights, per_epoch, not args.no_store)
        measure(f"{label}, SampledData", nights, sampled, not args.no_store)
        measure(f"{label}, 2-h windows", nights, sampled_every_two_hours, not args.no_store)


if __name__ == "__main__":
    main()

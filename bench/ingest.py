"""Observations stored per second through transaction Bundles, on one uvicorn worker.

Run: `.venv/bin/python bench/ingest.py` (about a minute). It starts the real
server (`homevitals server`, one worker, embedded SQLite store in a temporary
directory), uploads transaction Bundles of 100 blood-pressure Observations made by
the gateway's own mapper (conditional creates, as the gateway sends them), and,
in the same run, measures the bare `Observation.model_validate_json` rate of
fhir.resources on the same Observations as the yardstick. Uploads and yardstick
rounds alternate, Bundle by Bundle, so both see the same machine: on a shared
virtual machine the speed of one core drifts by a third within a minute.

Targets (issue 4): at least 0.6 of the bare validation rate, and at least
2,000 Observations/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _server import create_patients, start_server, stop_server

from device_adapters import BloodPressureMeasurement, Quantity, Unit
from gateway.mapping import (
    GatewayIdentity,
    MappingContext,
    PatientLink,
    SensorIdentity,
    map_reading,
    transaction_bundle,
    upload_entries,
)
from gateway.mapping.devices import DeviceKind
from gateway.mapping.models import Observation

GATEWAY = GatewayIdentity("B827EBFFFE000001", "bench")
CUFF = SensorIdentity("D0:00:00:00:00:99", DeviceKind.BLOOD_PRESSURE, system_id="FEEDABEEDEAD0099")
OBSERVATIONS_PER_BUNDLE = 100
TARGET_RATIO = 0.6
TARGET_RATE = 2000.0


def make_bundles(count: int) -> tuple[list[bytes], list[bytes]]:
    """`count` Bundles of 100 BP panels, and the Observations' JSON for the yardstick."""
    start = datetime(2024, 1, 1, 7, 0)
    bundles, observations = [], []
    n = 0
    for b in range(count):
        entries = []
        resources = []
        for _ in range(OBSERVATIONS_PER_BUNDLE):
            reading = BloodPressureMeasurement(
                Quantity(float(110 + n % 50), Unit.MM_HG),
                Quantity(float(70 + n % 20), Unit.MM_HG),
                Quantity(float(85 + n % 25), Unit.MM_HG),
                device_time=start + timedelta(minutes=n),
            )
            received = (start + timedelta(minutes=n, seconds=30)).replace(tzinfo=UTC) - timedelta(
                hours=9
            )
            ctx = MappingContext(CUFF, GATEWAY, PatientLink(logical_id=f"bench-{b % 10}"), received)
            resources.extend(map_reading(reading, ctx))
            n += 1
        entries = upload_entries(resources, CUFF, GATEWAY, None)
        bundles.append(json.dumps(transaction_bundle(entries)).encode())
        observations.extend(json.dumps(r).encode() for r in resources)
    return bundles, observations


def validate_bare(observations: list[bytes]) -> float:
    """Seconds fhir.resources takes to validate these Observations, nothing else."""
    began = time.perf_counter()
    for document in observations:
        Observation.model_validate_json(document)
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundles", type=int, default=60, help="Bundles to upload (100 Observations each)"
    )
    parser.add_argument("--port", type=int, default=8931)
    args = parser.parse_args()

    print(
        f"building {args.bundles} Bundles of {OBSERVATIONS_PER_BUNDLE} Observations with the gateway mapper ..."
    )
    bundles, observations = make_bundles(args.bundles + 5)
    for chunk in range(5):  # warm-up of the yardstick
        validate_bare(
            observations[chunk * OBSERVATIONS_PER_BUNDLE : (chunk + 1) * OBSERVATIONS_PER_BUNDLE]
        )
    with tempfile.TemporaryDirectory(prefix="hv-bench-") as tmp:
        server, token = start_server(Path(tmp), args.port)
        try:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
            with httpx.Client(
                base_url=f"http://127.0.0.1:{args.port}/fhir", headers=headers, timeout=120
            ) as client:
                create_patients(str(client.base_url), token, [f"bench-{n}" for n in range(10)])
                for warm in bundles[:5]:  # warm-up: imports, caches, first table pages
                    client.post("/", content=warm).raise_for_status()
                timings, bare = [], []
                for index, body in enumerate(bundles[5:], start=5):
                    own = observations[
                        index * OBSERVATIONS_PER_BUNDLE : (index + 1) * OBSERVATIONS_PER_BUNDLE
                    ]
                    bare.append(validate_bare(own))
                    t0 = time.perf_counter()
                    client.post("/", content=body).raise_for_status()
                    timings.append(time.perf_counter() - t0)
                again = time.perf_counter()
                client.post("/", content=bundles[5]).raise_for_status()
                duplicate_ms = (time.perf_counter() - again) * 1000
        finally:
            stop_server(server)
    elapsed = sum(timings)
    yardstick = len(timings) * OBSERVATIONS_PER_BUNDLE / sum(bare)
    stored = args.bundles * OBSERVATIONS_PER_BUNDLE
    rate = stored / elapsed
    ratio = rate / yardstick
    print(
        f"fhir.resources Observation.model_validate_json (yardstick): {yardstick:,.0f} Observations/s"
    )
    print(
        f"server ingest, transaction Bundles of {OBSERVATIONS_PER_BUNDLE}, 1 worker, SQLite: {rate:,.0f} Observations/s"
    )
    print(
        f"  median Bundle {statistics.median(timings) * 1000:.1f} ms, p95 {sorted(timings)[int(len(timings) * 0.95) - 1] * 1000:.1f} ms; re-upload of a stored Bundle {duplicate_ms:.1f} ms"
    )
    print(f"ratio to bare validation: {ratio:.2f} (target >= {TARGET_RATIO})")
    print(
        f"target >= {TARGET_RATE:,.0f} Observations/s: {'met' if rate >= TARGET_RATE else 'NOT met'}; "
        f"ratio target: {'met' if ratio >= TARGET_RATIO else 'NOT met'}"
    )
    return 0 if rate >= TARGET_RATE and ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())

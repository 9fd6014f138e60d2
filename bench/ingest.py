"""Observations stored per second through transaction Bundles, on one uvicorn worker.

Run: `.venv/bin/python bench/ingest.py` (several minutes: it builds the full store
first; `--patients 50` for a quick run). It starts the real server (`homevitals
server`, one worker, embedded SQLite store) three times, each on its own store:

- an empty store, and a full one holding the query bench's data set (a year of
  readings of `--patients` patients plus five years of one, with each reading's
  identifier: bench/query.py's builder), both sent the same transaction Bundles
  of 100 blood-pressure Observations made by the gateway's own mapper
  (conditional creates, as the gateway sends them);
- an empty store sent the realistic mix: `--mix-bundles` Bundles of `--readings`
  readings (about as many Observations as the uniform Bundles), each from a home
  drawn from `--homes` (1,000) homes with their own gateways, patients, devices
  and values (bench/_homes.py), as a city's gateways send them after an outage.
  The element memo's hit rate on them is printed (the server's validator,
  replayed in this process on the same Bundles in the same order).

As the yardstick, in the same run, the bare `Observation.model_validate_json`
rate of fhir.resources on the same Observations. Yardstick rounds and uploads
alternate, Bundle by Bundle, so all see the same machine: on a shared virtual
machine the speed of one core drifts by a third within a minute.

Every upload goes as a home gateway's does, with a gateway token bound to its
patients. A fourth server on an empty store runs without its audit trail
(`HOMEVITALS_BENCH_AUDIT=off`, development mode, as all four are), sent the same
Bundles turn about with the empty and full stores: what auditing costs.

Targets: at least 0.6 of the bare validation rate on both kinds of Bundle and at
least 2,000 Observations/s (issue 4); the full store at least 0.8 of the empty
store's rate (issue 10); with auditing at least 0.9 of the rate without (issue 11).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _homes import home_upload, make_homes, patient_resource
from _server import gateway_token, start_server, stop_server
from query import fill

from device_adapters import BloodPressureMeasurement, Quantity, Unit
from fhir_api import validation
from fhir_api.app import BENCH_AUDIT_OFF
from fhir_api.settings import Settings
from fhir_api.storage.database import make_engine, migrate
from fhir_api.storage.series.sql import SqlSeriesStore
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
TARGET_FULL_RATIO = 0.8
TARGET_AUDIT_RATIO = 0.9  # auditing costs at most 10 % of ingest (issue 11)
WARM_UP = 5
BENCH_PATIENTS = 10


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
            patient = PatientLink(logical_id=f"bench-{b % BENCH_PATIENTS}")
            ctx = MappingContext(CUFF, GATEWAY, patient, received)
            resources.extend(map_reading(reading, ctx))
            n += 1
        entries = upload_entries(resources, CUFF, GATEWAY, None)
        bundles.append(json.dumps(transaction_bundle(entries)).encode())
        observations.extend(json.dumps(r).encode() for r in resources)
    return bundles, observations


def patients_bundle(resources: list[dict[str, object]]) -> bytes:
    """One transaction that PUTs these Patients (the Bundles refer to them)."""
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"Patient/{r['id']}"}}
        for r in resources
    ]
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


def validate_bare(observations: list[bytes]) -> float:
    """Seconds fhir.resources takes to validate these Observations, nothing else."""
    began = time.perf_counter()
    for document in observations:
        Observation.model_validate_json(document)
    return time.perf_counter() - began


def build_full_store(data: Path, patients: int, long_years: int) -> None:
    """The query bench's data set, with its rollups, in the SQLite store in `data`."""
    settings = Settings(data_dir=data)
    migrate(make_engine(settings.sqlalchemy_url))
    began = time.perf_counter()
    total = fill(data / "homevitals.db", patients, long_years)
    engine = make_engine(settings.sqlalchemy_url)
    SqlSeriesStore(engine, settings.zone).ensure_rollups()
    engine.dispose()
    print(
        f"full store: {total:,} values and their identifiers ({patients:,} patients x 1 year"
        f" + 1 x {long_years} years), built with rollups in {time.perf_counter() - began:.0f} s"
    )


def memo_hit_rate(bundles: list[bytes]) -> float:
    """The element memo's hit rate on these Bundles after the warm-up ones, in this process.

    The server validates each Bundle with the same validator in the same order, so
    its memo meets the same elements: this is its hit rate, counted where it can be read.
    """
    elements = validation._ELEMENTS
    for body in bundles[:WARM_UP]:
        validation.validate_resource(orjson.loads(body), "Bundle")
    elements.hits = elements.misses = 0
    for body in bundles[WARM_UP:]:
        validation.validate_resource(orjson.loads(body), "Bundle")
    return elements.hit_rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundles", type=int, default=60, help="Bundles to upload (100 Observations each)"
    )
    parser.add_argument(
        "--patients", type=int, default=1000, help="patients with a year in the full store"
    )
    parser.add_argument("--long-years", type=int, default=5)
    parser.add_argument("--homes", type=int, default=1000, help="homes the mix comes from")
    parser.add_argument("--mix-bundles", type=int, default=60, help="Bundles of the mix")
    parser.add_argument(
        "--readings", type=int, default=64, help="readings per mix Bundle (~1.5 Observations each)"
    )
    parser.add_argument("--port", type=int, default=8931)
    args = parser.parse_args()

    print(
        f"building {args.bundles} Bundles of {OBSERVATIONS_PER_BUNDLE} Observations, and "
        f"{args.mix_bundles} Bundles of {args.readings} readings from {args.homes} homes ..."
    )
    bundles, observations = make_bundles(args.bundles + WARM_UP)
    homes = make_homes(args.homes, prefix="mix")
    rng = random.Random(5)  # noqa: S311 - test data
    mix = [
        home_upload(rng.choice(homes), args.readings, rng, datetime(2025, 3, 1, 7) + timedelta(n))
        for n in range(args.mix_bundles + WARM_UP)
    ]
    bench_patients = [
        {"resourceType": "Patient", "id": f"bench-{n}"} for n in range(BENCH_PATIENTS)
    ]
    for chunk in range(WARM_UP):  # warm-up of the yardstick
        validate_bare(
            observations[chunk * OBSERVATIONS_PER_BUNDLE : (chunk + 1) * OBSERVATIONS_PER_BUNDLE]
        )
    with tempfile.TemporaryDirectory(prefix="hv-bench-") as tmp:
        empty_dir, full_dir, mix_dir = (Path(tmp) / name for name in ("empty", "full", "mix"))
        build_full_store(full_dir, args.patients, args.long_years)
        servers = []
        try:
            clients = {}
            unaudited_dir = Path(tmp) / "unaudited"
            stores = (
                ("empty", empty_dir, bench_patients),
                ("full", full_dir, bench_patients),
                ("mix", mix_dir, [patient_resource(h) for h in homes]),
                ("unaudited", unaudited_dir, bench_patients),
            )
            for offset, (name, where, patients) in enumerate(stores):
                where.mkdir(exist_ok=True)
                # Every server in development mode, so that only the audit switch differs.
                environment = {"HOMEVITALS_DEVELOPMENT": "true"}
                if name == "unaudited":
                    environment[BENCH_AUDIT_OFF[0]] = BENCH_AUDIT_OFF[1]
                server, token = start_server(where, args.port + offset, environment)
                servers.append(server)
                base = f"http://127.0.0.1:{args.port + offset}/fhir"
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/fhir+json",
                }
                with httpx.Client(base_url=base, headers=headers, timeout=120) as admin:
                    admin.post("/", content=patients_bundle(patients)).raise_for_status()
                # Uploads as a home gateway does: with a gateway token bound to its patients
                # (access checks, Device ownership and the transaction's AuditEvent).
                headers["Authorization"] = f"Bearer {gateway_token(where, patients)}"
                clients[name] = httpx.Client(base_url=base, headers=headers, timeout=120)
            empty, full, mixed = clients["empty"], clients["full"], clients["mix"]
            for client in (empty, full, clients["unaudited"]):
                for warm in bundles[:WARM_UP]:  # warm-up: imports, caches, first table pages
                    client.post("/", content=warm).raise_for_status()
            for warm, _ in mix[:WARM_UP]:
                mixed.post("/", content=warm).raise_for_status()

            timings: dict[str, list[float]] = {"empty": [], "full": [], "mix": [], "unaudited": []}
            bare, mix_bare = [], []
            for index, body in enumerate(bundles[WARM_UP:], start=WARM_UP):
                own = observations[
                    index * OBSERVATIONS_PER_BUNDLE : (index + 1) * OBSERVATIONS_PER_BUNDLE
                ]
                bare.append(validate_bare(own))
                order = ("empty", "full", "unaudited")
                order = order[index % 3 :] + order[: index % 3]  # each first in turn
                for name in order:
                    t0 = time.perf_counter()
                    clients[name].post("/", content=body).raise_for_status()
                    timings[name].append(time.perf_counter() - t0)
            mix_stored = 0
            for body, own in mix[WARM_UP:]:
                mix_bare.append(validate_bare(own))
                t0 = time.perf_counter()
                mixed.post("/", content=body).raise_for_status()
                timings["mix"].append(time.perf_counter() - t0)
                mix_stored += len(own)
            again = time.perf_counter()
            empty.post("/", content=bundles[WARM_UP]).raise_for_status()
            duplicate_ms = (time.perf_counter() - again) * 1000
            for client in clients.values():
                client.close()
        finally:
            for server in servers:
                stop_server(server)
    hit_rate = memo_hit_rate([body for body, _ in mix])

    stored = args.bundles * OBSERVATIONS_PER_BUNDLE
    yardstick = stored / sum(bare)
    rate = stored / sum(timings["empty"])
    full_rate = stored / sum(timings["full"])
    ratio = rate / yardstick
    full_ratio = full_rate / rate
    mix_yardstick = mix_stored / sum(mix_bare)
    mix_rate = mix_stored / sum(timings["mix"])
    mix_ratio = mix_rate / mix_yardstick
    unaudited_rate = stored / sum(timings["unaudited"])
    audit_ratio = rate / unaudited_rate
    median = statistics.median(timings["empty"]) * 1000
    p95 = sorted(timings["empty"])[int(len(timings["empty"]) * 0.95) - 1] * 1000
    print(
        f"fhir.resources Observation.model_validate_json (yardstick): {yardstick:,.0f} Observations/s"
    )
    print(
        f"server ingest, transaction Bundles of {OBSERVATIONS_PER_BUNDLE}, 1 worker, SQLite: {rate:,.0f} Observations/s"
    )
    print(
        f"  median Bundle {median:.1f} ms, p95 {p95:.1f} ms; re-upload of a stored Bundle {duplicate_ms:.1f} ms"
    )
    print(f"ratio to bare validation: {ratio:.2f} (target >= {TARGET_RATIO})")
    print(
        f"into the full store ({args.patients:,} patients x 1 year): {full_rate:,.0f} Observations/s, "
        f"{full_ratio:.2f} of the empty store's rate (target >= {TARGET_FULL_RATIO}): "
        f"{'met' if full_ratio >= TARGET_FULL_RATIO else 'NOT met'}"
    )
    print(
        f"mix of {len(mix) - WARM_UP} Bundles from {args.homes:,} homes ({mix_stored:,} "
        f"Observations): {mix_rate:,.0f} "
        f"Observations/s, yardstick {mix_yardstick:,.0f}/s, ratio {mix_ratio:.2f} "
        f"(target >= {TARGET_RATIO}): {'met' if mix_ratio >= TARGET_RATIO else 'NOT met'}; "
        f"element memo hit rate {hit_rate:.1%}"
    )
    print(
        f"auditing: {rate:,.0f} Observations/s with the audit trail, {unaudited_rate:,.0f}/s "
        f"without (same Bundles, turn about): {audit_ratio:.2f} "
        f"(target >= {TARGET_AUDIT_RATIO}): {'met' if audit_ratio >= TARGET_AUDIT_RATIO else 'NOT met'}"
    )
    print(
        f"target >= {TARGET_RATE:,.0f} Observations/s: {'met' if rate >= TARGET_RATE else 'NOT met'}; "
        f"ratio target: {'met' if ratio >= TARGET_RATIO else 'NOT met'}"
    )
    met = (
        rate >= TARGET_RATE
        and ratio >= TARGET_RATIO
        and full_ratio >= TARGET_FULL_RATIO
        and mix_ratio >= TARGET_RATIO
        and audit_ratio >= TARGET_AUDIT_RATIO
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())

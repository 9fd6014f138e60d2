"""The alert queue's hot paths: upload to notification, evaluation throughput, the scan.

Run: `.venv/bin/python bench/alerts_queue.py [--postgresql URL]` (SQLite in a temporary
folder by default; URL: an empty database of its own, e.g. one made with createdb). Prints:

- upload to notification (issue 13: under 2 s): an urgent blood pressure POSTed to a
  real server (uvicorn in this process, its alert worker running) until the message
  reaches a webhook receiver on loopback; median and worst of 20;
- evaluation: readings queued for 200 patients evaluated by one worker, per reading;
- scan (issue 13: 10,000 patients under 1 s, with the rules): the storage side of a
  scan of 10,000 due patients (lock, read, write back) around a rule that does nothing.

The rules here are stand-ins (one threshold, no state): the rules' own cost is measured
by the core's benchmark.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import sqlalchemy as sa
import uvicorn

from fhir_api.alerts import store as alert_store
from fhir_api.alerts.seam import Evaluation, Outgoing
from fhir_api.alerts.worker import evaluate_next, scan_due
from fhir_api.app import build_store, create_app
from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings
from fhir_api.storage.schema import alert_state, alert_work

NURSE = "Practitioner/bench-nurse"


class Threshold:
    """Stand-in rules: a systolic pressure of 180 or more is urgent and goes to the nurse."""

    def evaluate(
        self,
        patient_id: str,
        state: Mapping[str, Any],
        observations: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> Evaluation:
        outgoing = [
            Outgoing(NURSE, o["id"], now, {"title": "urgent", "body": patient_id})
            for o in observations
            if any(c["valueQuantity"]["value"] >= 180 for c in o.get("component", ())[:1])
        ]
        return Evaluation(state=dict(state), outgoing=outgoing)

    def scan(self, patient_id: str, state: Mapping[str, Any], now: datetime) -> Evaluation:
        return Evaluation(state=dict(state))


def blood_pressure(subject: str, systolic: int, minute: int) -> dict[str, Any]:
    def component(code: str, value: int) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {
                "value": value,
                "unit": "mm[Hg]",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }

    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": f"2026-11-30T{minute // 60:02d}:{minute % 60:02d}:00+09:00",
        "component": [component("8480-6", systolic), component("8462-4", 90)],
    }


def settings_for(folder: Path, url: str | None, **extra: Any) -> Settings:
    if url:
        return Settings(data_dir=folder, database_url=url, series_backend="postgresql", **extra)
    return Settings(data_dir=folder, **extra)


def upload_to_notification(folder: Path, url: str | None) -> list[float]:
    arrived: list[float] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived.append(time.perf_counter())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    channels = {"hook": f"json://127.0.0.1:{hook.server_address[1]}/alerts"}
    settings = settings_for(folder, url, notify_channels=channels, development=True)
    store = build_store(settings)
    app = create_app(settings, store, evaluator=Threshold())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    token = TokenStore(store.engine).create("bench", Role.SYSTEM)
    with store.transaction() as tx:
        alert_store.set_recipient_channel(tx.connection, NURSE, "hook", None)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    latencies = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/fhir", headers=headers) as client:
        client.put("/Patient/bench-1", json={"resourceType": "Patient", "id": "bench-1"})
        for minute in range(20):
            before = len(arrived)
            start = time.perf_counter()
            client.post("/Observation", json=blood_pressure("Patient/bench-1", 200, minute))
            while len(arrived) == before:
                time.sleep(0.001)
            latencies.append(arrived[-1] - start)
    server.should_exit = True
    thread.join(timeout=30)
    hook.shutdown()
    store.engine.dispose()
    return latencies


def evaluation_per_reading(folder: Path, url: str | None, readings: int = 2_000) -> float:
    store = build_store(settings_for(folder, url))
    with store.transaction() as tx:
        tx.connection.execute(
            sa.insert(alert_work),
            [
                {"observation_id": f"o{i}", "patient_id": f"p{i % 200}", "created_ms": i}
                for i in range(readings)
            ],
        )
    start = time.perf_counter()
    while evaluate_next(store, Threshold()) is not None:
        pass
    elapsed = time.perf_counter() - start
    store.engine.dispose()
    return elapsed / readings


def scan(folder: Path, url: str | None, patients: int = 10_000) -> float:
    store = build_store(settings_for(folder, url))
    with store.transaction() as tx:
        tx.connection.execute(
            sa.insert(alert_state),
            [
                {
                    "patient_id": f"s{i}",
                    "state": json.dumps({"last": i}),
                    "due_ms": 1,
                    "updated_ms": 0,
                }
                for i in range(patients)
            ],
        )
    start = time.perf_counter()
    scanned = scan_due(store, Threshold(), lambda: datetime.now(UTC))
    elapsed = time.perf_counter() - start
    assert scanned == patients
    store.engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", metavar="URL", help="an empty PostgreSQL database")
    args = parser.parse_args()
    backend = "PostgreSQL" if args.postgresql else "SQLite"
    with tempfile.TemporaryDirectory() as folder:
        latencies = upload_to_notification(Path(folder), args.postgresql)
        print(
            f"{backend}: upload to notification: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"worst {max(latencies) * 1000:.0f} ms (target < 2000 ms)"
        )
        per_reading = evaluation_per_reading(Path(folder), args.postgresql)
        print(f"{backend}: evaluation: {per_reading * 1000:.2f} ms per reading (200 patients)")
        elapsed = scan(Path(folder), args.postgresql)
        print(f"{backend}: scan of 10,000 due patients, storage side: {elapsed:.2f} s")


if __name__ == "__main__":
    main()

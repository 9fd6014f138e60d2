"""What the alert core costs: the no-reading scan of 10,000 patients, and one evaluation.

Run: `.venv/bin/python bench/alerts.py [--patients 10000]`. Pure Python, no database:
the queue's own costs (reading the due states, writing the changes) come on top.
Prints (median of several rounds):

- scan: `scan()` over every patient's state (no reading for 3 days, 500 gateways of
  which 10 are offline and suppress their patients' alerts, escalations). Issue 13's
  target for the whole no-reading scan is under 1 s; with `next_due` the queue reads
  only the states that are due, so this is the worst case (every patient at once);
- evaluate: one arriving blood-pressure sitting judged against a week of history
  (the work per reading the queue does inside its transaction);
- state JSON: a week's state to JSON types and back (the queue's row).

- upload to notification: the real server (`homevitals server` on SQLite, the real
  rules, a json:// webhook channel to a receiver on loopback): from the POST of an
  urgent blood pressure to the webhook receiving its message (issue 13's target:
  under 2 s). One new patient (with a care manager in its care team) per round.
  `--no-server` leaves it out.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from fhir_api.alerts import (
    UNITS,
    GatewayState,
    Kind,
    PatientState,
    Reading,
    evaluate,
    rules_for,
    scan,
    state_from_json,
    state_to_json,
)

ROUNDS = 7
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def _states(patients: int) -> list[PatientState]:
    """Patients last measured 0-4 days ago, 20 per gateway."""
    return [
        PatientState(
            f"p{n}",
            last_seen={Kind.SYSTOLIC: NOW - timedelta(days=n % 5), Kind.PULSE: NOW},
            gateway=f"Device/gw{n % (patients // 20)}",
        )
        for n in range(patients)
    ]


def _sitting(patient: str, at: datetime, n: int) -> list[Reading]:
    return [
        Reading(patient, kind, value, UNITS[kind], at, f"o{n}", gateway="Device/gw1")
        for kind, value in ((Kind.SYSTOLIC, 128.0 + n % 15), (Kind.DIASTOLIC, 82.0))
    ]


def _median(run: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _webhook() -> tuple[ThreadingHTTPServer, list[float]]:
    """A receiver on loopback: the moments (perf_counter) its POSTs arrived."""
    arrived: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrived.append(time.perf_counter())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, arrived


def _care_manager(data_dir: Path, practitioner: str) -> None:
    """A care manager's account and webhook channel, in the server's store."""
    from fhir_api.alerts.store import set_recipient_channel
    from fhir_api.storage.schema import staff_accounts

    engine = sa.create_engine(f"sqlite:///{data_dir / 'homevitals.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(staff_accounts).values(
                    username="bench-cm",
                    roles="care_manager",
                    practitioner_id=practitioner,
                    created_ms=0,
                )
            )
            set_recipient_channel(connection, f"Practitioner/{practitioner}", "bench-hook", None)
    finally:
        engine.dispose()


def upload_to_notification(rounds: int = 5) -> list[float]:
    """Seconds from an urgent reading's POST to its webhook message, per round."""
    import httpx

    from bench._server import start_server, stop_server

    receiver, arrived = _webhook()
    port = receiver.server_address[1]
    channels = {"bench-hook": f"json://127.0.0.1:{port}/alerts"}
    with tempfile.TemporaryDirectory(prefix="hv-bench-alerts-") as folder:
        data_dir = Path(folder)
        server_port = _free_port()
        server, token = start_server(
            data_dir, server_port, {"HOMEVITALS_NOTIFY_CHANNELS": json.dumps(channels)}
        )
        try:
            url = f"http://127.0.0.1:{server_port}/fhir"
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
            latencies = []
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                made = client.post("/Practitioner", json={"resourceType": "Practitioner"})
                practitioner = made.json()["id"]
                _care_manager(data_dir, practitioner)
                for n in range(rounds):
                    patient = client.post("/Patient", json={"resourceType": "Patient"})
                    subject = f"Patient/{patient.json()['id']}"
                    team = {
                        "resourceType": "CareTeam",
                        "status": "active",
                        "subject": {"reference": subject},
                        "participant": [{"member": {"reference": f"Practitioner/{practitioner}"}}],
                    }
                    client.post("/CareTeam", json=team).raise_for_status()
                    before = len(arrived)
                    started = time.perf_counter()
                    client.post("/Observation", json=_urgent(subject, n)).raise_for_status()
                    while len(arrived) == before:
                        if time.perf_counter() - started > 30:
                            raise SystemExit("no notification within 30 s: see server.log")
                        time.sleep(0.005)
                    latencies.append(arrived[before] - started)
        finally:
            stop_server(server)
            receiver.shutdown()
    return latencies


def _urgent(subject: str, n: int) -> dict[str, object]:
    loinc = "http://loinc.org"
    mmhg = {"unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
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
        "code": {"coding": [{"system": loinc, "code": "85354-9"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": datetime.now(UTC).isoformat(timespec="seconds"),
        "component": [
            {
                "code": {"coding": [{"system": loinc, "code": "8480-6"}]},
                "valueQuantity": {"value": 190 + n, **mmhg},
            },
            {
                "code": {"coding": [{"system": loinc, "code": "8462-4"}]},
                "valueQuantity": {"value": 100, **mmhg},
            },
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--no-server", action="store_true", help="skip the server's figure")
    args = parser.parse_args()
    rules = rules_for(zone="Asia/Tokyo")
    states = _states(args.patients)
    gateways = args.patients // 20
    heartbeats = {
        f"Device/gw{n}": NOW - timedelta(days=1 if n % 50 == 3 else 0, hours=1)
        for n in range(gateways)
    }
    seconds = _median(lambda: scan(states, heartbeats, rules, NOW, GatewayState()))
    out = scan(states, heartbeats, rules, NOW, GatewayState())
    print(f"scan of {args.patients:,} patients, {gateways} gateways: {seconds * 1000:.0f} ms")
    print(f"  ({len(out.changes):,} alerts opened; target for the whole scan: < 1000 ms)")

    week = PatientState("p1")
    n = 0
    for day in range(7):
        for hour in (7, 20):
            for minute in (0, 2):
                at = NOW - timedelta(days=7 - day) + timedelta(hours=hour - 7, minutes=minute)
                week = evaluate(week, _sitting("p1", at, n), rules, at).state
                n += 1
    arriving = _sitting("p1", NOW, n) + _sitting("p1", NOW + timedelta(minutes=2), n + 1)
    per = _median(lambda: evaluate(week, arriving, rules, NOW + timedelta(minutes=3)), 50)
    print(f"evaluate one sitting against a week of history: {per * 1e6:.0f} us")
    row = state_to_json(week)
    json_s = _median(lambda: state_from_json(state_to_json(week)), 50)
    print(f"state to JSON and back ({len(str(row)):,} characters): {json_s * 1e6:.0f} us")
    if not args.no_server:
        latencies = upload_to_notification()
        print(
            f"upload to notification sent (real server, SQLite, webhook): median "
            f"{statistics.median(latencies) * 1000:.0f} ms, worst {max(latencies) * 1000:.0f} ms "
            f"of {len(latencies)} (target: < 2000 ms)"
        )


if __name__ == "__main__":
    main()

"""The clinician view's patient list with 1,000 patients: server time to render /patients.

Run: `.venv/bin/python bench/ui.py [--patients 1000] [--days 30] [--postgresql]`.
One doctor in every patient's care team; each patient has a home gateway (its
heartbeat Device, owned by that gateway) and `--days` days of readings: morning
and evening blood pressure with the cuff's pulse, and a daily SpO2 (6 a day).
The data goes in through `FhirService.bundle` (the FHIR API's code, without HTTP,
to load quickly). Timed over real HTTP on loopback with the doctor's session:
GET /patients (the whole list) and a name search; beside them, the same run's
bare `$lastn` for one patient (system token) as a yardstick, and the list's server
work without HTTP and templates (`build_rows`).

Target (issue 12): the list under 300 ms for 1,000 patients.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _server import postgres_database

from clinician_ui.list_routes import PAGE_ROWS, ListQuery, build_rows
from fhir_api.access.gateways import GatewayRegistry
from fhir_api.access.loader import AccessLoader
from fhir_api.accounts.store import AccountStore
from fhir_api.app import build_store, create_app
from fhir_api.auth import TokenStore, staff_principal
from fhir_api.roles import StaffRole, TokenKind
from fhir_api.settings import Settings
from tests.services import free_port
from tests.ui.world import HOUR, blood_pressure, heartbeat, patient, pulse, spo2

DAY = 24 * HOUR
KANA = "アイウエオカキクケコサシスセソタチツテト"


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
            for r in resources
        ],
    }


def load(app: Any, patients: int, days: int, now: float) -> str:
    """Patients, a doctor in all their care teams, gateways and readings; the doctor's
    Practitioner id."""
    service = app.state.service
    engine = app.state.store.engine
    registry = GatewayRegistry(engine)
    doctor = service.create(
        "Practitioner", {"resourceType": "Practitioner", "name": [{"family": "医師"}]}
    ).stored.id
    started = time.perf_counter()
    for index in range(patients):
        kana = KANA[index % len(KANA)] + KANA[(index // len(KANA)) % len(KANA)]
        body = patient(f"患者{index:04d}", "太郎", kana, "タロウ")
        pid = service.create("Patient", body).stored.id
        service.create(
            "CareTeam",
            {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [{"member": {"reference": f"Practitioner/{doctor}"}}],
            },
        )
        home = f"home-{index}"
        registry.bind(home, [pid])
        gateway = heartbeat(
            home,
            f"B8-27-EB-FF-FE-{index // 65536:02X}-{index // 256 % 256:02X}-{index % 256:02X}",
            80,
        )
        gid = service.create("Device", gateway).stored.id
        registry.claim_device(home, gid)
        subject, ref = f"Patient/{pid}", f"Device/{gid}"
        readings = []
        for day in range(days):
            for hours in (2 + index % 5, 14 + index % 3):
                when = now - hours * HOUR - day * DAY
                readings += [
                    blood_pressure(subject, ref, when, 110 + (index + day) % 50, 70 + day % 25),
                    pulse(subject, ref, when, 55 + (index * 7 + day) % 50),
                ]
            readings.append(spo2(subject, ref, now - 4 * HOUR - day * DAY, 88 + day % 10))
        service.bundle(_bundle(readings))
        if index % 100 == 99:
            rate = (index + 1) / (time.perf_counter() - started)
            print(f"  loaded {index + 1} patients ({rate:.0f}/s)", flush=True)
    return str(doctor)


def _median_ms(work: Any, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times)


def _parts(service: Any, access: Any, zone: Any, runs: int) -> dict[str, tuple[float, float]]:
    """The list's steps one by one (medians), to see where its time goes."""
    from clinician_ui import list_routes, summary

    now_ms = int(time.time() * 1000)
    patients = list_routes._all(service, "Patient", [], access)
    ids = [p.id for p in patients]
    readings = list_routes._newest(service, ids, access)
    days = service.reading_days(
        ids, codes=summary.CODES, days=summary.ADHERENCE_DAYS, end_ms=now_ms, access=access
    )
    gateways = list_routes._gateways(service, readings, access)

    def rows() -> None:
        for p in patients:
            summary.patient_row(p.content, readings[p.id], days[p.id], gateways, zone, now_ms)

    return {
        "Patient search": _median_ms(
            lambda: list_routes._all(service, "Patient", [], access), runs
        ),
        "newest_readings": _median_ms(lambda: list_routes._newest(service, ids, access), runs),
        "reading_days": _median_ms(
            lambda: service.reading_days(
                ids, codes=summary.CODES, days=30, end_ms=now_ms, access=access
            ),
            runs,
        ),
        "gateway Devices": _median_ms(
            lambda: list_routes._gateways(service, readings, access), runs
        ),
        "rows (pure)": _median_ms(rows, runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgresql", action="store_true")
    args = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        extra: dict[str, Any] = {"require_totp": False, "session_secret": secrets.token_urlsafe(32)}
        if args.postgresql:
            url = stack.enter_context(postgres_database())
            extra |= {"database_url": url, "series_backend": "postgresql"}
        settings = Settings(data_dir=tmp, **extra)
        store = build_store(settings)
        app = create_app(settings, store)
        now = time.time()
        print(
            f"loading {args.patients} patients x {args.days} days ({'PostgreSQL' if args.postgresql else 'SQLite'})"
        )
        doctor = load(app, args.patients, args.days, now)
        accounts = AccountStore(store.engine, clock=time.time)
        accounts.create("bench-doctor", (StaffRole.DOCTOR,), doctor, "Bench Doctor")
        password = f"correct horse {secrets.token_hex(6)}"
        accounts.set_password("bench-doctor", password, by_admin=False)
        token = TokenStore(store.engine).create("bench", TokenKind.SYSTEM)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        root = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=root, timeout=60) as browser:
            form = browser.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            answer = browser.post(
                "/login", data={"csrf": csrf, "username": "bench-doctor", "password": password}
            )
            assert answer.status_code == 303, answer.text
            page = browser.get("/patients")
            rows = page.text.count("data-patient=")
            assert rows == min(args.patients, PAGE_ROWS), rows
            full = _median_ms(lambda: browser.get("/patients").raise_for_status(), args.runs)
            search = _median_ms(
                lambda: browser.get("/patients", params={"q": "アイ"}).raise_for_status(), args.runs
            )
            print(
                f"page size: {len(page.content) / 1024:.0f} KiB for {rows} rows (a page of the list)"
            )
        first = store.engine.connect()
        first.close()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"{root}/fhir", headers=headers, timeout=60) as fhir:
            some = fhir.get("/Patient", params={"_count": "1"}).json()["entry"][0]["resource"]["id"]
            lastn = _median_ms(
                lambda: fhir.get(
                    "/Observation/$lastn", params={"patient": some, "max": "1"}
                ).raise_for_status(),
                args.runs,
            )
        principal = staff_principal(
            accounts.by_username("bench-doctor").id, "bench-doctor", "doctor", doctor
        )
        access = AccessLoader(store.engine).load(principal)
        query = ListQuery("", "name", False, False)
        work = _median_ms(
            lambda: build_rows(
                app.state.service, access, query, int(time.time() * 1000), settings.zone
            ),
            args.runs,
        )
        parts = _parts(app.state.service, access, settings.zone, args.runs)
        server.should_exit = True
        thread.join(timeout=10)
        store.engine.dispose()
    print(
        f"GET /patients ({args.patients} patients): median {full[0]:.0f} ms (best {full[1]:.0f})  target < 300 ms"
    )
    print(f"GET /patients?q= (name search): median {search[0]:.0f} ms (best {search[1]:.0f})")
    print(f"  the list's reads and rows without HTTP and template: median {work[0]:.0f} ms")
    for name, (median, _best) in parts.items():
        print(f"    {name}: median {median:.0f} ms")
    print(f"  yardstick, one patient's $lastn over HTTP: median {lastn[0]:.1f} ms")


if __name__ == "__main__":
    main()

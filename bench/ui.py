"""The clinician view with 1,000 patients: server time of the list and of a patient's
90-day page, beside the same run's bare `$lastn` / `$stats`, and Chromium's time from
navigation to the charts drawn.

Run: `.venv/bin/python bench/ui.py [--patients 1000] [--days 30] [--postgresql]`
(`--data-dir DIR` keeps a SQLite world between runs: loading takes a minute).
One doctor in every patient's care team; each patient has a home gateway (its
heartbeat Device, owned by that gateway) and `--days` days of readings: morning
and evening blood pressure with the cuff's pulse, and a daily SpO2 (5 a day). The
first patient, whose page is opened, has `--page-days` days of them and a sleep
night each. The data goes in through `FhirService.bundle` (the FHIR API's code,
without HTTP, to load quickly). On PostgreSQL the bench runs ANALYZE every 100
patients and after the load: the test server here runs with autovacuum off, so its
tables would never get planner statistics, and the timings would be those of plans
made for empty tables. A production server's autovacuum gathers them by itself: this
is the bench's doing, not the product's.

Timed over real HTTP on loopback, in turns (one of each per round, so a busy machine
weighs on all alike), with the doctor's session:
- GET /patients (the list as it opens: by name, first page), a name search, the list
  sorted by blood pressure (every patient's newest values) and "only flagged" (every
  patient's whole row);
- GET /patients/{id}?period=90 (the page; its charts' data is in the page) and
  /patients/{id}/chart.json?period=90 (the same data as JSON, for other clients);
- yardsticks with a system token: `$lastn` (max=1) and `$stats` over the 90 days
  for that patient, the bare FHIR operations the pages are built on.
Then in headless Chromium (`HOMEVITALS_BENCH_CHROMIUM`, else /usr/bin/chromium): navigation
to the page's "hv-charts-drawn" performance mark (static/charts.js sets it when every
chart has drawn; its startTime counts from the navigation's start).

Targets (issue 12), on the medians: list < 300 ms, patient page < 200 ms, charts
drawn < 1 s.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _server import postgres_database

from clinician_ui import list_routes, patient_routes, summary
from clinician_ui.charts import STATS_CODES
from clinician_ui.list_routes import PAGE_ROWS, ListQuery, build_page, build_rows
from fhir_api.access.gateways import GatewayRegistry
from fhir_api.access.loader import AccessLoader
from fhir_api.accounts.store import AccountStore
from fhir_api.app import build_store, create_app
from fhir_api.auth import TokenStore, staff_principal
from fhir_api.roles import StaffRole, TokenKind
from fhir_api.settings import Settings
from tests.services import free_port
from tests.ui.world import (
    HOUR,
    TOKYO,
    blood_pressure,
    heartbeat,
    patient,
    pulse,
    sleep_night,
    spo2,
)

DAY = 24 * HOUR
KANA = "アイウエオカキクケコサシスセソタチツテト"
PERIOD = 90
TARGETS_MS = {"list": 300.0, "page": 200.0, "drawn": 1000.0}
CHROMIUM = os.environ.get("HOMEVITALS_BENCH_CHROMIUM", "/usr/bin/chromium")
_WORLD = "bench-ui.json"  # in --data-dir: the loaded world's ids and the doctor's password


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
            for r in resources
        ],
    }


def _readings(index: int, subject: str, ref: str, days: int, now: float) -> list[dict[str, Any]]:
    readings = []
    for day in range(days):
        for hours in (2 + index % 5, 14 + index % 3):
            when = now - hours * HOUR - day * DAY
            readings += [
                blood_pressure(subject, ref, when, 110 + (index + day) % 50, 70 + day % 25),
                pulse(subject, ref, when, 55 + (index * 7 + day) % 50),
            ]
        readings.append(spo2(subject, ref, now - 4 * HOUR - day * DAY, 88 + day % 10))
    return readings


def load(
    app: Any, patients: int, days: int, page_days: int, now: float, analyze: bool = False
) -> tuple[str, str]:
    """Patients, a doctor in all their care teams, gateways and readings; the doctor's
    Practitioner id and the id of the patient whose page is opened (the first).

    `analyze`: ANALYZE every 100 patients (PostgreSQL), as autovacuum would.
    """
    service = app.state.service
    registry = GatewayRegistry(app.state.store.engine)
    doctor = service.create(
        "Practitioner", {"resourceType": "Practitioner", "name": [{"family": "医師"}]}
    ).stored.id
    started = time.perf_counter()
    first = ""
    for index in range(patients):
        kana = KANA[index % len(KANA)] + KANA[(index // len(KANA)) % len(KANA)]
        body = patient(f"患者{index:04d}", "太郎", kana, "タロウ")
        pid = service.create("Patient", body).stored.id
        first = first or pid
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
        if index == 0:
            readings = _readings(index, subject, ref, max(days, page_days), now)
            readings += [
                sleep_night(subject, ref, now - 8 * HOUR - day * DAY, 360 + day % 90)
                for day in range(page_days)
            ]
        else:
            readings = _readings(index, subject, ref, days, now)
        service.bundle(_bundle(readings))
        if index % 100 == 99:
            if analyze:
                _analyze(app.state.store.engine)
            rate = (index + 1) / (time.perf_counter() - started)
            print(f"  loaded {index + 1} patients ({rate:.0f}/s)", flush=True)
    return str(doctor), first


def _analyze(engine: Any) -> None:
    """Planner statistics after the bulk load (PostgreSQL), as autovacuum would gather."""
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def _summary(times: list[float]) -> tuple[float, float]:
    """Median and 95th percentile (ms)."""
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 else times[0]
    return statistics.median(times), p95


def _timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def _rounds(works: dict[str, Callable[[], Any]], runs: int) -> dict[str, list[float]]:
    """Each work once per round (after one untimed warm-up round), `runs` rounds."""
    for work in works.values():
        work()
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(runs):
        for name, work in works.items():
            times[name].append(_timed(work))
    return times


def _ok(answer: httpx.Response) -> httpx.Response:
    answer.raise_for_status()
    return answer


def _sign_in(client: httpx.Client, password: str) -> None:
    form = client.get("/login")
    match = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert match is not None, form.text
    answer = client.post(
        "/login", data={"csrf": match.group(1), "username": "bench-doctor", "password": password}
    )
    assert answer.status_code == 303, answer.text


def _list_parts(service: Any, access: Any, zone: Any, runs: int) -> dict[str, list[float]]:
    """The steps of the whole list (every row) one by one, to see where its time goes."""
    now_ms = int(time.time() * 1000)
    patients = list_routes.search_all(service, "Patient", [], access)
    ids = [p.id for p in patients]
    readings = list_routes._newest(service, ids, access)
    days = service.reading_days(
        ids, codes=summary.CODES, days=summary.ADHERENCE_DAYS, end_ms=now_ms, access=access
    )
    gateways = list_routes._gateways(service, readings, access)

    def rows() -> None:
        for p in patients:
            summary.patient_row(p.content, readings[p.id], days[p.id], gateways, zone, now_ms)

    return _rounds(
        {
            "Patient search": lambda: list_routes.search_all(service, "Patient", [], access),
            "newest_readings": lambda: list_routes._newest(service, ids, access),
            "reading_days": lambda: service.reading_days(
                ids, codes=summary.CODES, days=summary.ADHERENCE_DAYS, end_ms=now_ms, access=access
            ),
            "gateway Devices": lambda: list_routes._gateways(service, readings, access),
            "rows (pure)": rows,
        },
        runs,
    )


def _page_parts(service: Any, access: Any, patient_id: str, runs: int) -> dict[str, list[float]]:
    """The page's reads and shaping one by one (the `_view` the page and chart.json share)."""
    return _rounds(
        {
            "view (all below)": lambda: patient_routes._view(
                service, access, patient_id, str(PERIOD), None, "ja"
            ),
            "Patient and $stats": lambda: patient_routes.patient_period(
                service, access, patient_id, None, PERIOD
            ),
        },
        runs,
    )


def _profile(work: Callable[[], Any], title: str, runs: int) -> None:
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(runs):
        work()
    profile.disable()
    print(f"\n--- profile: {title} ({runs} runs), by own time ---")
    pstats.Stats(profile).sort_stats("tottime").print_stats(25)


def _browser_times(root: str, page_path: str, password: str, runs: int) -> list[float]:
    """Navigation start to the "hv-charts-drawn" mark, in headless Chromium (ms)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = chromium.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(f"{root}/login")
            page.fill("input[name=username]", "bench-doctor")
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{root}/patients")
            times = []
            for run in range(runs + 1):  # the first warms the cache of static files
                page.goto(f"{root}{page_path}", wait_until="commit")
                page.wait_for_selector("html[data-charts-drawn]", state="attached")
                drawn = page.evaluate(
                    "performance.getEntriesByName('hv-charts-drawn')[0].startTime"
                )
                if run:
                    times.append(float(drawn))
            return times
        finally:
            chromium.close()


def _world(args: argparse.Namespace, app: Any, store: Any, data_dir: Path) -> dict[str, str]:
    """Load the world (or find it in --data-dir) and the doctor's account."""
    saved = data_dir / _WORLD
    if args.data_dir and saved.exists():
        world: dict[str, str] = json.loads(saved.read_text())
        print(f"reusing the world in {data_dir} (loaded {world['loaded']})")
        return world
    now = time.time()
    backend = "PostgreSQL" if args.postgresql else "SQLite"
    print(
        f"loading {args.patients} patients x {args.days} days, the first x {args.page_days} ({backend})"
    )
    analyze = args.postgresql and not args.no_analyze
    doctor, first = load(app, args.patients, args.days, args.page_days, now, analyze)
    if analyze:
        _analyze(store.engine)
    accounts = AccountStore(store.engine, clock=time.time)
    accounts.create("bench-doctor", (StaffRole.DOCTOR,), doctor, "Bench Doctor")
    password = f"correct horse {secrets.token_hex(6)}"
    accounts.set_password("bench-doctor", password, by_admin=False)
    world = {
        "doctor": doctor,
        "patient": first,
        "password": password,
        "loaded": datetime.now(TOKYO).isoformat(timespec="minutes"),
    }
    if args.data_dir:
        saved.write_text(json.dumps(world))
    return world


def _line(name: str, times: list[float], target: float | None = None, extra: str = "") -> str:
    median, p95 = _summary(times)
    text = f"{name}: median {median:.0f} ms, p95 {p95:.0f} ms"
    if target is not None:
        text += f"  target < {target:.0f} ms: {'PASS' if median < target else 'FAIL'}"
    return text + extra


def _ratio(times: list[float], yardstick: list[float], name: str) -> str:
    return f"  ({statistics.median(times) / statistics.median(yardstick):.1f} x {name})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--page-days", type=int, default=PERIOD)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgresql", action="store_true")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the SQLite world here")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium timing")
    parser.add_argument(
        "--no-analyze", action="store_true", help="PostgreSQL without planner statistics"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the list and the page")
    args = parser.parse_args()
    if args.data_dir and args.postgresql:
        parser.error("--data-dir keeps a SQLite world; PostgreSQL's is a throw-away database")
    with ExitStack() as stack:
        data_dir = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        data_dir.mkdir(parents=True, exist_ok=True)
        extra: dict[str, Any] = {"require_totp": False, "session_secret": secrets.token_urlsafe(32)}
        if args.postgresql:
            url = stack.enter_context(postgres_database())
            extra |= {"database_url": url, "series_backend": "postgresql"}
        settings = Settings(data_dir=data_dir, **extra)
        store = build_store(settings)
        stack.callback(store.engine.dispose)
        app = create_app(settings, store)
        world = _world(args, app, store, data_dir)
        token = TokenStore(store.engine).create(f"bench-{secrets.token_hex(3)}", TokenKind.SYSTEM)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        root = f"http://127.0.0.1:{port}"
        pid = world["patient"]
        last = datetime.now(TOKYO).date()
        first: date = last - timedelta(days=PERIOD - 1)
        page_path = f"/patients/{pid}?period={PERIOD}"
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=root, timeout=60) as session,
            httpx.Client(base_url=f"{root}/fhir", headers=headers, timeout=60) as fhir,
        ):
            _sign_in(session, world["password"])
            page = session.get("/patients")
            rows = page.text.count("data-patient=")
            assert rows == min(args.patients, PAGE_ROWS), rows
            patient_page = _ok(session.get(page_path))
            chart = _ok(session.get(f"/patients/{pid}/chart.json", params={"period": PERIOD}))
            assert len(chart.json()["days"]["x"]) == PERIOD
            stats_params = {
                "patient": pid,
                "code": ",".join(STATS_CODES),
                "start": first.isoformat(),
                "end": (last + timedelta(days=1)).isoformat(),
            }
            times = _rounds(
                {
                    "list": lambda: _ok(session.get("/patients")),
                    "search": lambda: _ok(session.get("/patients", params={"q": "アイ"})),
                    "by bp": lambda: _ok(
                        session.get("/patients", params={"sort": "bp", "order": "desc"})
                    ),
                    "flagged": lambda: _ok(session.get("/patients", params={"flagged": "1"})),
                    "lastn": lambda: _ok(
                        fhir.get("/Observation/$lastn", params={"patient": pid, "max": "1"})
                    ),
                    "page": lambda: _ok(session.get(page_path)),
                    "chart.json": lambda: _ok(
                        session.get(f"/patients/{pid}/chart.json", params={"period": PERIOD})
                    ),
                    "stats": lambda: _ok(fhir.get("/Observation/$stats", params=stats_params)),
                },
                args.runs,
            )
        service = app.state.service
        accounts = AccountStore(store.engine, clock=time.time)
        principal = staff_principal(
            accounts.by_username("bench-doctor").id, "bench-doctor", "doctor", world["doctor"]
        )
        access = AccessLoader(store.engine).load(principal)
        query = ListQuery("", "name", False, False)
        now_ms = int(time.time() * 1000)
        parts = {
            **_rounds(
                {
                    "build_page (the list as it opens)": lambda: build_page(
                        service, access, query, now_ms, settings.zone
                    ),
                    "build_rows (every row: other sorts, filters)": lambda: build_rows(
                        service, access, query, now_ms, settings.zone
                    ),
                },
                args.runs,
            ),
            **_list_parts(service, access, settings.zone, args.runs),
        }
        page_parts = _page_parts(service, access, pid, args.runs)
        if args.profile:
            _profile(lambda: build_rows(service, access, query, now_ms, settings.zone), "list", 5)
            _profile(
                lambda: patient_routes._view(service, access, pid, str(PERIOD), None, "ja"),
                "page",
                10,
            )
        drawn = (
            None
            if args.no_browser
            else _browser_times(root, page_path, world["password"], args.runs)
        )
        server.should_exit = True
        thread.join(timeout=10)
    backend = "PostgreSQL" if args.postgresql else "SQLite"
    print(f"\n{backend}, {args.patients} patients, {args.runs} runs in turns")
    print(f"page sizes: list {len(page.content) / 1024:.0f} KiB ({rows} rows), ", end="")
    print(f"patient page {len(patient_page.content) / 1024:.0f} KiB")
    print(
        _line(
            "GET /patients",
            times["list"],
            TARGETS_MS["list"],
            _ratio(times["list"], times["lastn"], "$lastn"),
        )
    )
    print(_line("GET /patients?q= (name search)", times["search"]))
    print(
        _line(
            "GET /patients?sort=bp (every patient's newest values)",
            times["by bp"],
            TARGETS_MS["list"],
            _ratio(times["by bp"], times["lastn"], "$lastn"),
        )
    )
    print(
        _line(
            "GET /patients?flagged=1 (every row read)",
            times["flagged"],
            TARGETS_MS["list"],
            _ratio(times["flagged"], times["lastn"], "$lastn"),
        )
    )
    for name, values in parts.items():
        print(_line(f"    {name}", values))
    print(
        _line(
            f"GET /patients/{{id}}?period={PERIOD}",
            times["page"],
            TARGETS_MS["page"],
            _ratio(times["page"], times["stats"], "$stats"),
        )
    )
    print(
        _line(
            f"GET /patients/{{id}}/chart.json?period={PERIOD}",
            times["chart.json"],
            None,
            _ratio(times["chart.json"], times["stats"], "$stats"),
        )
    )
    for name, values in page_parts.items():
        print(_line(f"    {name}", values))
    print(_line("yardstick: $lastn (max=1) for that patient", times["lastn"]))
    print(_line(f"yardstick: $stats over {PERIOD} days for that patient", times["stats"]))
    if drawn is not None:
        print(_line("Chromium: navigation to charts drawn", drawn, TARGETS_MS["drawn"]))


if __name__ == "__main__":
    main()

"""Chart queries: daily aggregates for one patient over 90 days and over 5 years.

Run: `.venv/bin/python bench/query.py` (a few minutes: it builds the data first).
The store gets 1,000 patients x 1 year x 4 vital codes x 4 readings a day (about
5.8 million values) plus one patient with 5 years of 10 readings a day per code.
It builds the daily rollups as the server does on its first start over existing
data (timed), then times the server's answer to `Observation/$stats` over real
HTTP (the chart request the clinician view makes). The server answers whole days
from its rollups, so the yardstick, in the same run, is direct SQL over the same
rollup rows it reads (stdlib sqlite3, one open connection): the ratio is the HTTP
service's own overhead, and the answer's code-days must equal the rows SQL finds.
The same aggregate computed directly in SQL over the raw points is printed beside
it, for comparison. Every HTTP figure is taken on one keep-alive connection of the
standard library's http.client (httpx's own work on a 1.5 MB answer was a fifth of
the five-year figure); the last line gives the floor of any request on it: the
public GET /fhir/metadata and an authenticated read of one resource.

Then what auditing costs chart reads (issue 11): a doctor's token (the patient in
the doctor's care team, so the access rules run too) sends the chart's requests
(`$stats` over 90 days and `$lastn`) to the server with its audit trail and to the
same server restarted without it (development mode both times), six rounds turn
about; throughput with auditing against without.

Targets: 90 days under 20 ms and 5 years under 150 ms (median, SQLite; issue 4),
each within 2x of direct SQL over the rollup rows (issue 10); with auditing at
least 0.9 of the chart-read throughput without (issue 11).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _server import create_patients, start_server, stop_server

from fhir_api.app import BENCH_AUDIT_OFF
from fhir_api.settings import Settings
from fhir_api.storage.database import make_engine, migrate
from fhir_api.storage.series.sql import SqlSeriesStore

CODES = ("8480-6", "8462-4", "8867-4", "2708-6")
UNITS = {"8480-6": "mm[Hg]", "8462-4": "mm[Hg]", "8867-4": "/min", "2708-6": "%"}
BASE = {"8480-6": 130.0, "8462-4": 80.0, "8867-4": 70.0, "2708-6": 96.0}
DAY_MS = 86_400_000
END = datetime(2026, 11, 1, tzinfo=UTC)
LONG_PATIENT = "Patient/long-term"
PHD_SYSTEM = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation"


def fill(path: Path, patients: int, long_years: int) -> int:
    """Write the series rows, and each reading's identifier, straight into the SQLite store.

    The identifiers are shaped like the gateway's PHD identifiers (one per reading and
    code), so that look-ups by identifier meet a table of a year's size (bench/ingest.py).
    """
    rng = random.Random(7)  # noqa: S311 - test data
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    # The series tables' lean layout (issue 15): subject, code and Observation by integer.
    insert = "INSERT INTO vital_series (subject_id, code_id, ts_ms, observation, value) VALUES (?,?,?,?,?)"
    insert_observation = (
        "INSERT INTO series_observations (key, subject_id, first_ms, last_ms) VALUES (?,?,?,?)"
    )
    code_ids = {}
    for code in CODES:
        code_ids[code] = connection.execute(
            "INSERT INTO series_codes (code, unit) VALUES (?, ?)", (code, UNITS[code])
        ).lastrowid
    # An identifier names its system by a term of the keyed index (issue 15), and the
    # resource by its key: these readings have no resource, so keys no resource has.
    connection.execute(
        "INSERT OR IGNORE INTO search_terms (resource_type, param, system, code)"
        " VALUES ('Observation', 'identifier', ?, '')",
        (PHD_SYSTEM,),
    )
    (term,) = connection.execute(
        "SELECT id FROM search_terms WHERE resource_type = 'Observation'"
        " AND param = 'identifier' AND system = ? AND code = ''",
        (PHD_SYSTEM,),
    ).fetchone()
    insert_identifier = "INSERT INTO identifiers (value, term, resource_key) VALUES (?,?,?)"
    end_ms = int(END.timestamp() * 1000)
    total = 0
    keys = iter(range(1, 1 << 62))

    def rows_for(subject: str, days: int, per_day: int):
        start = end_ms - days * DAY_MS
        step = DAY_MS // per_day
        for day in range(days):
            for k in range(per_day):
                ts = start + day * DAY_MS + k * step + rng.randrange(0, 600_000)
                for code in CODES:
                    yield (
                        subject,
                        code,
                        ts,
                        f"{subject}-{ts}-{code}",
                        BASE[code] + rng.gauss(0, 8),
                        next(keys),
                    )

    subjects = [(f"Patient/p{n:04d}", 365, 4) for n in range(patients)] + [
        (LONG_PATIENT, 365 * long_years, 10)
    ]
    for subject, days, per_day in subjects:
        batch = list(rows_for(subject, days, per_day))
        subject_id = connection.execute(
            "INSERT INTO series_subjects (subject) VALUES (?)", (subject,)
        ).lastrowid
        connection.executemany(
            insert_observation,
            ((key, subject_id, ts, ts) for _, _, ts, _, _, key in batch),
        )
        connection.executemany(
            insert,
            sorted(
                (subject_id, code_ids[code], ts, key, value) for _, code, ts, _, value, key in batch
            ),
        )
        connection.executemany(
            insert_identifier,
            (
                (f"FEEDABEEDEAD0099-{who}-{code}-{ts}", term, -(total + n + 1))
                for n, (who, code, ts, _, _, _) in enumerate(batch)
            ),
        )
        total += len(batch)
        if total % 200_000 < len(batch):
            connection.commit()
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()
    return total


def direct_sql(connection: sqlite3.Connection, days: int) -> float:
    """The same daily aggregate over the raw points, straight through sqlite3 (ms)."""
    end_ms = int(END.timestamp() * 1000)
    query = (
        "SELECT c.code, (ts_ms + ?) / ? AS day, min(value), max(value), sum(value), count(*) "
        "FROM vital_series v JOIN series_codes c ON c.id = v.code_id "
        "WHERE v.subject_id = (SELECT id FROM series_subjects WHERE subject = ?) "
        "AND c.code IN (?,?,?,?) AND ts_ms >= ? AND ts_ms < ? GROUP BY c.code, day"
    )
    began = time.perf_counter()
    connection.execute(
        query, (9 * 3_600_000, DAY_MS, LONG_PATIENT, *CODES, end_ms - days * DAY_MS, end_ms)
    ).fetchall()
    return (time.perf_counter() - began) * 1000


def direct_rollup_sql(connection: sqlite3.Connection, days: int) -> tuple[float, int]:
    """The same days read from the rollup table, straight through sqlite3: (ms, rows)."""
    last = int(END.timestamp() * 1000 + 9 * 3_600_000) // DAY_MS - 1
    query = (
        "SELECT c.code, day, minimum, maximum, total, readings FROM vital_daily d "
        "JOIN series_codes c ON c.id = d.code_id "
        "WHERE d.subject_id = (SELECT id FROM series_subjects WHERE subject = ?) "
        "AND d.zone_id = (SELECT id FROM series_zones WHERE zone = 'Asia/Tokyo') "
        "AND c.code IN (?,?,?,?) AND day >= ? AND day <= ? ORDER BY c.code, day"
    )
    began = time.perf_counter()
    rows = connection.execute(query, (LONG_PATIENT, *CODES, last - days + 1, last)).fetchall()
    return (time.perf_counter() - began) * 1000, len(rows)


TARGET_AUDIT_RATIO = 0.9


def doctor_token(base: str, system: str, db: Path) -> str:
    """A doctor whose care team holds the long-term patient, and a staff token for them."""
    import httpx
    from sqlalchemy import create_engine, insert

    from fhir_api.auth import TokenStore
    from fhir_api.roles import TokenKind
    from fhir_api.storage.schema import staff_accounts

    headers = {"Authorization": f"Bearer {system}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        doctor = client.post("/Practitioner", json={"resourceType": "Practitioner"})
        doctor.raise_for_status()
        team = {
            "resourceType": "CareTeam",
            "subject": {"reference": LONG_PATIENT},
            "participant": [{"member": {"reference": f"Practitioner/{doctor.json()['id']}"}}],
        }
        client.post("/CareTeam", json=team).raise_for_status()
        engine = create_engine(f"sqlite:///{db}")
        with engine.begin() as connection:
            account = connection.execute(
                insert(staff_accounts).values(
                    username="bench-doctor",
                    roles="doctor",
                    practitioner_id=doctor.json()["id"],
                    created_ms=0,
                )
            ).inserted_primary_key[0]
        token = TokenStore(engine).create("bench-doctor", TokenKind.STAFF, account_id=account)
        engine.dispose()
    return token


def audit_cost(data: Path, port: int, token: str, repeat: int) -> dict[str, float]:
    """Chart reads per second with the audit trail ("on") and without ("off")."""
    start = (END - timedelta(days=90)).astimezone(UTC).date().isoformat()
    stats = {"patient": LONG_PATIENT, "code": ",".join(CODES), "start": start}
    paths = [
        f"/fhir/Observation/$stats?{urlencode({**stats, 'end': END.date().isoformat()})}",
        f"/fhir/Observation/$lastn?{urlencode({'patient': LONG_PATIENT, 'max': 3})}",
    ]
    spent = {"on": 0.0, "off": 0.0}
    done = {"on": 0, "off": 0}
    for round_ in range(6):
        mode = ("on", "off")[round_ % 2]
        environment = {"HOMEVITALS_DEVELOPMENT": "true"}
        if mode == "off":
            environment[BENCH_AUDIT_OFF[0]] = BENCH_AUDIT_OFF[1]
        server, _ = start_server(data, port, environment)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for index in range(5 + repeat * len(paths)):
                path = paths[index % len(paths)]
                t0 = time.perf_counter()
                connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    raise SystemExit(f"GET {path}: {response.status}")
                if index >= 5:  # after the warm-up
                    spent[mode] += time.perf_counter() - t0
                    done[mode] += 1
        finally:
            connection.close()
            stop_server(server)
    return {mode: done[mode] / spent[mode] for mode in spent}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--long-years", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--port", type=int, default=8932)
    parser.add_argument(
        "--audit-requests", type=int, default=300, help="chart requests per kind and round"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hv-query-") as tmp:
        data = Path(tmp)
        settings = Settings(data_dir=data)
        migrate(make_engine(settings.sqlalchemy_url))
        db = data / "homevitals.db"
        began = time.perf_counter()
        total = fill(db, args.patients, args.long_years)
        print(
            f"stored {total:,} values in {time.perf_counter() - began:.0f} s ({db.stat().st_size / 1e6:,.0f} MB)"
        )
        began = time.perf_counter()
        engine = make_engine(settings.sqlalchemy_url)
        days_built = SqlSeriesStore(engine, settings.zone).ensure_rollups() or 0
        engine.dispose()
        print(
            f"built {days_built:,} daily rollups ({settings.timezone}) in "
            f"{time.perf_counter() - began:.0f} s, as a first start on existing data does"
        )
        server, token = start_server(data, args.port)
        # $stats answers 404 for a patient the server does not hold (issue 10).
        create_patients(f"http://127.0.0.1:{args.port}/fhir", token, [LONG_PATIENT.split("/")[1]])
        doctor = doctor_token(f"http://127.0.0.1:{args.port}/fhir", token, db)
        direct = sqlite3.connect(db)
        try:
            headers = {"Authorization": f"Bearer {token}"}
            # One keep-alive connection of the standard library for every HTTP figure:
            # httpx's own work reading 1.5 MB was a fifth of the five-year figure.
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)

            def get(path: str) -> bytes:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")
                return body

            try:
                results = {}
                for label, days in (("90 days", 90), ("5 years", 365 * args.long_years)):
                    start = (END - timedelta(days=days)).astimezone(UTC).date().isoformat()
                    params = {
                        "patient": LONG_PATIENT,
                        "code": ",".join(CODES),
                        "start": start,
                        "end": END.date().isoformat(),
                    }
                    path = f"/fhir/Observation/$stats?{urlencode(params)}"
                    day_count = sum(
                        1
                        for p in json.loads(get(path))["parameter"]
                        if p["name"] == "series"
                        for part in p["part"]
                        if part["name"] == "day"
                    )
                    api, sql, rollup = [], [], []
                    rollup_rows = 0
                    for _ in range(args.repeat):  # alternated: all see the same machine
                        t0 = time.perf_counter()
                        get(path)
                        api.append((time.perf_counter() - t0) * 1000)
                        sql.append(direct_sql(direct, days))
                        elapsed, rollup_rows = direct_rollup_sql(direct, days)
                        rollup.append(elapsed)
                    results[label] = (
                        statistics.median(api),
                        statistics.median(sql),
                        statistics.median(rollup),
                        day_count,
                        rollup_rows,
                    )
                floors: dict[str, list[float]] = {"metadata": [], "read": []}
                for _ in range(args.repeat):
                    for name, floor_path in (
                        ("metadata", "/fhir/metadata"),  # public: no token is checked
                        ("read", f"/fhir/{LONG_PATIENT}"),  # a token and one row read
                    ):
                        t0 = time.perf_counter()
                        get(floor_path)
                        floors[name].append((time.perf_counter() - t0) * 1000)
            finally:
                connection.close()
        finally:
            direct.close()
            stop_server(server)
        audited = audit_cost(data, args.port, doctor, args.audit_requests)
    targets = {"90 days": 20.0, "5 years": 150.0}
    ok = True
    for label, (api, sql, rollup, day_count, rollup_rows) in results.items():
        ratio = api / rollup
        same = day_count == rollup_rows
        met = api < targets[label] and ratio <= 2.0 and same
        ok = ok and met
        print(
            f"{label}: $stats over HTTP {api:.1f} ms (median), direct SQL over the same rollup "
            f"rows {rollup:.2f} ms, ratio {ratio:.1f}; {day_count} code-days, SQL finds "
            f"{rollup_rows}{'' if same else ' (DIFFERENT ANSWER)'}; "
            f"target < {targets[label]:.0f} ms and <= 2x: {'met' if met else 'NOT met'}"
        )
        print(
            f"  (direct SQL aggregating the raw points: {sql:.1f} ms, "
            f"$stats / that = {api / sql:.2f})"
        )
    print(
        f"context (same connection): GET /fhir/metadata (no token) takes "
        f"{statistics.median(floors['metadata']):.2f} ms, an authenticated read of the "
        f"Patient {statistics.median(floors['read']):.2f} ms"
    )
    audit_ratio = audited["on"] / audited["off"]
    audit_met = audit_ratio >= TARGET_AUDIT_RATIO
    print(
        f"auditing: a doctor's chart reads ($stats 90 days, $lastn), "
        f"{audited['on']:.0f}/s with the audit trail, {audited['off']:.0f}/s without "
        f"(6 rounds turn about): {audit_ratio:.2f} (target >= {TARGET_AUDIT_RATIO}): "
        f"{'met' if audit_met else 'NOT met'}"
    )
    return 0 if ok and audit_met else 1


if __name__ == "__main__":
    raise SystemExit(main())

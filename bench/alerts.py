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

The other figure of issue 13's bench, from an urgent reading's upload to its
notification being sent (target under 2 s), needs the queue and the server and is
measured once the two are wired together.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
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


if __name__ == "__main__":
    main()

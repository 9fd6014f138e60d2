"""A stand-in evaluator for the queue's own tests (the real rules: alerts/evaluator.py).

Kept where a test is about the queue, not the rules: counting that each reading is
evaluated once, workers overlapping, a rule that raises on purpose, the crash hook.

It keeps, in the patient's state, the ids of the Observations it has seen, so a
test can count that each reading was evaluated once; a systolic pressure of 180 or
more opens an urgent alert and sends one message per occasion (grouping key) to the
patient's nurse.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fhir_api.alerts.seam import AlertRecord, Evaluation, Outgoing

NURSE = "Practitioner/nurse-1"
URGENT_SYSTOLIC = 180
# Crash test only: the first evaluation in any process writes its pid here and pauses,
# holding its claim, so the test can SIGKILL it in that window.
PAUSE_FILE = "HOMEVITALS_TEST_ALERTS_PAUSE_FILE"


def systolic(observation: Mapping[str, Any]) -> float | None:
    for component in observation.get("component", ()):
        codes = [c.get("code") for c in component.get("code", {}).get("coding", ())]
        if "8480-6" in codes:
            return float(component["valueQuantity"]["value"])
    return None


class CountingEvaluator:
    """Records every evaluation; `pause` seconds inside each (to make workers overlap)."""

    def __init__(self, pause: float = 0.0, *, scan_every: timedelta | None = None) -> None:
        self.pause = pause
        self.scan_every = scan_every
        self.lock = threading.Lock()
        self.evaluated: list[tuple[str, str]] = []  # (patient, observation id)
        self.scanned: list[tuple[str, str]] = []  # (patient, thread name)
        self.busy: set[str] = set()
        self.overlaps: list[str] = []  # patients two workers evaluated at once
        self.fail_for: set[str] = set()

    def evaluate(
        self,
        patient_id: str,
        state: Mapping[str, Any],
        observations: Sequence[Mapping[str, Any]],
        now: datetime,
        *,
        connection: Any = None,
    ) -> Evaluation:
        with self.lock:
            if patient_id in self.busy:
                self.overlaps.append(patient_id)
            self.busy.add(patient_id)
        try:
            pause_once_if_asked()
            if self.pause:
                time.sleep(self.pause)
            if patient_id in self.fail_for:
                raise RuntimeError("a rule's bug")
            with self.lock:
                self.evaluated += [(patient_id, o["id"]) for o in observations]
            return decide(patient_id, state, observations, now, self.scan_every)
        finally:
            with self.lock:
                self.busy.discard(patient_id)

    def scan(
        self, patient_id: str, state: Mapping[str, Any], now: datetime, *, connection: Any = None
    ) -> Evaluation:
        with self.lock:
            self.scanned.append((patient_id, threading.current_thread().name))
        return Evaluation(state=dict(state), due_at=None)


def decide(
    patient_id: str,
    state: Mapping[str, Any],
    observations: Sequence[Mapping[str, Any]],
    now: datetime,
    scan_every: timedelta | None = None,
) -> Evaluation:
    """The pure part: new state, an urgent alert and its message for a high reading."""
    seen = [*state.get("seen", []), *(o["id"] for o in observations)]
    alerts, outgoing = [], []
    for observation in observations:
        value = systolic(observation)
        if value is None or value < URGENT_SYSTOLIC:
            continue
        alert_id = f"bp-{patient_id}"
        alerts.append(
            AlertRecord(alert_id, patient_id, "bp-urgent", "open", "urgent", now, {"value": value})
        )
        occasion = observation["effectiveDateTime"][:13]  # one occasion: the same hour
        outgoing.append(
            Outgoing(
                NURSE,
                f"{patient_id}:{occasion}",
                now,
                {
                    "title": f"Urgent: blood pressure {value:g} mmHg",
                    "severity": "urgent",
                    "body": f"Patient/{patient_id}",
                    "link": f"https://clinic.example/patients/{patient_id}",
                    "observation": observation["id"],
                },
            )
        )
    due = now + scan_every if scan_every is not None else None
    return Evaluation(state={"seen": seen}, due_at=due, alerts=alerts, outgoing=outgoing)


def pause_once_if_asked() -> None:
    path = os.environ.get(PAUSE_FILE)
    if not path:
        return
    try:
        with Path(path).open("x", encoding="utf-8") as marker:
            marker.write(str(os.getpid()))
    except FileExistsError:
        return
    time.sleep(60)  # the test kills this process meanwhile

"""The scheduled scan: only patients due, their new states in one batch, a failure postponed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from fhir_api.alerts.seam import Evaluation
from fhir_api.alerts.worker import scan_due
from fhir_api.storage.schema import alert_state

from .conftest import rows

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


class NoReading:
    """Counts scans per patient; 'p-bad' raises (a rule's bug)."""

    def __init__(self) -> None:
        self.scanned: list[str] = []

    def evaluate(
        self, patient_id, state, observations, now, *, connection=None
    ):  # pragma: no cover
        raise AssertionError("a scan evaluates no readings")

    def scan(self, patient_id, state, now, *, connection=None):
        if patient_id == "p-bad":
            raise ValueError("bad state")
        self.scanned.append(patient_id)
        scans = state.get("scans", 0) + 1
        return Evaluation(state={"scans": scans}, due_at=now + timedelta(hours=6))


def test_the_scan_takes_the_due_patients_only_and_postpones_a_failing_one(store):
    with store.transaction() as tx:
        tx.connection.execute(
            sa.insert(alert_state),
            [
                {
                    "patient_id": f"p{i}",
                    "state": '{"scans": 1}',
                    "due_ms": NOW_MS - i,
                    "updated_ms": 0,
                }
                for i in range(5)
            ]
            + [
                {"patient_id": "p-later", "state": "{}", "due_ms": NOW_MS + 1, "updated_ms": 0},
                {"patient_id": "p-none", "state": "{}", "due_ms": None, "updated_ms": 0},
                {"patient_id": "p-bad", "state": "{}", "due_ms": NOW_MS, "updated_ms": 0},
            ],
        )
    evaluator = NoReading()
    assert scan_due(store, evaluator, lambda: NOW, batch=2) == 6
    assert sorted(evaluator.scanned) == [f"p{i}" for i in range(5)]
    states = {r.patient_id: r for r in rows(store, alert_state)}
    six_hours = NOW_MS + 6 * 3_600_000
    for i in range(5):
        assert (states[f"p{i}"].state, states[f"p{i}"].due_ms) == ('{"scans": 2}', six_hours)
    assert states["p-bad"].due_ms == NOW_MS + 3_600_000  # looked at again in an hour
    assert (states["p-later"].due_ms, states["p-none"].due_ms) == (NOW_MS + 1, None)
    assert scan_due(store, evaluator, lambda: NOW) == 0  # nothing due until later

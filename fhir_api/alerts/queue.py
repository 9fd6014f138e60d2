"""The alerts' work queue: readings still to evaluate, in the database (issue 13).

`record_work` runs inside the transaction that stores the Observations
(`FhirService._write`): a reading's work row commits with it or not at all, so a
crash between storing and evaluating loses nothing. A worker takes a patient's
work only while holding that patient's `alert_state` row (`lock_patient`), and
deletes the rows in the transaction that writes the evaluation: each reading is
evaluated once, and never by two workers at the same time for one patient.

On PostgreSQL the state row is taken with `FOR UPDATE SKIP LOCKED`, so workers on
several servers spread over patients without waiting on each other; on SQLite the
transaction's write lock (`BEGIN IMMEDIATE`) already makes a worker alone.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select

from ..patient_requests import is_call_me
from ..storage.resources import Stored
from ..storage.schema import alert_state, alert_work
from ._sql import insert_missing

__all__ = [
    "candidate_patients",
    "delete_work",
    "ensure_states",
    "lock_patient",
    "missing_states",
    "patient_of",
    "pending_work",
    "record_requests",
    "record_work",
    "take_work",
]


def patient_of(observation: Mapping[str, Any]) -> str | None:
    """The id of the Patient an Observation (or a Communication) is about (None: no
    patient, nothing to alert)."""
    subject = observation.get("subject")
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(reference, str) or not reference.startswith("Patient/"):
        return None
    patient = reference.removeprefix("Patient/")
    return patient if patient and "/" not in patient else None


def record_work(connection: Connection, observations: Sequence[Stored], now_ms: int) -> int:
    """Queue the evaluation of these Observations (in the caller's transaction); how many."""
    rows = [
        {"observation_id": stored.id, "patient_id": patient, "created_ms": now_ms}
        for stored in observations
        if (patient := patient_of(stored.content)) is not None
    ]
    if rows:
        connection.execute(alert_work.insert(), rows)
    return len(rows)


# A work row names an Observation by its id, a Communication by "Communication/<id>"
# (`store.read_observations` reads both; an id holds no slash, so they never mix up).
COMMUNICATION_WORK = "Communication/"
WORK_ID_LENGTH = 64  # alert_work.observation_id: String(64)
_LOGGER = logging.getLogger(__name__)


def record_requests(connection: Connection, communications: Sequence[Stored], now_ms: int) -> int:
    """Queue the patients' "please call me" presses among these Communications; how many.

    Only a completed call-me press is queued: a "fine today" raises nothing, and a
    press corrected to entered-in-error later does not withdraw the call (someone
    resolves the alert by hand).
    """
    rows = []
    for stored in communications:
        patient = patient_of(stored.content)
        if patient is None or not is_call_me(stored.content):
            continue
        work = f"{COMMUNICATION_WORK}{stored.id}"
        if len(work) > WORK_ID_LENGTH:
            # Only a client-chosen id (a PUT) is this long: the gateway's conditional
            # creates get the server's 36-character ids. Never a failed write for it.
            _LOGGER.error("call-me Communication/%s: id too long to queue an alert", stored.id)
            continue
        rows.append({"observation_id": work, "patient_id": patient, "created_ms": now_ms})
    if rows:
        connection.execute(alert_work.insert(), rows)
    return len(rows)


def pending_work(connection: Connection) -> int:
    """Readings waiting for evaluation (the queue depth)."""
    return int(connection.execute(select(func.count()).select_from(alert_work)).scalar_one())


def candidate_patients(connection: Connection, limit: int, skip: Collection[str] = ()) -> list[str]:
    """Patients with work, those waiting longest first (no lock: `lock_patient` decides).

    `skip`: patients whose evaluation just failed, so that they cannot crowd out the rest.
    """
    query = (
        select(alert_work.c.patient_id)
        .group_by(alert_work.c.patient_id)
        .order_by(func.min(alert_work.c.seq))
        .limit(limit)
    )
    if skip:
        query = query.where(alert_work.c.patient_id.not_in(sorted(skip)))
    return [row[0] for row in connection.execute(query)]


def missing_states(connection: Connection, patients: Sequence[str]) -> list[str]:
    """Those of `patients` that have no state row (no lock to take) yet."""
    known = {
        row[0]
        for row in connection.execute(
            select(alert_state.c.patient_id).where(alert_state.c.patient_id.in_(patients))
        )
    }
    return [p for p in patients if p not in known]


def ensure_states(connection: Connection, patients: Sequence[str], now_ms: int) -> None:
    """Create the state rows (the patients' locks) of `patients` (existing ones are kept)."""
    insert_missing(
        connection,
        alert_state,
        [{"patient_id": p, "state": "{}", "updated_ms": now_ms} for p in patients],
    )


def lock_patient(connection: Connection, patients: Sequence[str]) -> str | None:
    """Lock the state row of one of `patients` no other worker holds; its id (None: all busy)."""
    query = (
        select(alert_state.c.patient_id)
        .where(alert_state.c.patient_id.in_(patients))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    row = connection.execute(query).first()
    return None if row is None else str(row[0])


def take_work(connection: Connection, patient_id: str) -> list[tuple[int, str]]:
    """(seq, observation id) of the patient's queued readings, oldest first.

    Only the holder of the patient's state row takes its work rows, so this waits for
    no one; rows committed after this read wait for the next round.
    """
    query = (
        select(alert_work.c.seq, alert_work.c.observation_id)
        .where(alert_work.c.patient_id == patient_id)
        .order_by(alert_work.c.seq)
        .with_for_update()
    )
    return [(int(seq), str(observation_id)) for seq, observation_id in connection.execute(query)]


def delete_work(connection: Connection, seqs: Sequence[int]) -> None:
    """Remove evaluated work (in the transaction that records the evaluation)."""
    for start in range(0, len(seqs), 500):
        connection.execute(
            delete(alert_work).where(alert_work.c.seq.in_(seqs[start : start + 500]))
        )

"""A patient's "please call me" as an alert (pure): `pressed(state, press, now)` (issue 14).

The call button's short press is uploaded as a Communication (`fhir_api.patient_requests`).
It is not a measurement, so no threshold judges it: the patient asked, and the care team
must call. Each press opens the patient's one `call-me` alert, urgent (it goes to the
first person in the chain at once and escalates until someone acknowledges it), or,
while one is open or acknowledged, adds to it (its count and newest time: no new
message). No rule resolves it: a person does, in the inbox, after calling.

A long press ("fine today", the 見守り check-in) raises nothing and resolves nothing,
and it is not a reading for the no-reading rules either: those ask for measurements,
and a patient who presses "fine" but stopped measuring should still be noticed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from fhir_api.codes import CALL_ME

from .lifecycle import opened, updated
from .model import Change, ChangeKind, Outcome, PatientState, Severity

__all__ = ["CALL_ME_CONDITION", "Press", "pressed"]

# The condition the alert is kept under (one open per patient).
CALL_ME_CONDITION = CALL_ME


@dataclass(frozen=True, slots=True)
class Press:
    """One "please call me": the Communication's id and when the button was pressed."""

    communication: str
    at: datetime


def pressed(state: PatientState, presses: list[Press], now: datetime) -> Outcome[PatientState]:
    """Open (or add to) the patient's call-me alert for these presses.

    A press the alert already holds (the same Communication evaluated again) changes
    nothing, so a repeated upload never counts twice.
    """
    changes: list[Change] = []
    for press in sorted(presses, key=lambda p: p.at):
        alert = state.alerts.get(CALL_ME_CONDITION)
        if alert is not None and press.communication in alert.observations:
            continue
        kind = ChangeKind.UPDATED
        if alert is None:
            sequence = state.sequence + 1
            alert, _ = opened(
                f"{state.patient}/{CALL_ME_CONDITION}/{sequence}",
                CALL_ME_CONDITION,
                Severity.URGENT,
                now,
                patient=state.patient,
            )
            state = replace(state, sequence=sequence)
            kind = ChangeKind.OPENED
        alert = updated(
            alert, at=press.at, values={}, worse=False, observations=(press.communication,)
        )
        state = replace(state, alerts={**state.alerts, CALL_ME_CONDITION: alert})
        changes.append(Change(kind, alert, now))
    return Outcome(state, tuple(changes))

"""Readings and states for the alert core's tests (pure; no clock: every time is given)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fhir_api.alerts import UNITS, Change, Kind, Outcome, PatientState, Reading, evaluate, rules_for
from fhir_api.alerts.rules import Rules

TOKYO = ZoneInfo("Asia/Tokyo")
T0 = datetime(2026, 11, 30, 7, 0, tzinfo=TOKYO)  # a Monday morning in Tokyo
RULES = rules_for(zone="Asia/Tokyo")
_ids = itertools.count(1)


def obs_id() -> str:
    return f"obs-{next(_ids)}"


def one(
    kind: Kind,
    value: float,
    at: datetime,
    *,
    patient: str = "p1",
    obs: str | None = None,
    gateway: str | None = "Device/gw1",
) -> Reading:
    return Reading(patient, kind, value, UNITS[kind], at, obs or obs_id(), gateway=gateway)


def bp(
    systolic: float,
    diastolic: float,
    at: datetime,
    *,
    patient: str = "p1",
    obs: str | None = None,
    gateway: str | None = "Device/gw1",
) -> list[Reading]:
    """One blood-pressure Observation: its two readings share the Observation id."""
    ident = obs or obs_id()
    return [
        one(Kind.SYSTOLIC, systolic, at, patient=patient, obs=ident, gateway=gateway),
        one(Kind.DIASTOLIC, diastolic, at, patient=patient, obs=ident, gateway=gateway),
    ]


def feed(
    state: PatientState,
    batches: list[list[Reading]],
    *,
    rules: Rules = RULES,
    now_after: timedelta = timedelta(seconds=5),
) -> tuple[PatientState, list[Change]]:
    """Each batch evaluated as it arrives (now: a few seconds after its newest reading)."""
    changes: list[Change] = []
    for batch in batches:
        now = max(r.at for r in batch) + now_after
        outcome: Outcome[PatientState] = evaluate(state, batch, rules, now)
        state = outcome.state
        changes.extend(outcome.changes)
    return state, changes


def kinds_of(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.kind.value, c.alert.condition) for c in changes]


def one_sitting_rules() -> Rules:
    """bp-high judged on each sitting (no days), diastolic limit out of reach."""
    high = next(r for r in RULES.thresholds if r.id == "bp-high")
    high = replace(high, days=0, consecutive=1, limits={Kind.SYSTOLIC: 135.0, Kind.DIASTOLIC: 99.0})
    return replace(RULES, thresholds=(high,))

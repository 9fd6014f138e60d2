"""Rates measured in bed (issue 13 and 15): a live bed-sensor pulse marked in-bed never
raises a pulse alert, and the breathing rate still alerts when the gateway sends a
night as one SampledData Observation instead of one Observation per epoch."""

from __future__ import annotations

from datetime import timedelta

from fhir_api.alerts import Kind, evaluate, readings_of
from fhir_api.alerts.model import PatientState
from fhir_api.alerts.resources import detected_issue
from fhir_api.codes import LOINC, MDC
from fhir_api.storage.series.in_bed import IN_BED, SETTING_SYSTEM

from .factories import RULES, T0

IN_BED_MARK = {"coding": [{"system": SETTING_SYSTEM, "code": IN_BED}]}
PHD = {
    "coding": [
        {"system": "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories", "code": "phd"}
    ]
}


def live_pulse(rate: float, *, marked: bool) -> dict:
    """A pulse at an instant: the bed sensor's live rate (marked) or a spot reading."""
    resource = {
        "resourceType": "Observation",
        "id": "live-1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": T0.isoformat(),
        "valueQuantity": {"value": rate, "unit": "/min", "code": "/min"},
    }
    if marked:
        resource["category"] = [IN_BED_MARK]
    return resource


def night(mdc: str, data: str, *, ident: str = "night-1") -> dict:
    """A night's epochs (10 minutes each) as the gateway's SampledData Observation."""
    slots = len(data.split(" "))
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "category": [PHD, IN_BED_MARK],
        "code": {"coding": [{"system": MDC, "code": mdc}]},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {
            "start": T0.isoformat(),
            "end": (T0 + timedelta(minutes=10 * slots)).isoformat(),
        },
        "valueSampledData": {
            "origin": {"value": 0, "unit": "/min", "code": "/min"},
            "period": 600_000,
            "dimensions": 1,
            "data": data,
        },
    }


def test_a_live_pulse_marked_in_bed_is_no_reading_but_a_spot_pulse_is() -> None:
    assert readings_of(live_pulse(38, marked=True)) == []
    [spot] = readings_of(live_pulse(38, marked=False))
    assert (spot.kind, spot.value) == (Kind.PULSE, 38)
    outcome = evaluate(PatientState("p1"), readings_of(live_pulse(38, marked=True)), RULES, T0)
    assert outcome.changes == ()


def test_a_sampled_night_gives_one_reading_per_epoch() -> None:
    readings = readings_of(night("151562", "14 E 23 15"))  # MDC_RESP_RATE
    assert [(r.kind, r.value, r.at, r.observation) for r in readings] == [
        (Kind.RESPIRATION, 14.0, T0, "night-1#0"),
        (Kind.RESPIRATION, 23.0, T0 + timedelta(minutes=20), "night-1#2"),
        (Kind.RESPIRATION, 15.0, T0 + timedelta(minutes=30), "night-1#3"),
    ]
    assert readings_of(night("147842", "38 40 39")) == []  # MDC_ECG_HEART_RATE in bed


def test_fast_breathing_over_a_sampled_night_raises_the_respiration_alert() -> None:
    resource = night("151562", "16 22 23 24")
    now = T0 + timedelta(hours=1)
    outcome = evaluate(PatientState("p1"), readings_of(resource), RULES, now)
    [change] = outcome.changes
    assert change.alert.condition == "respiration-high" and change.alert.count == 3
    issue = detected_issue(change.alert)
    assert issue["implicated"] == [{"reference": "Observation/night-1"}]
    # The night entered in error: its samples leave the history.
    gone = evaluate(outcome.state, [], RULES, now, retracted=["night-1"])
    assert Kind.RESPIRATION not in gone.state.points

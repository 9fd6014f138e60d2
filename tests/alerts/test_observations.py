"""Our FHIR Observations as readings: the gateway's fixtures, and what is left out."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path

import pytest

from fhir_api.alerts import Kind, readings_of

FIXTURES = Path(__file__).parent.parent / "fixtures" / "fhir"


def _stored(bundle: str, code: str) -> dict:
    """The fixture's Observation of that LOINC code as the server stores it (with an id)."""
    for entry in json.loads((FIXTURES / bundle).read_text())["entry"]:
        resource = entry["resource"]
        codes = [c["code"] for c in resource.get("code", {}).get("coding", [])]
        if resource["resourceType"] == "Observation" and code in codes:
            return {**copy.deepcopy(resource), "id": "obs-1"}
    raise AssertionError(f"no {code} in {bundle}")


def test_blood_pressure_panel_gives_systolic_and_diastolic():
    readings = readings_of(_stored("bundle-bp-clock-in-step.json", "85354-9"))
    assert [(r.kind, r.value, r.unit) for r in readings] == [
        (Kind.SYSTOLIC, 122, "mm[Hg]"),
        (Kind.DIASTOLIC, 80, "mm[Hg]"),
    ]
    first = readings[0]
    assert first.patient == "tanaka-hanako" and first.observation == "obs-1"
    assert first.at == datetime.fromisoformat("2024-11-27T10:30:00+09:00")
    assert first.gateway is not None and first.device is not None


def test_kpa_is_converted_to_mm_hg():
    systolic = readings_of(_stored("bundle-bp-kpa.json", "85354-9"))[0]
    assert systolic.unit == "mm[Hg]" and 80 < systolic.value < 200


@pytest.mark.parametrize(
    ("bundle", "code", "kind"),
    [
        ("bundle-heart-rate.json", "8867-4", Kind.PULSE),
        ("bundle-spo2-continuous.json", "59408-5", Kind.SPO2),
        ("bundle-body-temperature.json", "8310-5", Kind.TEMPERATURE),
        ("bundle-body-weight-bmi-height.json", "29463-7", Kind.WEIGHT),
        ("bundle-sleep-epoch.json", "9279-1", Kind.RESPIRATION),
    ],
)
def test_each_kind_gives_one_reading(bundle, code, kind):
    [reading] = readings_of(_stored(bundle, code))
    assert reading.kind is kind


def test_respiration_over_an_epoch_is_placed_at_its_end():
    [reading] = readings_of(_stored("bundle-sleep-epoch.json", "9279-1"))
    assert reading.at == datetime.fromisoformat("2024-11-27T02:35:00+09:00")


def test_a_sleeping_heart_rate_over_an_epoch_is_left_out():
    assert readings_of(_stored("bundle-sleep-epoch.json", "8867-4")) == []


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "registered", None])
def test_observations_that_were_withdrawn_or_not_final_are_ignored(status):
    observation = _stored("bundle-bp-clock-in-step.json", "85354-9")
    observation["status"] = status
    assert readings_of(observation) == []


def test_an_unassigned_reading_has_nobody_to_alert_about():
    observation = _stored("bundle-bp-clock-in-step.json", "85354-9")
    observation["subject"] = {"reference": "Device/bpm-1"}
    assert readings_of(observation) == []


def test_no_value_or_no_zone_gives_no_reading():
    pulse = _stored("bundle-heart-rate.json", "8867-4")
    absent = {k: v for k, v in pulse.items() if k != "valueQuantity"}
    absent["dataAbsentReason"] = {"coding": [{"code": "error"}]}
    assert readings_of(absent) == []
    assert readings_of({**pulse, "effectiveDateTime": "2024-11-27T10:31:05"}) == []
    assert readings_of({**pulse, "valueQuantity": {"value": 72, "code": "kg"}}) == []


def test_an_observation_without_an_id_is_refused():
    pulse = _stored("bundle-heart-rate.json", "8867-4")
    del pulse["id"]
    with pytest.raises(ValueError, match="id"):
        readings_of(pulse)

"""The element-by-element walk and what it remembers: same verdicts, fewer model builds."""

from __future__ import annotations

import pytest

from fhir_api.errors import BadRequest
from fhir_api.fhir import model_class
from fhir_api.validation import validate_resource
from fhir_api.validation.elements import ElementValidator

from .helpers import blood_pressure, clone

BP = blood_pressure("Patient/p1", "2024-11-27T07:00:00+09:00", 120, 80)
OBSERVATION = model_class("Observation")


def _count_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the model classes validated from here on (fhir.resources' own entry point)."""
    built: list[str] = []
    base = OBSERVATION.__mro__[-2]  # pydantic.BaseModel
    original = base.__dict__["model_validate"].__func__

    def counting(cls, obj, *args, **kwargs):
        built.append(cls.__name__)
        return original(cls, obj, *args, **kwargs)

    monkeypatch.setattr(base, "model_validate", classmethod(counting))
    return built


def test_an_identical_element_is_validated_once(monkeypatch):
    validator = ElementValidator()
    built = _count_builds(monkeypatch)
    assert validator.check(clone(BP), OBSERVATION, "Observation") == []
    first = list(built)
    built.clear()
    second_reading = blood_pressure("Patient/p1", "2024-11-27T08:00:00+09:00", 121, 80)
    assert validator.check(second_reading, OBSERVATION, "Observation") == []
    # The first walk built every element; the second only the Observation, its identifier
    # and the systolic component whose value changed.
    assert "CodeableConcept" in first and "Coding" in first
    assert "CodeableConcept" not in built and "Coding" not in built
    assert built.count("Observation") == 1
    assert built.count("ObservationComponent") == 1
    assert len(built) < len(first) / 3


def test_a_remembered_shape_does_not_hide_a_defect_in_a_new_one():
    validator = ElementValidator()
    assert validator.check(clone(BP), OBSERVATION, "Observation") == []
    broken = clone(BP)
    broken["component"][0]["code"]["coding"][0]["system"] = ""
    broken["component"][1]["valueQuantity"]["value"] = "80"
    issues = validator.check(broken, OBSERVATION, "Observation")
    named = {where for _, where in issues}
    assert "Observation.component[0].code.coding[0].system" in named
    assert "Observation.component[1].valueQuantity.value" in named
    # ...and the same defect is found again: rejected elements are never remembered.
    assert validator.check(clone(broken), OBSERVATION, "Observation") == issues


def test_the_same_json_under_another_class_is_judged_by_that_class():
    validator = ElementValidator()
    coding = {"system": "http://loinc.org", "code": "8867-4"}
    reading = clone(BP)
    reading["code"] = {"coding": [coding]}
    assert validator.check(reading, OBSERVATION, "Observation") == []
    # A Coding's JSON is no Reference: the remembered Coding must not answer for it.
    reading["subject"] = dict(coding)
    issues = validator.check(reading, OBSERVATION, "Observation")
    assert any(where.startswith("Observation.subject") for _, where in issues), issues


def test_a_full_memo_starts_again_and_keeps_judging():
    validator = ElementValidator(memo_size=3)
    for minute in range(5):
        reading = blood_pressure("Patient/p1", f"2024-11-27T08:0{minute}:00+09:00", 120, 80)
        assert validator.check(reading, OBSERVATION, "Observation") == []
    assert len(validator._memo) <= 3


@pytest.mark.parametrize(
    ("mutate", "element"),
    [
        (
            lambda r: r.update(identifier=[{"value": "x", "use": "primary"}]),
            "Observation.identifier[0].use",
        ),
        (
            lambda r: r["subject"].update(identifier={"value": "x", "use": "main"}),
            "Observation.subject.identifier.use",
        ),
        (
            lambda r: r["component"][0]["valueQuantity"].update(comparator="~"),
            "Observation.component[0].valueQuantity.comparator",
        ),
        (
            lambda r: r.update(
                text={
                    "status": "made-up",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>',
                }
            ),
            "Observation.text.status",
        ),
    ],
    ids=["identifier-use", "nested-identifier-use", "comparator", "narrative-status"],
)
def test_data_type_rules_apply_wherever_the_type_occurs(mutate, element):
    reading = clone(BP)
    mutate(reading)
    with pytest.raises(BadRequest) as info:
        validate_resource(reading)
    named = [info.value.expression[0], *(expr[0] for _, expr in info.value.more if expr)]
    assert element in named, named


def test_period_rule_applies_to_a_contact_period_of_a_patient():
    patient = {
        "resourceType": "Patient",
        "contact": [
            {
                "name": {"family": "Sato", "use": "official"},
                "period": {"start": "2024-05-01", "end": "2024-04-01"},
            }
        ],
    }
    with pytest.raises(BadRequest, match="per-1") as info:
        validate_resource(patient)
    assert info.value.expression == ["Patient.contact[0].period"]
    patient["contact"][0]["period"]["end"] = "2024-06-01"
    patient["contact"][0]["name"]["use"] = "formal"
    with pytest.raises(BadRequest) as info:
        validate_resource(patient)
    assert info.value.expression == ["Patient.contact[0].name.use"]


def test_values_orjson_cannot_write_are_refused_not_crashed_on():
    """The memo's key is the element's exact JSON; an integer beyond 64 bits or a lone
    surrogate (JSON parsed outside the HTTP door, e.g. by the CLI) made orjson raise."""
    from fhir_api.errors import BadRequest
    from fhir_api.validation import validate_resource

    for raw in (
        {"resourceType": "Patient", "name": [{"family": "\ud800"}]},
        {
            "resourceType": "Patient",
            "extension": [{"url": "http://example.org/x", "valueInteger": 2**64}],
        },
    ):
        with pytest.raises(BadRequest):
            validate_resource(raw)

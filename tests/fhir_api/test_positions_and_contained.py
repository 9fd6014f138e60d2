"""Rules that depend on where an element stands: sqty-1, ref-1 and `contained` (issue 10)."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_api.errors import BadRequest, Unprocessable
from fhir_api.fhir import model_class
from fhir_api.validation import validate_resource
from fhir_api.validation.elements import ElementValidator

from .helpers import JSON, clone, patient, spo2

WHEN = "2024-10-01T07:00:00+09:00"
SPO2 = spo2("Patient/p1", WHEN, 97)
LESS_THAN_90 = {
    "value": 90,
    "comparator": "<",
    "unit": "%",
    "system": "http://unitsofmeasure.org",
    "code": "%",
}


def refused(resource: dict[str, Any], error: type[Exception] = BadRequest) -> list[str]:
    """The expressions of the refusal (fails when the resource is accepted)."""
    with pytest.raises(error) as caught:
        validate_resource(resource, resource["resourceType"])
    found = caught.value
    return [*found.expression, *(where for _, expr in found.more for where in expr)]


def test_a_comparator_in_a_simple_quantity_is_400_sqty_1_issue_10():
    observation = clone(SPO2)
    observation["referenceRange"] = [{"low": dict(LESS_THAN_90)}]
    assert refused(observation) == ["Observation.referenceRange[0].low.comparator"]


def test_a_comparator_in_a_quantity_is_fine():
    observation = clone(SPO2)
    observation["valueQuantity"] = dict(LESS_THAN_90)
    validate_resource(observation, "Observation")


@pytest.mark.parametrize("first", ["Quantity", "SimpleQuantity"])
def test_the_memo_tells_a_quantity_from_a_simple_quantity(first):
    """The same JSON is clean as valueQuantity and not as referenceRange.low, either order."""
    validator = ElementValidator()
    as_value = clone(SPO2)
    as_value["valueQuantity"] = dict(LESS_THAN_90)
    as_simple = clone(SPO2)
    as_simple["referenceRange"] = [{"low": dict(LESS_THAN_90)}]
    cls = model_class("Observation")
    runs = [as_value, as_simple] if first == "Quantity" else [as_simple, as_value]
    verdicts = {id(r): validator.check(clone(r), cls, "Observation") for r in runs * 2}
    assert verdicts[id(as_value)] == []
    assert [where for _, where in verdicts[id(as_simple)]] == [
        "Observation.referenceRange[0].low.comparator"
    ]


def test_a_local_reference_without_its_contained_resource_is_400_ref_1_issue_10():
    observation = clone(SPO2)
    observation["subject"] = {"reference": "#p1"}
    assert refused(observation) == ["Observation.subject.reference"]


def test_a_local_reference_to_a_contained_resource_is_fine():
    observation = clone(SPO2)
    observation["contained"] = [{**patient(), "id": "p1"}]
    observation["subject"] = {"reference": "#p1"}
    validate_resource(observation, "Observation")


def test_a_contained_resource_nobody_refers_to_is_400_dom_3():
    observation = clone(SPO2)
    observation["contained"] = [{**patient(), "id": "p1"}]
    assert refused(observation) == ["Observation.contained[0]"]


def contained_observation(**changes: Any) -> dict[str, Any]:
    inner = {**clone(SPO2), "id": "c1", **changes}
    outer = clone(SPO2)
    outer["contained"] = [inner]
    outer["hasMember"] = [{"reference": "#c1"}]
    return outer


def test_a_contained_observation_gets_the_same_rules_issue_10():
    assert refused(contained_observation(status="bogus")) == ["Observation.contained[0].status"]


def test_a_contained_vital_sign_gets_the_same_profiles():
    inner = clone(SPO2)
    del inner["category"]
    outer = contained_observation()
    outer["contained"] = [{**inner, "id": "c1"}]
    assert refused(outer, Unprocessable) == ["Observation.contained[0].category"]


def test_a_contained_observation_with_a_bogus_status_is_refused_over_http(client):
    client.put("/Patient/p1", json={**patient(identifier="CONTAINED-1"), "id": "p1"})
    response = client.post("/Observation", json=contained_observation(status="bogus"), headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["Observation.contained[0].status"]

"""meta.profile: known profiles must be met (422 naming the element), unknown ones are
accepted with a warning (issue 10)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from fhir_api.errors import Unprocessable
from fhir_api.fhir import OperationOutcome
from fhir_api.validation import validate_resource

from .helpers import JSON, clone, ensure_subjects, spo2

SUBJECT = "Patient/profiles"
WHEN = "2024-10-02T07:00:00+09:00"
VS = "http://hl7.org/fhir/StructureDefinition/"
JP_VS = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_VitalSigns"
PHD = "http://hl7.org/fhir/uv/phd/StructureDefinition/"
UNKNOWN = "http://example.org/fhir/StructureDefinition/our-own-oximetry"


def claiming(*profiles: str, **changes: Any) -> dict[str, Any]:
    resource = spo2(SUBJECT, WHEN, 96)
    resource["identifier"] = [{"system": "urn:test:profiles", "value": uuid.uuid4().hex}]
    resource["meta"] = {"profile": list(profiles)}
    resource.update(changes)
    return resource


def not_vital_sign(**changes: Any) -> dict[str, Any]:
    """An Observation with no vital-sign code: only what it claims applies to it."""
    code = {"coding": [{"system": "http://loinc.org", "code": "59408-5"}]}
    return {**spo2(SUBJECT, WHEN, 96), "code": code, "category": None, **changes}


def refusal(resource: dict[str, Any]) -> list[str]:
    resource = {k: v for k, v in resource.items() if v is not None}
    with pytest.raises(Unprocessable) as caught:
        validate_resource(resource, "Observation")
    found = caught.value
    return [*found.expression, *(where for _, expr in found.more for where in expr)]


@pytest.mark.parametrize("profile", [VS + "vitalsigns", JP_VS])
def test_a_claimed_vital_signs_profile_is_checked_issue_10(profile):
    """Without a vital-sign code, nothing but the claim makes these rules apply."""
    assert refusal(not_vital_sign(meta={"profile": [profile]})) == ["Observation.category"]
    validate_resource({k: v for k, v in not_vital_sign().items() if v is not None})


def test_a_specific_vital_sign_profile_needs_its_code_issue_10():
    heart_rate = claiming(VS + "heartrate")
    assert "Observation.code" in refusal(heart_rate)


def test_a_phd_profile_needs_the_phd_elements_issue_10():
    assert "Observation.extension" in refusal(claiming(PHD + "PhdNumericObservation"))


def test_a_device_profile_on_an_observation_is_422():
    assert refusal(claiming(PHD + "PhdDevice")) == ["Observation.meta.profile[0]"]


def test_a_versioned_canonical_is_the_same_profile():
    assert "Observation.code" in refusal(claiming(VS + "heartrate|4.0.1"))


def test_an_unknown_profile_is_a_warning_not_an_error_issue_10():
    warnings = validate_resource(claiming(UNKNOWN), "Observation")
    assert [where for _, where in warnings] == ["Observation.meta.profile[0]"]
    assert UNKNOWN in warnings[0][0]
    assert validate_resource(claiming(VS + "oxygensat"), "Observation") == []


# --- over HTTP -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def subject(server):
    with server.client() as c:
        ensure_subjects(c, SUBJECT)


def test_a_known_profile_violation_is_422_over_http(client, subject):
    response = client.post("/Observation", json=claiming(VS + "heartrate"), headers=JSON)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Observation.code"]


def test_an_unknown_profile_is_stored_and_warned_about_over_http(client, subject):
    prefer = {**JSON, "Prefer": "return=OperationOutcome"}
    response = client.post("/Observation", json=claiming(UNKNOWN), headers=prefer)
    assert response.status_code == 201, response.text
    outcome = OperationOutcome.model_validate(response.json())
    assert outcome.issue[0].severity == "warning"
    assert outcome.issue[0].expression == ["Observation.meta.profile[0]"]
    assert client.get(response.headers["location"].split("/fhir")[1]).status_code == 200


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_an_unknown_profile_is_warned_about_in_the_bundle_entry(client, subject, kind):
    entries = [
        {"resource": r, "request": {"method": "POST", "url": "Observation"}}
        for r in (claiming(VS + "oxygensat"), claiming(UNKNOWN))
    ]
    bundle = {"resourceType": "Bundle", "type": kind, "entry": clone(entries)}
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 200, response.text
    first, second = (e["response"] for e in response.json()["entry"])
    assert "outcome" not in first
    warning = OperationOutcome.model_validate(second["outcome"]).issue[0]
    assert warning.severity == "warning" and UNKNOWN in warning.diagnostics

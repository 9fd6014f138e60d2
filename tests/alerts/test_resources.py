"""Alerts as FHIR DetectedIssues, valid against the pinned R4 models."""

from __future__ import annotations

from datetime import timedelta

from fhir_api.alerts import PatientState, acknowledge, resolve, scan
from fhir_api.alerts.resources import ACTIONS, ALERT_STATE, detected_issue
from fhir_api.fhir import model_class

from .factories import RULES, T0, bp, feed

MIN = timedelta(minutes=1)


def _valid(resource: dict) -> dict:
    model_class("DetectedIssue").model_validate(resource)
    return resource


def test_an_open_alert_cites_its_observations():
    state, _ = feed(
        PatientState("p1"), [bp(186, 98, T0, obs="o1"), bp(192, 104, T0 + MIN, obs="o2")]
    )
    issue = _valid(detected_issue(state.alerts["bp-urgent"]))
    assert issue["status"] == "preliminary" and issue["severity"] == "high"
    assert issue["patient"] == {"reference": "Patient/p1"}
    assert issue["implicated"] == [{"reference": "Observation/o1"}, {"reference": "Observation/o2"}]
    assert issue["extension"] == [{"url": ALERT_STATE, "valueCode": "open"}]
    assert issue["detail"] == "bp-urgent: last 192/104 mm[Hg]; 2 reading(s)"
    assert issue["identifier"][0]["value"] == "p1/bp-urgent/1"


def test_acknowledgement_and_resolution_are_recorded_as_mitigations():
    state, _ = feed(PatientState("p1"), [bp(186, 98, T0)])
    alert_id = state.alerts["bp-urgent"].id
    acked = acknowledge(state, alert_id, by="Practitioner/cm-1", note="calling", now=T0 + MIN)
    done = resolve(acked.state, alert_id, by="Practitioner/dr-1", note="treated", now=T0 + 9 * MIN)
    issue = _valid(detected_issue(done.changes[0].alert))
    assert issue["status"] == "final"
    assert [
        (m["action"]["coding"][0]["code"], m["action"].get("text"), m.get("author"))
        for m in issue["mitigation"]
    ] == [
        ("acknowledged", "calling", {"reference": "Practitioner/cm-1"}),
        ("resolved", "treated", {"reference": "Practitioner/dr-1"}),
    ]
    assert all(m["action"]["coding"][0]["system"] == ACTIONS for m in issue["mitigation"])


def test_a_gateway_alert_implicates_the_gateway_device():
    out = scan([], {"Device/gw1": T0}, RULES, T0 + timedelta(days=1))
    issue = _valid(detected_issue(out.gateways.alerts["Device/gw1"]))
    assert "patient" not in issue
    assert issue["implicated"] == [{"reference": "Device/gw1"}]
    assert issue["severity"] == "moderate"

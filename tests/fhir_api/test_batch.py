"""Batch entries succeed or fail on their own; transactions stay all-or-nothing (issue 10)."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_api.fhir import OperationOutcome

from .helpers import JSON, blood_pressure, patient, spo2

SUBJECT = "Patient/batch-own"
WHEN = "2024-11-21T08:00:00+09:00"


@pytest.fixture(scope="module", autouse=True)
def subject(server):
    with server.client() as c:
        response = c.put(f"/{SUBJECT}", json={**patient(identifier="BATCH-1"), "id": "batch-own"})
        assert response.status_code in (200, 201), response.text


def total(client, query: str) -> int:
    return int(client.get(f"/Observation?{query}&_summary=count").json()["total"])


def post(resource: dict[str, Any]) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "POST", "url": "Observation"}}


@pytest.mark.parametrize(
    ("name", "spoil"),
    [
        ("unknown-element", lambda r: r.update(bogus=1)),
        ("null", lambda r: r.update(status=None)),
        ("decimal-as-string", lambda r: r["valueQuantity"].update(value="97")),
        ("status-not-in-value-set", lambda r: r.update(status="bogus")),
    ],
)
def test_an_element_error_fails_only_its_own_batch_entry_issue_10(client, name, spoil):
    good = blood_pressure(SUBJECT, WHEN, 118, 76, ident=f"batch-good-{name}")
    bad = spo2(SUBJECT, WHEN, 97)
    spoil(bad)
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [post(good), post(bad)]}
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"].split()[0] for e in entries] == ["201", "400"]
    # The HTTP reason phrase, not the name of the server's exception class (was "400 BadRequest").
    assert entries[1]["response"]["status"] == "400 Bad Request"
    problem = OperationOutcome.model_validate(entries[1]["response"]["outcome"])
    assert problem.issue[0].expression[0].startswith("Observation.")
    assert total(client, f"identifier=urn:test|batch-good-{name}") == 1


def test_an_element_error_still_fails_the_whole_transaction(client):
    good = blood_pressure(SUBJECT, WHEN, 118, 76, ident="tx-good-element")
    bad = spo2(SUBJECT, WHEN, 97)
    bad["bogus"] = 1
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [post(good), post(bad)]}
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.bogus"]
    assert total(client, "identifier=urn:test|tx-good-element") == 0

"""References must resolve, and what others refer to is not deleted by accident (issue 10)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from fhir_api.fhir import OperationOutcome

from .helpers import CONTRACT, JSON, clone, ensure_subjects, load, patient, spo2

WHEN = "2024-10-05T07:00:00+09:00"
GATEWAY_URL = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"


def issue(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    OperationOutcome.model_validate(body)
    return body["issue"][0]


def total(client: httpx.Client, query: str) -> int:
    response = client.get(f"/Observation?{query}&_summary=count")
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def reading(who: str, ident: str, **extra: Any) -> dict[str, Any]:
    resource = spo2(who, WHEN, 97)
    resource["identifier"] = [{"system": "urn:test:refs", "value": ident}]
    resource.update(extra)
    return resource


def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


# --- creates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("Observation.subject.reference", {"subject": {"reference": "Patient/nobody"}}),
        ("Observation.device.reference", {"device": {"reference": "Device/nothing"}}),
        (
            "Observation.extension[0].valueReference.reference",
            {"extension": [{"url": GATEWAY_URL, "valueReference": {"reference": "Device/none"}}]},
        ),
    ],
)
def test_an_observation_pointing_at_nothing_is_400_issue_10(client, where, change):
    ensure_subjects(client, "Patient/refs-known")
    ident = unique("dangling")
    resource = reading("Patient/refs-known", ident, **change)
    response = client.post("/Observation", json=resource, headers=JSON)
    assert response.status_code == 400, response.text
    assert issue(response)["expression"] == [where]
    assert "does not hold" in issue(response)["diagnostics"]
    # `not-found`, not `invalid`: a client may send it again once the target exists.
    assert issue(response)["code"] == "not-found"
    assert total(client, f"identifier=urn:test:refs|{ident}") == 0


def test_an_absolute_reference_is_400(client):
    resource = reading("https://elsewhere.example/fhir/Patient/1", unique("absolute"))
    response = client.post("/Observation", json=resource, headers=JSON)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["Observation.subject.reference"]


def test_an_observation_of_a_deleted_patient_is_400(client):
    ensure_subjects(client, "Patient/refs-gone")
    assert client.delete("/Patient/refs-gone").status_code == 204
    response = client.post("/Observation", json=reading("Patient/refs-gone", "g"), headers=JSON)
    assert response.status_code == 400


def test_an_update_pointing_at_nothing_is_400(client):
    ensure_subjects(client, "Patient/refs-update")
    created = client.post(
        "/Observation", json=reading("Patient/refs-update", unique("upd")), headers=JSON
    ).json()
    changed = {**created, "subject": {"reference": "Patient/nobody"}}
    response = client.put(f"/Observation/{created['id']}", json=changed, headers=JSON)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["Observation.subject.reference"]


# --- transactions and batches ----------------------------------------------------------------


def test_a_transaction_pointing_at_nothing_is_refused_whole_issue_10(client):
    ensure_subjects(client, "Patient/refs-known")
    good, bad = unique("tx-good"), unique("tx-bad")
    bundle = transaction(
        post(reading("Patient/refs-known", good)), post(reading("Patient/nobody", bad))
    )
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 400, response.text
    assert issue(response)["expression"] == ["Bundle.entry[1].resource.subject.reference"]
    assert total(client, f"identifier=urn:test:refs|{good}") == 0


def test_references_to_the_transactions_own_entries_resolve(client):
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    system, value = "urn:test:mrn", unique("mrn")
    new_patient = {**patient(identifier=value), "identifier": [{"system": system, "value": value}]}
    by_urn, by_condition = unique("urn"), unique("cond")
    bundle = transaction(
        post(new_patient, patient_url),
        post(reading(patient_url, by_urn)),
        post(reading(f"Patient?identifier={system}|{value}", by_condition)),
    )
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 200, response.text
    patient_id = response.json()["entry"][0]["response"]["location"].split("/")[1]
    for ident in (by_urn, by_condition):
        found = client.get(f"/Observation?identifier=urn:test:refs|{ident}").json()["entry"]
        assert found[0]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"


def test_a_conditional_reference_to_a_stored_patient_is_rewritten(client):
    system, value = "urn:test:mrn", unique("stored")
    stored = client.post(
        "/Patient",
        json={**patient(identifier=value), "identifier": [{"system": system, "value": value}]},
        headers=JSON,
    ).json()
    ident = unique("cond-stored")
    bundle = transaction(post(reading(f"Patient?identifier={system}|{value}", ident)))
    assert client.post("", json=bundle, headers=JSON).status_code == 200
    found = client.get(f"/Observation?identifier=urn:test:refs|{ident}").json()["entry"]
    assert found[0]["resource"]["subject"]["reference"] == f"Patient/{stored['id']}"
    nothing = transaction(post(reading("Patient?identifier=urn:test:mrn|no-such", unique("n"))))
    response = client.post("", json=nothing, headers=JSON)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["Bundle.entry[0].resource.subject.reference"]


def test_a_batch_entry_pointing_at_nothing_fails_on_its_own(client):
    ensure_subjects(client, "Patient/refs-known")
    good, bad = unique("b-good"), unique("b-bad")
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            post(reading("Patient/refs-known", good)),
            post(reading("Patient/nobody", bad)),
        ],
    }
    entries = client.post("", json=bundle, headers=JSON).json()["entry"]
    assert [e["response"]["status"].split()[0] for e in entries] == ["201", "400"]
    assert total(client, f"identifier=urn:test:refs|{good}") == 1


@pytest.mark.parametrize("path", CONTRACT, ids=lambda p: p.stem)
def test_the_gateways_bundles_resolve_once_their_patient_exists(client, path):
    bundle = load(path)
    subjects = {
        e["resource"]["subject"]["reference"]
        for e in bundle["entry"]
        if e["resource"].get("subject", {}).get("reference", "").startswith("Patient/")
    }
    for subject in subjects:  # the clinic registers the patient, not the gateway
        client.delete(f"/{subject}?_cascade=delete")
    if subjects:
        refused = client.post("", json=bundle, headers=JSON)
        assert refused.status_code == 400, refused.text
    ensure_subjects(client, *subjects)
    response = client.post("", json=clone(bundle), headers=JSON)
    assert response.status_code == 200, response.text


# --- deletes -------------------------------------------------------------------------------


def test_deleting_a_patient_others_refer_to_is_409_unless_cascaded_issue_10(client):
    ensure_subjects(client, "Patient/refs-delete")
    observation = client.post(
        "/Observation", json=reading("Patient/refs-delete", unique("del")), headers=JSON
    ).json()
    refused = client.delete("/Patient/refs-delete")
    assert refused.status_code == 409
    assert f"Observation/{observation['id']}" in issue(refused)["diagnostics"]
    assert client.get("/Patient/refs-delete").status_code == 200
    assert client.delete("/Patient/refs-delete?_cascade=maybe").status_code == 400
    assert client.delete("/Patient/refs-delete?_cascade=delete").status_code == 204
    assert client.get("/Patient/refs-delete").status_code == 410
    assert client.get(f"/Observation/{observation['id']}").status_code == 410


def test_deleting_a_gateway_device_others_refer_to_is_409(client):
    ensure_subjects(client, "Patient/refs-known", "Device/refs-gateway")
    extension = [{"url": GATEWAY_URL, "valueReference": {"reference": "Device/refs-gateway"}}]
    resource = reading("Patient/refs-known", unique("gw"), extension=extension)
    assert client.post("/Observation", json=resource, headers=JSON).status_code == 201
    assert client.delete("/Device/refs-gateway").status_code == 409


def test_a_transaction_may_delete_a_patient_with_its_observations(client):
    ensure_subjects(client, "Patient/refs-tx-delete")
    observation = client.post(
        "/Observation", json=reading("Patient/refs-tx-delete", unique("txd")), headers=JSON
    ).json()
    only_patient = transaction({"request": {"method": "DELETE", "url": "Patient/refs-tx-delete"}})
    assert client.post("", json=only_patient, headers=JSON).status_code == 409
    both = transaction(
        {"request": {"method": "DELETE", "url": "Patient/refs-tx-delete"}},
        {"request": {"method": "DELETE", "url": f"Observation/{observation['id']}"}},
    )
    response = client.post("", json=both, headers=JSON)
    assert response.status_code == 200, response.text
    assert client.get("/Patient/refs-tx-delete").status_code == 410


def test_a_batch_delete_entry_may_cascade(client):
    ensure_subjects(client, "Patient/refs-batch-delete")
    observation = client.post(
        "/Observation", json=reading("Patient/refs-batch-delete", unique("bd")), headers=JSON
    ).json()
    url = "Patient/refs-batch-delete"
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "DELETE", "url": url}},
            {"request": {"method": "DELETE", "url": f"{url}?_cascade=delete"}},
        ],
    }
    entries = client.post("", json=bundle, headers=JSON).json()["entry"]
    assert [e["response"]["status"].split()[0] for e in entries] == ["409", "204"]
    assert client.get(f"/Observation/{observation['id']}").status_code == 410

"""Bodies that used to break the server or hold every writer (issue 10), over real HTTP.

Each is refused at the door with a precise 400 or 413 and an OperationOutcome, and
nothing of it is stored.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from fhir_api.fhir import OperationOutcome

from .helpers import JSON, patient, spo2

SUBJECT = "Patient/bad-input"
WHEN = "2024-10-01T07:00:00+09:00"


def outcome(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    OperationOutcome.model_validate(body)
    return body


def diagnostics(response: httpx.Response) -> str:
    return " ".join(issue["diagnostics"] for issue in outcome(response)["issue"])


@pytest.fixture(scope="module", autouse=True)
def subject(server):
    with server.client() as c:
        response = c.put(f"/{SUBJECT}", json={**patient(identifier="BAD-1"), "id": "bad-input"})
        assert response.status_code in (200, 201), response.text


def nested_extension(levels: int) -> dict[str, Any]:
    """An extension holding an extension ... `levels` deep (each level is 2 JSON levels)."""
    inner: dict[str, Any] = {"url": "urn:test:leaf", "valueString": "x"}
    for _ in range(levels - 1):
        inner = {"url": "urn:test:level", "extension": [inner]}
    return inner


def total(client: httpx.Client, query: str) -> int:
    response = client.get(f"/Observation?{query}&_summary=count")
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


# --- nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [125, 126, 400])
def test_deeply_nested_extensions_are_400_and_searches_keep_working_issue_10(client, levels):
    observation = spo2(SUBJECT, WHEN, 97)
    observation["extension"] = [nested_extension(levels)]
    response = client.post("/Observation", json=observation, headers=JSON)
    assert response.status_code == 400, response.text
    assert "deeper than 64 levels" in diagnostics(response)
    assert client.get(f"/Observation?patient={SUBJECT}").status_code == 200
    assert client.get(f"/Observation/$lastn?patient={SUBJECT}").status_code == 200


def test_nesting_within_the_limit_is_accepted(client):
    observation = spo2(SUBJECT, "2024-10-01T07:01:00+09:00", 97)
    observation["extension"] = [nested_extension(20)]
    response = client.post("/Observation", json=observation, headers=JSON)
    assert response.status_code == 201, response.text
    history = client.get(f"/Observation/{response.json()['id']}/_history")
    assert history.status_code == 200


def test_a_deep_resource_stored_before_the_limit_is_still_served_issue_10(client, server):
    """Stores written by an earlier version may hold one: searches must not answer 500."""
    observation = spo2("Patient/legacy-deep", WHEN, 96)
    # 253 JSON levels: storable, but 256 inside a searchset Bundle (orjson stops at 254).
    observation["extension"] = [nested_extension(126)]
    with server.store.transaction() as tx:
        stored = tx.create("Observation", observation)
    assert client.get(f"/Observation/{stored.id}").status_code == 200
    assert client.get("/Observation?patient=Patient/legacy-deep").status_code == 200
    assert client.get(f"/Observation/{stored.id}/_history").status_code == 200


# --- sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("identifiers", [21, 5000])
def test_many_identifiers_are_refused_before_any_work_issue_10(client, identifiers):
    observation = spo2(SUBJECT, WHEN, 95)
    observation["identifier"] = [
        {"system": "urn:test:many", "value": str(n)} for n in range(identifiers)
    ]
    began = time.monotonic()
    response = client.post("/Observation", json=observation, headers=JSON)
    assert time.monotonic() - began < 5
    assert response.status_code == 413, response.text
    assert outcome(response)["issue"][0]["expression"] == ["identifier"]
    assert total(client, "identifier=urn:test:many|1") == 0


def test_a_huge_string_is_413(client):
    observation = spo2(SUBJECT, WHEN, 95)
    observation["note"] = [{"text": "x" * 20_000}]
    response = client.post("/Observation", json=observation, headers=JSON)
    assert response.status_code == 413
    assert "at most 10000" in diagnostics(response)


def test_a_bundle_over_the_entry_limit_is_413(client):
    entry = {"request": {"method": "GET", "url": "Patient/bad-input"}}
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry] * 1001}
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 413
    assert outcome(response)["issue"][0]["expression"] == ["Bundle.entry"]


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("identifier", [{"system": "urn:test", "value": "v" * 600}]),
        ("identifier", [{"system": "urn:" + "s" * 600, "value": "long-system"}]),
    ],
)
def test_values_longer_than_their_index_column_are_400_issue_10(client, element, value):
    """VARCHAR(512) columns: SQLite stored 1 MB values, PostgreSQL answered 500."""
    observation = spo2(SUBJECT, WHEN, 95)
    observation[element] = value
    response = client.post("/Observation", json=observation, headers=JSON)
    assert response.status_code == 400, response.text
    assert "at most 512" in diagnostics(response)


# --- JSON that is not FHIR JSON ------------------------------------------------------------


def test_a_duplicate_key_is_400_issue_10(client):
    body = json.dumps(spo2(SUBJECT, WHEN, 94))
    twice = body.replace('"status": "final"', '"status": "final", "status": "cancelled"')
    assert twice != body
    response = client.post("/Observation", content=twice.encode(), headers=JSON)
    assert response.status_code == 400, response.text
    assert "'status' appears twice" in diagnostics(response)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e400", "-1e999"])
def test_numbers_beyond_float_range_are_400(client, number):
    body = json.dumps(spo2(SUBJECT, WHEN, 94)).replace("94", number)
    response = client.post("/Observation", content=body.encode(), headers=JSON)
    assert response.status_code == 400, response.text


def test_the_length_rules_match_the_index_columns():
    from fhir_api.storage import schema
    from fhir_api.validation import rules

    assert schema.identifiers.c.value.type.length == rules.INDEXED_LENGTH
    # Systems, codes and reference targets are terms of the keyed index (issue 15).
    assert schema.search_terms.c.system.type.length == rules.INDEXED_LENGTH
    assert schema.search_terms.c.code.type.length == rules.INDEXED_LENGTH
    assert schema.search_terms.c.code.type.length >= rules.REFERENCE_LENGTH
    assert schema.series_codes.c.code.type.length == rules.SERIES_CODE_LENGTH
    assert schema.series_codes.c.unit.type.length == rules.SERIES_UNIT_LENGTH


# --- impossible values -----------------------------------------------------------------------


def test_an_impossible_vital_sign_is_422_and_stats_stay_fhir_issue_10(client, server):
    """Two 1e308 readings on one day made $stats answer mean null (the sum overflowed)."""
    readings = []
    for minute in (0, 1):
        observation = spo2(SUBJECT, f"2024-10-09T07:0{minute}:00+09:00", 97)
        observation["valueQuantity"]["value"] = 1e308
        readings.append(observation)
    for observation in readings:
        response = client.post("/Observation", json=observation, headers=JSON)
        assert response.status_code == 422, response.text
        assert outcome(response)["issue"][0]["expression"] == ["Observation.valueQuantity.value"]
    stats = client.get(
        f"/Observation/$stats?patient={SUBJECT}&code=2708-6&start=2024-10-09&end=2024-10-10"
    )
    assert stats.status_code == 200
    assert "null" not in stats.text


@pytest.mark.parametrize(("value", "status"), [(-1, 422), (101, 422), (0, 201), (100, 201)])
def test_a_percentage_must_be_possible(client, value, status):
    observation = spo2(SUBJECT, "2024-10-09T08:00:00+09:00", value)
    assert client.post("/Observation", json=observation, headers=JSON).status_code == status


def test_a_bundle_may_hold_more_entries_than_an_array_may_items(client):
    entry = {"request": {"method": "GET", "url": "Patient/bad-input"}}
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry] * 300}
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 200, response.text
    assert len(response.json()["entry"]) == 300


def test_the_limits_are_settings(tmp_path, monkeypatch):
    from pydantic import ValidationError

    from fhir_api.settings import Settings

    monkeypatch.setenv("HOMEVITALS_MAX_JSON_DEPTH", "32")
    monkeypatch.setenv("HOMEVITALS_MAX_BUNDLE_ENTRIES", "500")
    monkeypatch.setenv("HOMEVITALS_MAX_IDENTIFIERS", "5")
    limits = Settings(data_dir=tmp_path).input_limits
    assert (limits.max_depth, limits.max_bundle_entries, limits.max_identifiers) == (32, 500, 5)
    with pytest.raises(ValidationError):  # deeper would let a stored resource break searches
        Settings(data_dir=tmp_path, max_json_depth=250)


# --- dates at the ends of the calendar -----------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00+14:00",  # year 0 in UTC: the rollups answered 500
        "0001-01-01",
        "9999-12-31T23:00:00+14:00",
        "9999-12-31T23:59:59-12:00",  # its end is in year 10000
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_400_in_creates_and_transactions_issue_10(
    client, when
):
    response = client.post("/Observation", json=spo2(SUBJECT, when, 97), headers=JSON)
    assert response.status_code == 400, response.text
    assert outcome(response)["issue"][0]["expression"] == ["Observation.effectiveDateTime"]
    request = {"method": "POST", "url": "Observation"}
    entry = {"resource": spo2(SUBJECT, when, 98), "request": request}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    assert client.post("", json=bundle, headers=JSON).status_code == 400


def test_a_birth_date_at_the_end_of_the_calendar_is_400(client):
    body = {**patient(identifier="END-OF-TIME"), "birthDate": "9999-12-31"}
    response = client.post("/Patient", json=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert outcome(response)["issue"][0]["expression"] == ["Patient.birthDate"]

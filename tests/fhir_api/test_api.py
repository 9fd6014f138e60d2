"""The FHIR REST API over real HTTP, against each storage backend."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from fhir_api.fhir import CapabilityStatement, OperationOutcome

from .helpers import (
    CONTRACT,
    JSON,
    OFFICIAL,
    blood_pressure,
    ensure_subjects,
    load,
    observations_in,
    patient,
    referenced,
    spo2,
)

# The Patients and Devices this module's Observations refer to (references must resolve).
SUBJECTS = [
    "Patient/tanaka-hanako",
    "Patient/atomic",
    "Patient/batch",
    "Patient/someone-else",
    "Patient/x",
    "Patient/series-follow",
]


@pytest.fixture(scope="module", autouse=True)
def subjects(server):
    with server.client() as c:
        ensure_subjects(c, *SUBJECTS)


def outcome(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    OperationOutcome.model_validate(body)
    return body


def count(client: httpx.Client, query: str) -> int:
    response = client.get(f"/Observation?{query}&_summary=count")
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


# --- metadata and security ------------------------------------------------------------------


def test_metadata_is_a_truthful_capability_statement(client):
    response = client.get("/metadata")
    assert response.status_code == 200
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(types) == {
        "Patient",
        "Device",
        "Observation",
        "Practitioner",
        "CareTeam",
        "Task",
        "Communication",
        "AuditEvent",
        "DetectedIssue",  # the alerts, read-only (issue 13)
    }
    assert types["Observation"]["conditionalCreate"] is True
    params = {p["name"] for p in types["Observation"]["searchParam"]}
    assert {"patient", "subject", "code", "date", "category", "device"} <= params
    assert {op["name"] for op in types["Observation"]["operation"]} == {"lastn", "stats"}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer"])
def test_every_request_needs_a_valid_token(server, header):
    headers = {"Authorization": header} if header else {}
    for method, path in (("GET", "/Patient/x"), ("GET", "/Patient"), ("POST", "/Patient")):
        response = httpx.request(method, server.base + path, headers=headers, json=patient())
        assert response.status_code == 401
        assert outcome(response)["issue"][0]["code"] == "login"
        assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_token_is_refused(server):
    from fhir_api.auth import Role, TokenStore

    tokens = TokenStore(server.store.engine, cache_seconds=0)
    token = tokens.create("short-lived", Role.SYSTEM)
    with server.client(token) as c:
        assert c.get("/Patient").status_code == 200
    assert tokens.revoke("short-lived") == 1
    assert tokens.verify(f"Bearer {server.token}").name == "tests"  # others unaffected
    with pytest.raises(Exception, match="revoked"):
        tokens.verify(f"Bearer {token}")


def test_tokens_are_stored_only_as_hashes(server):
    from sqlalchemy import select

    from fhir_api.storage.schema import api_tokens

    with server.store.engine.connect() as connection:
        stored = [row[0] for row in connection.execute(select(api_tokens.c.token_hash))]
    assert server.token not in stored
    assert all(len(h) == 64 for h in stored)


# --- CRUD, versions, conditional create --------------------------------------------------


def test_create_read_update_delete_with_versions(client, server):
    created = client.post("/Patient", json=patient(identifier="CRUD-1"), headers=JSON)
    assert created.status_code == 201
    body = created.json()
    pid = body["id"]
    assert created.headers["location"] == f"{server.base}/Patient/{pid}/_history/1"
    assert created.headers["etag"] == 'W/"1"'
    assert body["meta"]["versionId"] == "1"
    read = client.get(f"/Patient/{pid}")
    assert read.status_code == 200 and read.json()["name"][0]["family"] == "田中"
    body["name"][0]["family"] = "鈴木"
    stale = client.put(f"/Patient/{pid}", json=body, headers={**JSON, "If-Match": 'W/"7"'})
    assert stale.status_code == 412
    updated = client.put(f"/Patient/{pid}", json=body, headers={**JSON, "If-Match": 'W/"1"'})
    assert updated.status_code == 200 and updated.headers["etag"] == 'W/"2"'
    assert client.get(f"/Patient/{pid}/_history/1").json()["name"][0]["family"] == "田中"
    assert client.get(f"/Patient/{pid}/_history/2").json()["name"][0]["family"] == "鈴木"
    assert client.delete(f"/Patient/{pid}").status_code == 204
    gone = client.get(f"/Patient/{pid}")
    assert gone.status_code == 410 and outcome(gone)["issue"][0]["code"] == "deleted"
    history = client.get(f"/Patient/{pid}/_history").json()
    assert history["type"] == "history" and history["total"] == 3
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "POST"]
    assert client.get("/Patient/does-not-exist").status_code == 404


def test_update_as_create_with_client_id(client):
    body = patient(identifier="PUT-1")
    body["id"] = "client-chosen"
    response = client.put("/Patient/client-chosen", json=body, headers=JSON)
    assert response.status_code == 201
    assert client.get("/Patient/client-chosen").status_code == 200
    body["id"] = "other"
    mismatch = client.put("/Patient/client-chosen", json=body, headers=JSON)
    assert mismatch.status_code == 400


def test_conditional_create_matches_instead_of_duplicating(client):
    headers = {**JSON, "If-None-Exist": "identifier=urn:oid:1.2.392.100495.20.3.51.1|COND-1"}
    first = client.post("/Patient", json=patient(identifier="COND-1"), headers=headers)
    second = client.post("/Patient", json=patient(identifier="COND-1"), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    search = client.get("/Patient?identifier=urn:oid:1.2.392.100495.20.3.51.1|COND-1").json()
    assert search["total"] == 1


def test_conditional_create_on_several_matches_is_412(client):
    for n in (1, 2):
        body = patient(identifier=f"MULTI-{n}")
        body["identifier"].append({"system": "urn:shared", "value": f"x{n}"})
        client.post("/Patient", json=body, headers=JSON)
    # Same value under two systems: a system-less condition matches both.
    client.post(
        "/Patient",
        json={**patient(identifier="dup"), "identifier": [{"system": "urn:a", "value": "dup"}]},
        headers=JSON,
    )
    client.post(
        "/Patient",
        json={**patient(identifier="dup"), "identifier": [{"system": "urn:b", "value": "dup"}]},
        headers=JSON,
    )
    response = client.post(
        "/Patient",
        json=patient(identifier="dup"),
        headers={**JSON, "If-None-Exist": "identifier=dup"},
    )
    assert response.status_code == 412
    assert outcome(response)["issue"][0]["code"] == "conflict"


# --- Bundles: the gateway contract, de-duplication, atomicity ----------------------------


@pytest.mark.parametrize("path", CONTRACT, ids=lambda p: p.stem)
def test_every_contract_fixture_is_accepted_and_stored_once(client, path):
    bundle = load(path)
    first = client.post("", json=bundle, headers=JSON)
    assert first.status_code == 200, first.text
    statuses = [e["response"]["status"] for e in first.json()["entry"]]
    assert all(s in ("201 Created", "200 OK") for s in statuses)
    second = client.post("", json=bundle, headers=JSON).json()
    assert all(e["response"]["status"] == "200 OK" for e in second["entry"])
    # The retry names the very versions the first upload stored.
    stored = [
        {k: e["response"][k] for k in ("location", "etag", "lastModified")}
        for e in first.json()["entry"]
    ]
    assert [
        {k: e["response"][k] for k in ("location", "etag", "lastModified")} for e in second["entry"]
    ] == stored
    for observation in observations_in(bundle):
        ident = observation["identifier"][0]
        query = httpx.QueryParams({"identifier": f"{ident['system']}|{ident['value']}"})
        assert count(client, str(query)) == 1, ident["value"]


def test_stored_observations_reference_the_created_devices(client):
    bundle = load(next(p for p in CONTRACT if p.stem == "bundle-bp-clock-in-step"))
    response = client.post("", json=bundle, headers=JSON).json()
    locations = [e["response"]["location"] for e in response["entry"]]
    observation_id = next(loc for loc in locations if loc.startswith("Observation/")).split("/")[1]
    device_ids = {loc.split("/")[1] for loc in locations if loc.startswith("Device/")}
    stored = client.get(f"/Observation/{observation_id}").json()
    assert stored["device"]["reference"].split("/")[1] in device_ids
    gateway = stored["extension"][0]["valueReference"]["reference"]
    assert gateway.startswith("Device/") and gateway.split("/")[1] in device_ids


def test_concurrent_uploads_of_the_same_bundle_store_each_reading_once(server):
    bundle = load(next(p for p in CONTRACT if p.stem == "bundle-spo2-spot-stored-low-perfusion"))
    for entry in bundle["entry"]:  # a reading no other test uploads
        resource = entry["resource"]
        if resource["resourceType"] == "Observation":
            resource["identifier"][0]["value"] += "-race"
            entry["request"]["ifNoneExist"] += "-race"

    def upload(_: int) -> int:
        with server.client() as c:
            return c.post("", json=bundle, headers=JSON).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(upload, range(16)))
    assert statuses == [200] * 16
    with server.client() as c:
        for observation in observations_in(bundle):
            ident = observation["identifier"][0]
            query = httpx.QueryParams({"identifier": f"{ident['system']}|{ident['value']}"})
            assert count(c, str(query)) == 1


def test_transaction_is_all_or_nothing(client):
    good = blood_pressure("Patient/atomic", "2024-11-20T08:00:00+09:00", 130, 85, ident="atomic-1")
    bad = blood_pressure("Patient/atomic", "2024-11-20T09:00:00+09:00", 131, 86, ident="atomic-2")
    del bad["component"][1]  # no diastolic: a bp profile violation
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": good, "request": {"method": "POST", "url": "Observation"}},
            {"resource": bad, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 422
    assert "Bundle.entry[1].resource" in outcome(response)["issue"][0]["expression"][0]
    assert count(client, "identifier=urn:test|atomic-1") == 0


def test_transaction_with_dangling_urn_uuid_is_refused(client):
    observation = blood_pressure(
        "urn:uuid:3f1c0b62-0000-4000-8000-000000000000", "2024-11-20T08:00:00+09:00", 120, 80
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": observation, "request": {"method": "POST", "url": "Observation"}}],
    }
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 400
    assert "not a fullUrl" in outcome(response)["issue"][0]["diagnostics"]


def test_batch_entries_succeed_or_fail_on_their_own(client):
    good = blood_pressure("Patient/batch", "2024-11-21T08:00:00+09:00", 118, 76, ident="batch-ok")
    bad = spo2("Patient/batch", "2024-11-21T08:00:00+09:00", 97)
    bad["valueQuantity"]["code"] = "percent"
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": good, "request": {"method": "POST", "url": "Observation"}},
            {"resource": bad, "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
        ],
    }
    response = client.post("", json=bundle, headers=JSON).json()
    assert response["type"] == "batch-response"
    statuses = [e["response"]["status"].split()[0] for e in response["entry"]]
    assert statuses == ["201", "422", "404"]
    assert response["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert count(client, "identifier=urn:test|batch-ok") == 1


# --- search ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def week(server):
    """Readings for one patient over a week (twice a day), plus another patient's."""
    with server.client() as c:
        pid = c.post("/Patient", json=patient("佐藤", "一郎", "SEARCH-1"), headers=JSON).json()[
            "id"
        ]
        entries = []
        for day in range(1, 8):
            for hour, sys_ in ((7, 120 + day), (20, 140 + day)):
                when = f"2024-10-{day:02d}T{hour:02d}:00:00+09:00"
                entries.append(
                    blood_pressure(f"Patient/{pid}", when, sys_, 80, ident=f"w-{day}-{hour}")
                )
            entries.append(
                spo2(f"Patient/{pid}", f"2024-10-{day:02d}T07:05:00+09:00", 95 + day % 3)
            )
        entries.append(
            blood_pressure("Patient/someone-else", "2024-10-03T07:00:00+09:00", 200, 110)
        )
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": r, "request": {"method": "POST", "url": "Observation"}}
                for r in entries
            ],
        }
        assert c.post("", json=bundle, headers=JSON).status_code == 200
    return pid


def test_search_by_patient_code_and_category(client, week):
    assert count(client, f"patient=Patient/{week}") == 21
    assert count(client, f"patient={week}") == 21
    assert count(client, f"subject=Patient/{week}&code=http://loinc.org|85354-9") == 14
    assert count(client, f"patient={week}&code=85354-9,2708-6") == 21
    assert count(client, f"patient={week}&code=http://snomed.info/sct|85354-9") == 0
    assert count(client, f"patient={week}&category=vital-signs") == 21


def test_search_dates_with_prefixes_and_partial_dates(client, week):
    base = f"patient={week}&code=85354-9"
    assert count(client, f"{base}&date=2024-10-03") == 2
    assert count(client, f"{base}&date=eq2024-10") == 14
    assert count(client, f"{base}&date=ge2024-10-05") == 6
    assert count(client, f"{base}&date=gt2024-10-05") == 4
    assert count(client, f"{base}&date=lt2024-10-02") == 2
    assert count(client, f"{base}&date=le2024-10-02") == 4
    assert count(client, f"{base}&date=ge2024-10-02T12:00:00%2B09:00&date=lt2024-10-04") == 3
    # A day is the patient's (Asia/Tokyo) day: 2024-10-01T07:00+09:00 is 2024-09-30 in UTC.
    assert count(client, f"{base}&date=2024-09-30") == 0


def test_search_sort_paging_and_include(client, week):
    first = client.get(f"/Observation?patient={week}&code=85354-9&_sort=-date&_count=5").json()
    assert first["total"] == 14 and len(first["entry"]) == 5
    dates = [e["resource"]["effectiveDateTime"] for e in first["entry"]]
    assert dates == sorted(dates, reverse=True) and dates[0] == "2024-10-07T20:00:00+09:00"
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(next_url).json()
    assert len(second["entry"]) == 5
    assert not {e["fullUrl"] for e in first["entry"]} & {e["fullUrl"] for e in second["entry"]}
    assert any(link["relation"] == "previous" for link in second["link"])
    ascending = client.get(f"/Observation?patient={week}&code=85354-9&_sort=date&_count=1").json()
    assert ascending["entry"][0]["resource"]["effectiveDateTime"] == "2024-10-01T07:00:00+09:00"


def test_include_devices(client):
    bundle = load(next(p for p in CONTRACT if p.stem == "bundle-body-temperature"))
    client.post("", json=bundle, headers=JSON)
    found = client.get(
        "/Observation?code=http://loinc.org|8310-5&_include=Observation:device"
    ).json()
    modes = [(e["search"]["mode"], e["resource"]["resourceType"]) for e in found["entry"]]
    assert ("match", "Observation") in modes and ("include", "Device") in modes


def test_patient_search_by_identifier_and_name(client, week):
    assert (
        client.get("/Patient?identifier=urn:oid:1.2.392.100495.20.3.51.1|SEARCH-1").json()["total"]
        == 1
    )
    assert client.get("/Patient?name=佐藤").json()["total"] >= 1
    assert client.get("/Patient?family:exact=佐藤&given=一郎").json()["total"] == 1
    assert client.get("/Patient?name=nobody-has-this-name").json()["total"] == 0


@pytest.mark.parametrize(
    "query", ["colour=blue", "date=yesterday", "_sort=value", "_count=many", "patient="]
)
def test_unknown_or_malformed_search_parameters_are_400(client, query):
    response = client.get(f"/Observation?{query}")
    assert response.status_code == 400
    assert outcome(response)["issue"][0]["code"] == "invalid"


def test_lastn_returns_the_newest_per_code(client, week):
    response = client.get(f"/Observation/$lastn?patient=Patient/{week}&max=2").json()
    assert response["type"] == "searchset"
    by_code: dict[str, list[str]] = {}
    for entry in response["entry"]:
        code = entry["resource"]["code"]["coding"][0]["code"]
        by_code.setdefault(code, []).append(entry["resource"]["effectiveDateTime"])
    assert by_code == {
        "85354-9": ["2024-10-07T20:00:00+09:00", "2024-10-07T07:00:00+09:00"],
        "2708-6": ["2024-10-07T07:05:00+09:00", "2024-10-06T07:05:00+09:00"],
    }
    assert client.get("/Observation/$lastn?code=85354-9").status_code == 400


def stats_days(parameters: dict) -> dict[tuple[str, str], tuple[float, float, float, int]]:
    """{(code, date): (min, max, mean, count)} from a $stats answer."""
    days = {}
    for parameter in parameters["parameter"]:
        if parameter["name"] != "series":
            continue
        code = parameter["part"][0]["valueCoding"]["code"]
        for part in parameter["part"][2:]:
            values = {p["name"]: p for p in part["part"]}
            days[(code, values["date"]["valueDate"])] = (
                values["min"]["valueDecimal"],
                values["max"]["valueDecimal"],
                values["mean"]["valueDecimal"],
                values["count"]["valueInteger"],
            )
    return days


def test_daily_stats_in_the_patients_time_zone(client, week):
    response = client.get(
        f"/Observation/$stats?patient={week}&code=8480-6,2708-6&start=2024-10-01&end=2024-10-08"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    units = {
        p["part"][0]["valueCoding"]["code"]: p["part"][1]["valueCode"]
        for p in body["parameter"]
        if p["name"] == "series"
    }
    assert units == {"8480-6": "mm[Hg]", "2708-6": "%"}
    days = stats_days(body)
    assert days[("8480-6", "2024-10-03")] == (123, 143, 133, 2)
    assert days[("2708-6", "2024-10-03")] == (95, 95, 95, 1)
    assert len([k for k in days if k[0] == "8480-6"]) == 7
    # In UTC the 07:00 JST reading belongs to the day before; in Tokyo it does not.
    utc = client.get(
        f"/Observation/$stats?patient={week}&code=8480-6&start=2024-09-30&end=2024-10-08&tz=UTC"
    ).json()
    assert min(day for _, day in stats_days(utc)) == "2024-09-30"
    assert stats_days(utc)[("8480-6", "2024-09-30")][3] == 1


def test_stats_takes_each_code_once_and_a_bounded_number_of_codes(client, week):
    twice = client.get(
        f"/Observation/$stats?patient={week}&code=8480-6,http://loinc.org|8480-6"
        "&start=2024-10-01&end=2024-10-08"
    ).json()
    assert [p["name"] for p in twice["parameter"]].count("series") == 1
    assert len(stats_days(twice)) == 7
    many = ",".join(f"{n}-0" for n in range(21))
    response = client.get(
        f"/Observation/$stats?patient={week}&code={many}&start=2024-10-01&end=2024-10-08"
    )
    assert response.status_code == 400
    assert "1 to 20 codes" in outcome(response)["issue"][0]["diagnostics"]


# --- errors ------------------------------------------------------------------------------


def test_malformed_json_is_400(client):
    response = client.post("/Patient", content=b"{not json", headers=JSON)
    assert response.status_code == 400
    assert "not JSON" in outcome(response)["issue"][0]["diagnostics"]


def test_unknown_type_is_404_and_wrong_method_405(client):
    assert client.get("/Medication/1").status_code == 404
    assert client.patch("/Patient/1", json={}).status_code == 405


def test_resource_type_must_match_the_url(client):
    response = client.post(
        "/Patient", json=spo2("Patient/x", "2024-10-01T07:00:00+09:00", 97), headers=JSON
    )
    assert response.status_code == 400
    assert outcome(response)["issue"][0]["expression"] == ["Observation.resourceType"]


def test_only_json_is_served(client):
    assert client.get("/metadata?_format=xml").status_code == 406
    assert client.get("/metadata", headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert client.get("/metadata?_format=json").status_code == 200


def test_bodies_over_the_limit_are_refused_before_parsing(client, server):
    limit = server.settings.max_body_bytes
    huge = b'{"resourceType":"Patient","name":[{"text":"' + b"x" * limit + b'"}]}'
    declared = client.post("/Patient", content=huge, headers=JSON)
    assert declared.status_code == 413
    assert outcome(declared)["issue"][0]["code"] == "too-costly"

    def chunks():
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    streamed = client.post("/Patient", content=chunks(), headers=JSON)
    assert streamed.status_code == 413
    assert client.get("/metadata").status_code == 200  # the server is fine afterwards


@pytest.mark.parametrize("path", OFFICIAL, ids=lambda p: p.stem)
def test_official_examples_are_accepted(client, path):
    resource = load(path)
    resource.pop("id", None)
    # Two spec examples share an identifier; identifiers are unique here, so make room.
    for identifier in resource.get("identifier", ()):
        query = httpx.QueryParams(
            {"identifier": f"{identifier.get('system', '')}|{identifier['value']}"}
        )
        for entry in client.get(f"/{resource['resourceType']}?{query}").json().get("entry", []):
            client.delete(f"/{resource['resourceType']}/{entry['resource']['id']}")
    if resource.get("device", {}).get("reference", "").startswith("DeviceMetric/"):
        del resource["device"]  # a type this server does not hold: the reference cannot resolve
    ensure_subjects(client, *referenced(resource))
    response = client.post(f"/{resource['resourceType']}", json=resource, headers=JSON)
    assert response.status_code == 201, response.text


def test_a_taken_identifier_is_a_409_conflict_naming_its_owner(client):
    first = client.post("/Patient", json=patient(identifier="TAKEN-1"), headers=JSON).json()
    again = client.post("/Patient", json=patient(identifier="TAKEN-1"), headers=JSON)
    assert again.status_code == 409
    assert f"Patient/{first['id']}" in outcome(again)["issue"][0]["diagnostics"]


def test_profile_violations_are_422_naming_the_element(client):
    bad = spo2("Patient/x", "2024-10-01T07:00:00+09:00", 97)
    bad["valueQuantity"]["code"] = "percent"
    response = client.post("/Observation", json=bad, headers=JSON)
    assert response.status_code == 422
    assert outcome(response)["issue"][0]["expression"] == ["Observation.valueQuantity.code"]


def test_series_follow_updates_and_deletes(client, server):
    pid = "series-follow"
    created = client.post(
        "/Observation", json=spo2(f"Patient/{pid}", "2024-09-10T07:00:00+09:00", 91), headers=JSON
    ).json()
    url = f"/Observation/$stats?patient={pid}&code=2708-6&start=2024-09-01&end=2024-10-01"

    def means():
        if server.backend == "influxdb":
            from fhir_api.storage.series.sync import flush_series_outbox

            flush_series_outbox(server.store)
        return [mean for (_, _), (_, _, mean, _) in stats_days(client.get(url).json()).items()]

    assert means() == [91]
    created["valueQuantity"]["value"] = 93
    client.put(f"/Observation/{created['id']}", json=created, headers=JSON)
    assert means() == [93]
    client.delete(f"/Observation/{created['id']}")
    assert means() == []
    assert json.dumps(created)  # the resource itself stays in history
    assert (
        client.get(f"/Observation/{created['id']}/_history/1").json()["valueQuantity"]["value"]
        == 91
    )

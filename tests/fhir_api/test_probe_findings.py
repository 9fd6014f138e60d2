"""Defects a reviewer found by probing the running server (issue 10), over real HTTP.

Each answered 500 (or accepted what FHIR forbids); each must now be a precise 4xx
with an OperationOutcome.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from fhir_api.app import build_store
from fhir_api.auth import Role, TokenStore
from fhir_api.fhir import OperationOutcome
from fhir_api.responses import fhir_response
from fhir_api.service import FhirService

from .conftest import RunningServer, serve, settings_for
from .helpers import JSON, downgrade, patient, spo2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """SQLite is where these showed; backend-specific ones start their own server."""
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp("probe")
        settings = settings_for("sqlite", stack, tmp)
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("tests", Role.SYSTEM)
        yield RunningServer("sqlite", base, token, store, settings)


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _unique() -> str:
    return uuid.uuid4().hex[:10]


def refused(response: httpx.Response, status: int = 400) -> str:
    """Assert a FHIR OperationOutcome with `status`; its diagnostics."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    OperationOutcome.model_validate(body)
    return " ".join(issue.get("diagnostics", "") for issue in body["issue"])


def new_patient(client: httpx.Client, **extra: Any) -> str:
    response = client.post(
        "/Patient", json={**patient(identifier=f"P-{_unique()}"), **extra}, headers=JSON
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# --- A. many alternatives, many repeats ---------------------------------------------------

MANY = ",".join(["x"] * 497)

SEARCHES = [
    ("Observation", "code"),
    ("Observation", "identifier"),
    ("Observation", "category"),
    ("Observation", "status"),
    ("Observation", "component-code"),
    ("Observation", "date"),
    ("Patient", "family"),
    ("Patient", "given"),
    ("Patient", "name"),
    ("Patient", "identifier"),
    ("Patient", "birthdate"),
    ("Device", "type"),
]


@pytest.mark.parametrize(("resource_type", "param"), SEARCHES)
def test_too_many_alternatives_are_400_not_500(client, resource_type, param):
    value = ",".join(["2024-01-01"] * 497) if "date" in param else MANY
    response = client.get(f"/{resource_type}", params={param: value})
    assert "at most 100" in refused(response)


def test_too_many_alternatives_in_lastn_are_400_not_500(client):
    response = client.get("/Observation/$lastn", params={"patient": "Patient/p", "code": MANY})
    assert "at most 100" in refused(response)


def test_a_hundred_alternatives_are_served(client):
    value = ",".join(f"http://loinc.org|{n}" for n in range(100))
    response = client.get("/Observation", params={"code": value})
    assert response.status_code == 200, response.text
    response = client.get("/Patient", params={"family": ",".join(["x"] * 100)})
    assert response.status_code == 200, response.text


def test_too_many_repeats_of_a_parameter_are_400(client):
    started = time.monotonic()
    response = client.get("/Observation", params=[("code", "8310-5")] * 500)
    refused(response)
    assert time.monotonic() - started < 5  # was 85 s of CPU
    response = client.get("/Observation", params=[("code", "8310-5")] * 21)
    assert "at most 20" in refused(response)


def test_twenty_repeats_are_served(client):
    response = client.get("/Observation", params=[("code", "8310-5")] * 20)
    assert response.status_code == 200, response.text


def test_too_many_parameters_are_400(client):
    params = [(name, "x") for name in ("code", "category", "identifier") for _ in range(20)]
    response = client.get("/Observation", params=params)
    assert "at most 50" in refused(response)


# --- B, C, D. numbers and strings no FHIR JSON holds ----------------------------------------


def post_raw(client: httpx.Client, path: str, text: str) -> httpx.Response:
    """POST JSON text as written (the JSON escapes reach the server unchanged)."""
    return client.post(path, content=text.encode(), headers=JSON)


def quantity_observation(subject: str, value: str) -> str:
    return (
        '{"resourceType":"Observation","status":"final",'
        '"code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},'
        f'"subject":{{"reference":"{subject}"}},"effectiveDateTime":"2024-10-01T07:00:00Z",'
        f'"valueQuantity":{{"value":{value},"unit":"kg",'
        '"system":"http://unitsofmeasure.org","code":"kg"}}'
    )


@pytest.mark.parametrize("value", ["18446744073709551616", "-9223372036854775809"])
def test_an_integer_beyond_64_bits_is_400_not_500(client, value):
    subject = f"Patient/{new_patient(client)}"
    response = post_raw(client, "/Observation", quantity_observation(subject, value))
    assert "integer" in refused(response)
    transaction = (
        '{"resourceType":"Bundle","type":"transaction","entry":[{"resource":'
        + quantity_observation(subject, value)
        + ',"request":{"method":"POST","url":"Observation"}}]}'
    )
    refused(post_raw(client, "", transaction))
    assert client.get("/Observation", params={"patient": subject}).json()["total"] == 0


def test_an_integer_within_64_bits_reaches_validation(client):
    subject = f"Patient/{new_patient(client)}"
    response = post_raw(
        client, "/Observation", quantity_observation(subject, "9223372036854775807")
    )
    assert "not a possible measurement" in refused(response, 422)


LONE_SURROGATES = [
    '{"resourceType":"Patient","name":[{"family":"\\ud800"}]}',
    '{"resourceType":"Patient","name":[{"family":"a\\udc00b"}]}',
    '{"resourceType":"Pat\\ud800ient"}',
    '{"resourceType":"Patient","\\ud800":1}',
]


@pytest.mark.parametrize("text", LONE_SURROGATES)
def test_a_lone_surrogate_is_400_not_500(client, text):
    assert "surrogate" in refused(post_raw(client, "/Patient", text))


def test_a_lone_surrogate_in_a_batch_url_is_400_not_500(client):
    batch = (
        '{"resourceType":"Bundle","type":"batch","entry":'
        '[{"request":{"method":"GET","url":"Patient?family=\\ud800"}}]}'
    )
    assert "surrogate" in refused(post_raw(client, "", batch))


def test_a_surrogate_pair_is_a_character_and_accepted(client):
    text = '{"resourceType":"Patient","name":[{"family":"\\ud83d\\ude00"}]}'
    response = post_raw(client, "/Patient", text)
    assert response.status_code == 201, response.text
    assert response.json()["name"][0]["family"] == "\U0001f600"


@pytest.mark.parametrize("escape", ["\\u0000", "\\u001f", "\\b", "\\f", "\\u000b"])
def test_a_control_character_in_a_string_is_400(client, escape):
    text = f'{{"resourceType":"Patient","name":[{{"family":"a{escape}b"}}]}}'
    assert "control character" in refused(post_raw(client, "/Patient", text))


def test_tab_cr_and_lf_are_accepted(client):
    text = '{"resourceType":"Patient","name":[{"family":"a\\tb\\r\\nc"}]}'
    assert post_raw(client, "/Patient", text).status_code == 201


def test_a_nul_is_400_on_postgresql_too(tmp_path):
    with ExitStack() as stack:
        base, store = stack.enter_context(serve(settings_for("postgresql", stack, tmp_path)))
        token = TokenStore(store.engine).create("tests", Role.SYSTEM)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            text = '{"resourceType":"Patient","name":[{"family":"a\\u0000b"}]}'
            assert "control character" in refused(post_raw(c, "/Patient", text))
            assert c.get("/Patient", params={"family": "a"}).json()["total"] == 0


def test_the_encoder_escapes_a_lone_surrogate_instead_of_failing():
    """An error that echoes a lone surrogate (or a resource stored before they were
    refused) is still a JSON response, with the surrogate as a \\u escape."""
    response = fhir_response({"resourceType": "OperationOutcome", "x": "Pat\ud800ient"}, 400)
    assert response.body == b'{"resourceType":"OperationOutcome","x":"Pat\\ud800ient"}'


# --- E. narrative ---------------------------------------------------------------------------

X = 'xmlns="http://www.w3.org/1999/xhtml"'
BAD_NARRATIVES = [
    (f"<div {X}><script>alert(1)</script></div>", "<script>"),
    (f'<div {X}><p onclick="alert(1)">hi</p></div>', "onclick"),
    (f'<div {X}><img src="x" onerror="alert(1)"/></div>', "onerror"),
    (f'<div {X}><a href="javascript:alert(1)">hi</a></div>', "active URL"),
    (f'<div {X}><a href=" JavaScript:alert(1)">hi</a></div>', "active URL"),
    (f'<div {X}><p style="background:url(javascript:alert(1))">hi</p></div>', "active"),
    (f'<div {X}><iframe src="https://example.org"/>hi</div>', "<iframe>"),
    (f'<div {X}><svg xmlns="http://www.w3.org/2000/svg"/>hi</div>', "<svg>"),
    ("plain text, not XHTML", "not well-formed"),
    ("<div>hi</div>", "xmlns"),
    (f"<p {X}>hi</p>", "one <div"),
    (f"<div {X}>unclosed", "not well-formed"),
    (f"<div {X}>a &nbsp; b</div>", "not well-formed"),
    (f'<!DOCTYPE div [<!ENTITY a "aaaa">]><div {X}>&a;</div>', "DTD"),
    (f'<?xml-stylesheet href="x"?><div {X}>hi</div>', "processing instructions"),
    (f"<div {X}>  <p> </p> </div>", "txt-2"),
]


@pytest.mark.parametrize(("div", "named"), BAD_NARRATIVES)
def test_a_narrative_with_active_or_no_content_is_400(client, div, named):
    body = {**patient(identifier=f"P-{_unique()}"), "text": {"status": "generated", "div": div}}
    found = refused(client.post("/Patient", json=body, headers=JSON))
    assert named in found and "txt-" in found


def test_an_observation_narrative_is_checked_too(client):
    div = f"<div {X}><script>alert(1)</script></div>"
    observation = spo2(f"Patient/{new_patient(client)}", "2024-10-01T07:00:00Z", 97)
    observation["text"] = {"status": "generated", "div": div}
    refused(client.post("/Observation", json=observation, headers=JSON))


GOOD_NARRATIVES = [
    f'<div {X}><p>Blood pressure <b>128/82</b> mmHg</p><br/><a href="https://example.org">x</a></div>',
    f'<div {X} xml:lang="ja" lang="ja"><table><tr><td colspan="2" style="color:red">血圧</td>'
    "</tr></table></div>",
    f'<div {X}><img src="#photo" alt=""/></div>',
    f"<div {X}>a &amp; b &lt; c &#160; d</div>",
]


@pytest.mark.parametrize("div", GOOD_NARRATIVES)
def test_a_plain_xhtml_narrative_is_accepted(client, div):
    body = {**patient(identifier=f"P-{_unique()}"), "text": {"status": "generated", "div": div}}
    response = client.post("/Patient", json=body, headers=JSON)
    assert response.status_code == 201, response.text


# --- F. a Patient's tz-code ------------------------------------------------------------------

TZ = "http://hl7.org/fhir/StructureDefinition/tz-code"
BAD_ZONES = [
    [{"url": TZ, "valueCode": "Mars/Base"}],
    [{"url": TZ, "valueCode": "+14:00"}],
    [{"url": TZ, "valueCode": "europe/paris"}],
    [{"url": TZ, "valueCode": "posixrules"}],
    [{"url": TZ, "valueString": "Europe/Paris"}],
    [{"url": TZ}],
    [{"url": TZ, "valueCode": "Europe/Paris"}, {"url": TZ, "valueCode": "Asia/Tokyo"}],
]


@pytest.mark.parametrize("extensions", BAD_ZONES)
def test_an_invalid_tz_code_is_400_at_create_and_update(client, extensions):
    body = {**patient(identifier=f"P-{_unique()}"), "extension": extensions}
    assert "tz-code" in refused(client.post("/Patient", json=body, headers=JSON))
    patient_id = new_patient(client)
    body = {**patient(identifier=f"P-{_unique()}"), "id": patient_id, "extension": extensions}
    assert "tz-code" in refused(client.put(f"/Patient/{patient_id}", json=body, headers=JSON))


def test_a_valid_tz_code_is_accepted_and_used_by_stats(client):
    body = {
        **patient(identifier=f"P-{_unique()}"),
        "extension": [{"url": TZ, "valueCode": "Asia/Tokyo"}],
    }
    response = client.post("/Patient", json=body, headers=JSON)
    assert response.status_code == 201, response.text
    stats = client.get(
        "/Observation/$stats",
        params={
            "patient": f"Patient/{response.json()['id']}",
            "code": "8867-4",
            "start": "2024-10-01",
            "end": "2024-10-02",
        },
    )
    assert stats.status_code == 200, stats.text
    assert "Asia/Tokyo" in stats.text


# --- G. Device.patient ------------------------------------------------------------------------


def new_device(client: httpx.Client, patient_reference: str) -> httpx.Response:
    body = {
        "resourceType": "Device",
        "identifier": [{"system": "urn:test:device", "value": _unique()}],
        "patient": {"reference": patient_reference},
    }
    return client.post("/Device", json=body, headers=JSON)


def test_a_device_whose_patient_is_not_stored_is_400(client):
    assert "Patient/ghost" in refused(new_device(client, "Patient/ghost"))
    refused(new_device(client, "https://elsewhere.org/Patient/1"))


def test_a_device_patient_must_be_a_patient(client):
    other = new_device(client, f"Patient/{new_patient(client)}").json()["id"]
    refused(new_device(client, f"Device/{other}"))


def test_deleting_a_patient_a_device_belongs_to_is_409(client):
    patient_id = new_patient(client)
    device = new_device(client, f"Patient/{patient_id}")
    assert device.status_code == 201, device.text
    device_id = device.json()["id"]
    assert f"Device/{device_id}" in refused(client.delete(f"/Patient/{patient_id}"), 409)
    assert client.get(f"/Patient/{patient_id}").status_code == 200


def test_cascade_deletes_the_device_and_its_observations_with_the_patient(client):
    patient_id = new_patient(client)
    device_id = new_device(client, f"Patient/{patient_id}").json()["id"]
    observation = spo2(f"Patient/{patient_id}", "2024-10-01T07:00:00Z", 97)
    observation["device"] = {"reference": f"Device/{device_id}"}
    created = client.post("/Observation", json=observation, headers=JSON)
    assert created.status_code == 201, created.text
    response = client.delete(f"/Patient/{patient_id}", params={"_cascade": "delete"})
    assert response.status_code in (200, 204), response.text
    assert client.get(f"/Device/{device_id}").status_code == 410
    assert client.get(f"/Observation/{created.json()['id']}").status_code == 410


def test_moving_a_device_to_another_patient_frees_the_first(client):
    first, second = new_patient(client), new_patient(client)
    device = new_device(client, f"Patient/{first}").json()
    device["patient"] = {"reference": f"Patient/{second}"}
    moved = client.put(f"/Device/{device['id']}", json=device, headers=JSON)
    assert moved.status_code == 200, moved.text
    assert client.delete(f"/Patient/{first}").status_code in (200, 204)
    refused(client.delete(f"/Patient/{second}"), 409)


def test_migration_0006_indexes_devices_stored_before_it(tmp_path):
    """A store written before Device.patient was indexed keeps its Patient from deletion."""
    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path)
        store = build_store(settings)
        service = FhirService(store)
        service.update("Patient", "owner", {"resourceType": "Patient", "id": "owner"})
        device = {"resourceType": "Device", "id": "d", "patient": {"reference": "Patient/owner"}}
        service.update("Device", "d", device)
        downgrade(store.engine, "0005")  # back to the schema (and index) before 0006
        with store.engine.connect() as connection:  # that schema's own rows (issue 15 rekeyed them)
            found = connection.exec_driver_sql(
                "SELECT count(*) FROM search_references"
                " WHERE resource_type = 'Device' AND target = 'Patient/owner'"
            ).scalar_one()
        assert found == 0
        store.engine.dispose()
        store = build_store(settings)  # migrates to head
        with store.transaction() as tx:
            assert tx.referrers("Patient/owner") == [("Device", "d")]
        store.engine.dispose()


# --- H. $stats and $lastn ---------------------------------------------------------------------

STATS = {"code": "2708-6", "start": "2024-10-01", "end": "2024-10-02"}


def test_stats_for_a_patient_not_stored_is_404(client):
    response = client.get("/Observation/$stats", params={**STATS, "patient": "Patient/nobody"})
    assert "Patient/nobody" in refused(response, 404)
    patient_id = new_patient(client)
    assert client.delete(f"/Patient/{patient_id}").status_code in (200, 204)
    response = client.get("/Observation/$stats", params={**STATS, "patient": patient_id})
    refused(response, 404)


def test_stats_for_a_patient_not_stored_is_404_with_a_tz_too(client):
    params = {**STATS, "patient": "Patient/nobody", "tz": "Asia/Tokyo"}
    refused(client.get("/Observation/$stats", params=params), 404)


def test_stats_with_a_parameter_twice_is_400(client):
    patient_id = new_patient(client)
    params = [*STATS.items(), ("patient", patient_id), ("patient", "x")]
    assert "patient" in refused(client.get("/Observation/$stats", params=params))
    params = [*STATS.items(), ("patient", patient_id), ("subject", f"Patient/{patient_id}")]
    refused(client.get("/Observation/$stats", params=params))


def test_lastn_leaves_out_entered_in_error_and_cancelled_readings(client):
    subject = f"Patient/{new_patient(client)}"
    good = client.post("/Observation", json=spo2(subject, "2024-10-01T07:00:00Z", 97), headers=JSON)
    assert good.status_code == 201, good.text
    for status, minute in (("entered-in-error", "08"), ("cancelled", "09")):
        bad = {**spo2(subject, f"2024-10-01T{minute}:00:00Z", 50), "status": status}
        response = client.post("/Observation", json=bad, headers=JSON)
        assert response.status_code == 201, response.text
    bundle = client.get("/Observation/$lastn", params={"patient": subject}).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [good.json()["id"]]
    asked = client.get(
        "/Observation/$lastn", params={"patient": subject, "status": "entered-in-error"}
    ).json()
    assert [e["resource"]["valueQuantity"]["value"] for e in asked["entry"]] == [50]


# --- I. a transaction touching one resource twice ---------------------------------------------


def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_a_transaction_that_puts_and_deletes_one_resource_is_400(client):
    patient_id = new_patient(client)
    body = {**patient(identifier=f"P-{_unique()}"), "id": patient_id}
    bundle = transaction(
        {"resource": body, "request": {"method": "PUT", "url": f"Patient/{patient_id}"}},
        {"request": {"method": "DELETE", "url": f"Patient/{patient_id}"}},
    )
    assert f"Patient/{patient_id}" in refused(client.post("", json=bundle, headers=JSON))
    assert client.get(f"/Patient/{patient_id}").json()["identifier"][0]["value"].startswith("P-")
    assert client.get(f"/Patient/{patient_id}").json()["meta"]["versionId"] == "1"


def test_a_transaction_that_puts_one_resource_twice_is_400(client):
    patient_id = _unique()
    body = {**patient(identifier=f"P-{_unique()}"), "id": patient_id}
    entry = {"resource": body, "request": {"method": "PUT", "url": f"Patient/{patient_id}"}}
    refused(client.post("", json=transaction(entry, entry), headers=JSON))
    assert client.get(f"/Patient/{patient_id}").status_code == 404


def test_a_conditional_create_matching_a_deleted_entry_is_400(client):
    identifier = f"P-{_unique()}"
    patient_id = new_patient(client, identifier=[{"system": "urn:test", "value": identifier}])
    bundle = transaction(
        {
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:test", "value": identifier}],
            },
            "request": {
                "method": "POST",
                "url": "Patient",
                "ifNoneExist": f"identifier=urn:test|{identifier}",
            },
        },
        {"request": {"method": "DELETE", "url": f"Patient/{patient_id}"}},
    )
    refused(client.post("", json=bundle, headers=JSON))
    assert client.get(f"/Patient/{patient_id}").status_code == 200


# --- J. HTTP details ------------------------------------------------------------------------


def test_last_modified_is_an_http_date(client):
    created = client.post("/Patient", json=patient(identifier=f"P-{_unique()}"), headers=JSON)
    for response in (created, client.get(f"/Patient/{created.json()['id']}")):
        header = response.headers["last-modified"]
        assert header.endswith(" GMT"), header
        when = parsedate_to_datetime(header)
        stated = datetime.fromisoformat(response.json()["meta"]["lastUpdated"])
        assert when == stated.replace(microsecond=0)


@pytest.mark.parametrize("media_type", ["text/plain", "application/xml", "application/fhir+xml"])
def test_a_body_that_is_not_json_is_415(client, media_type):
    response = client.post("/Patient", content=b"{}", headers={"Content-Type": media_type})
    assert media_type in refused(response, 415)


def test_media_types_are_case_insensitive(client):
    headers = {
        "Content-Type": "APPLICATION/FHIR+JSON; charset=UTF-8",
        "Accept": "Application/Fhir+Json",
    }
    response = client.post("/Patient", json=patient(identifier=f"P-{_unique()}"), headers=headers)
    assert response.status_code == 201, response.text
    assert client.get("/Patient", params={"_format": "JSON"}).status_code == 200

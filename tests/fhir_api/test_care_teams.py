"""Practitioner and CareTeam, stored and searched like the other types (issue 11).

A staff account is a Practitioner; CareTeams name who cares for which Patient, and
the access layer reads them with `CareTeam?participant=Practitioner/x&status=active`
and `CareTeam?patient=y`. So a CareTeam's subject and members must resolve, and a
Patient or Practitioner a team names is not deleted under it.

SQLite and PostgreSQL only: the types have no series, so InfluxDB adds nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from fhir_api.auth import Role, TokenStore
from fhir_api.fhir import OperationOutcome

from .conftest import RunningServer, serve, settings_for
from .helpers import JSON

ROLE = "http://snomed.info/sct"
CATEGORY = {"coding": [{"system": "http://loinc.org", "code": "LA27976-2"}]}  # encounter-focused
HOME_CARE = {"coding": [{"system": "http://loinc.org", "code": "LA28865-6"}]}  # longitudinal
STAFF = "urn:homevitals:staff"
TZ_CODE = "http://hl7.org/fhir/StructureDefinition/tz-code"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A fresh server per backend (overrides conftest's, which adds InfluxDB)."""
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"care-teams-{request.param}")
        settings = settings_for(request.param, stack, tmp)
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("tests", Role.SYSTEM)
        yield RunningServer(request.param, base, token, store, settings)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def issue(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    OperationOutcome.model_validate(body)
    return body["issue"][0]


def practitioner(
    family: str = "Satō", given: str = "Ichirō", *, staff_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "identifier": [{"system": STAFF, "value": staff_id or unique("staff")}],
        "active": True,
        "name": [{"family": family, "given": [given]}],
        "gender": "male",
        **extra,
    }


def care_team(subject: str, *members: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "identifier": [{"system": "urn:homevitals:team", "value": unique("team")}],
        "status": "active",
        "category": [CATEGORY],
        "subject": {"reference": subject},
        "participant": [
            {
                "role": [{"coding": [{"system": ROLE, "code": "309343006"}]}],
                "member": {"reference": m},
            }
            for m in members
        ],
        **extra,
    }


def create(client: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/{resource['resourceType']}", json=resource, headers=JSON)
    assert response.status_code == 201, response.text
    return dict(response.json())


def new_patient(client: httpx.Client, **extra: Any) -> str:
    body = {"resourceType": "Patient", "name": [{"family": unique("Patient")}], **extra}
    return f"Patient/{create(client, body)['id']}"


def new_practitioner(client: httpx.Client, **extra: Any) -> str:
    return f"Practitioner/{create(client, practitioner(**extra))['id']}"


def ids(client: httpx.Client, query: str) -> set[str]:
    response = client.get(query)
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


def transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


# --- Practitioner ----------------------------------------------------------------------------


def test_a_practitioner_is_created_read_and_found_by_each_parameter(client):
    staff_id = unique("nurse")
    created = create(client, practitioner("Ōta", "Hanako", staff_id=staff_id, gender="female"))
    read = client.get(f"/Practitioner/{created['id']}")
    assert read.status_code == 200
    assert read.json()["name"] == [{"family": "Ōta", "given": ["Hanako"]}]
    other = create(client, practitioner("Ōta", "Jirō", active=False))
    both = {created["id"], other["id"]}
    assert ids(client, f"/Practitioner?identifier={STAFF}|{staff_id}") == {created["id"]}
    assert ids(client, f"/Practitioner?identifier={staff_id}") == {created["id"]}
    assert ids(client, "/Practitioner?family=ota") >= both  # case and accents ignored
    assert both - ids(client, "/Practitioner?family:exact=ota") == both
    assert ids(client, "/Practitioner?given=hana&family=Ōta") == {created["id"]}
    assert created["id"] in ids(client, "/Practitioner?name=hanako")
    assert other["id"] not in ids(client, "/Practitioner?name=hanako")
    active = ids(client, "/Practitioner?active=true")
    assert created["id"] in active and other["id"] not in active
    assert other["id"] in ids(client, "/Practitioner?active=false")
    assert other["id"] in ids(client, "/Practitioner?active:not=true")


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("active=yes", "true or false"),
        ("active=true,1", "true or false"),
        ("birthdate=1970", "unknown search parameter"),
        ("name:below=x", "not supported"),
    ],
)
def test_a_practitioner_search_it_cannot_answer_is_400(client, query, words):
    response = client.get(f"/Practitioner?{query}")
    assert response.status_code == 400, response.text
    assert words in issue(response)["diagnostics"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"gender": "man"}, "Practitioner.gender"),
        ({"active": "yes"}, "Practitioner.active"),
        ({"name": [{"family": ""}]}, "Practitioner.name[0].family"),
        ({"role": "doctor"}, "Practitioner.role"),
        ({"name": [{"use": "nick"}]}, "Practitioner.name[0].use"),
    ],
)
def test_an_invalid_practitioner_is_400_naming_the_element(client, change, where):
    response = client.post("/Practitioner", json=practitioner(**change), headers=JSON)
    assert response.status_code == 400, response.text
    assert issue(response)["expression"] == [where]


# --- CareTeam: create, read, search ----------------------------------------------------------


def test_a_care_team_is_created_read_and_found_by_each_parameter(client):
    patient, other_patient = new_patient(client), new_patient(client)
    doctor, nurse = new_practitioner(client), new_practitioner(client)
    team = care_team(patient, doctor, nurse, period={"start": "2024-04-01", "end": "2024-09-30"})
    created = create(client, team)
    tid = created["id"]
    assert client.get(f"/CareTeam/{tid}").json()["participant"] == team["participant"]
    later = create(
        client,
        care_team(
            other_patient,
            doctor,
            status="inactive",
            category=[HOME_CARE],
            period={"start": "2025-01-01"},
        ),
    )
    lid = later["id"]
    value = team["identifier"][0]["value"]
    assert ids(client, f"/CareTeam?identifier=urn:homevitals:team|{value}") == {tid}
    assert ids(client, f"/CareTeam?subject={patient}") == {tid}
    assert ids(client, f"/CareTeam?subject:Patient={patient.split('/')[1]}") == {tid}
    assert ids(client, f"/CareTeam?patient={patient.split('/')[1]}") == {tid}
    assert ids(client, f"/CareTeam?patient={patient},{other_patient}") == {tid, lid}
    assert ids(client, f"/CareTeam?participant={nurse}") == {tid}
    assert ids(client, f"/CareTeam?participant={doctor}") == {tid, lid}
    assert ids(client, f"/CareTeam?participant:Practitioner={doctor.split('/')[1]}") == {tid, lid}
    assert ids(client, f"/CareTeam?participant={doctor}&status=active") == {tid}
    assert ids(client, f"/CareTeam?participant={doctor}&status=inactive") == {lid}
    assert ids(client, f"/CareTeam?participant={doctor}&category=LA28865-6") == {lid}
    assert ids(client, f"/CareTeam?participant={doctor}&category=http://loinc.org|LA27976-2") == {
        tid
    }
    mine = f"/CareTeam?participant={doctor}"
    assert ids(client, f"{mine}&date=lt2024-05-01") == {tid}
    assert ids(client, f"{mine}&date=ge2024-12-01") == {lid}  # no end: still going
    assert ids(client, f"{mine}&date=2024-06") == set()  # eq: the period is longer
    assert ids(client, f"{mine}&date=ap2024-06-15") == {tid}
    assert ids(client, f"{mine}&date:missing=true") == set()
    assert client.get(f"{mine}&_summary=count").json()["total"] == 2


def test_a_care_teams_dates_are_days_of_its_patients_calendar(client):
    """As an Observation's: a day without offset is the patient's day, whoever asks."""
    new_york = new_patient(client, extension=[{"url": TZ_CODE, "valueCode": "America/New_York"}])
    tokyo = new_patient(client, extension=[{"url": TZ_CODE, "valueCode": "Asia/Tokyo"}])
    doctor = new_practitioner(client)
    start = {"period": {"start": "2024-10-01T02:00:00Z"}}  # 22:00 the day before in New York
    in_new_york = create(client, care_team(new_york, doctor, **start))["id"]
    in_tokyo = create(client, care_team(tokyo, doctor, **start))["id"]
    mine = f"/CareTeam?participant={doctor}"
    assert ids(client, f"{mine}&date=sa2024-09-30") == {in_tokyo}
    assert ids(client, f"{mine}&date=sa2024-09-29") == {in_new_york, in_tokyo}
    assert ids(client, f"/CareTeam?patient={new_york}&date=sa2024-09-30") == set()
    assert ids(client, f"/CareTeam?patient={new_york}&date=sa2024-09-29") == {in_new_york}
    assert ids(client, f"/CareTeam?patient={new_york},{tokyo}&date=sa2024-09-30") == {in_tokyo}


def test_a_versioned_member_reference_is_found_and_protected(client):
    """`Practitioner/x/_history/1` names Practitioner x: the access layer must see it."""
    patient, doctor = new_patient(client), new_practitioner(client)
    tid = create(client, care_team(patient, f"{doctor}/_history/1"))["id"]
    assert ids(client, f"/CareTeam?participant={doctor}") == {tid}
    assert client.delete(f"/{doctor}").status_code == 409


def test_an_updated_care_team_is_found_by_its_new_members_only(client):
    patient, first, second = new_patient(client), new_practitioner(client), new_practitioner(client)
    team = create(client, care_team(patient, first))
    team["participant"][0]["member"] = {"reference": second}
    response = client.put(f"/CareTeam/{team['id']}", json=team, headers=JSON)
    assert response.status_code == 200, response.text
    assert ids(client, f"/CareTeam?participant={first}") == set()
    assert ids(client, f"/CareTeam?participant={second}") == {team["id"]}
    assert client.delete(f"/{first}").status_code == 204  # no longer named by the team


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("participant=somebody", "give the type"),
        ("status:exact=active", "not supported"),
        ("date=2024-13-01", "date"),
        ("member=Practitioner/x", "unknown search parameter"),
        ("_sort=date", "only date and -date on Observation"),
    ],
)
def test_a_care_team_search_it_cannot_answer_is_400(client, query, words):
    response = client.get(f"/CareTeam?{query}")
    assert response.status_code == 400, response.text
    assert words in issue(response)["diagnostics"]


# --- CareTeam: what is refused -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"status": "ongoing"}, "CareTeam.status"),
        ({"period": {"start": "2024-10-01", "end": "2024-09-01"}}, "CareTeam.period"),
        ({"period": {"start": "0001-01-01T00:00:00+14:00"}}, "CareTeam.period.start"),
        ({"subject": "Patient/x"}, "CareTeam.subject"),
        ({"member": "Practitioner/x"}, "CareTeam.member"),
    ],
)
def test_an_invalid_care_team_is_400_naming_the_element(client, change, where):
    team = {**care_team(new_patient(client), new_practitioner(client)), **change}
    response = client.post("/CareTeam", json=team, headers=JSON)
    assert response.status_code == 400, response.text
    assert issue(response)["expression"] == [where]


def test_on_behalf_of_only_for_a_practitioner_member_ctm_1(client):
    patient, doctor = new_patient(client), new_practitioner(client)
    team = care_team(patient, doctor, patient)
    for participant in team["participant"]:
        participant["onBehalfOf"] = {"reference": "Organization/clinic"}
    response = client.post("/CareTeam", json=team, headers=JSON)
    assert response.status_code == 400, response.text
    assert issue(response)["expression"] == ["CareTeam.participant[1].onBehalfOf"]
    del team["participant"][1]["onBehalfOf"]
    create(client, team)


@pytest.mark.parametrize(
    ("member", "where"),
    [
        ("Practitioner/nobody", "CareTeam.participant[1].member.reference"),
        ("Patient/nobody", "CareTeam.participant[1].member.reference"),
    ],
)
def test_a_member_the_server_does_not_hold_is_400_not_found(client, member, where):
    team = care_team(new_patient(client), new_practitioner(client), member)
    response = client.post("/CareTeam", json=team, headers=JSON)
    assert response.status_code == 400, response.text
    assert issue(response)["expression"] == [where]
    assert issue(response)["code"] == "not-found"
    assert ids(client, f"/CareTeam?identifier={team['identifier'][0]['value']}") == set()


def test_a_subject_the_server_does_not_hold_is_400_not_found(client):
    team = care_team("Patient/nobody", new_practitioner(client))
    response = client.post("/CareTeam", json=team, headers=JSON)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["CareTeam.subject.reference"]
    assert issue(response)["code"] == "not-found"


def test_an_update_to_a_member_the_server_does_not_hold_is_400(client):
    team = create(client, care_team(new_patient(client), new_practitioner(client)))
    team["participant"][0]["member"] = {"reference": "Practitioner/gone"}
    response = client.put(f"/CareTeam/{team['id']}", json=team, headers=JSON)
    assert response.status_code == 400
    assert issue(response)["expression"] == ["CareTeam.participant[0].member.reference"]


@pytest.mark.parametrize(
    ("element", "reference"),
    [
        ("subject", "Group/family"),
        ("subject", "Practitioner/{doctor}"),
        ("member", "Organization/clinic"),
        ("member", "Device/{device}"),
        ("member", "CareTeam/{team}"),
        ("member", "https://elsewhere.example/fhir/Practitioner/1"),
    ],
)
def test_a_subject_or_member_of_a_type_not_held_for_it_is_400(client, element, reference):
    patient, doctor = new_patient(client), new_practitioner(client)
    device = create(client, {"resourceType": "Device", "status": "active"})["id"]
    other_team = create(client, care_team(patient, doctor))["id"]
    reference = reference.format(doctor=doctor.split("/")[1], device=device, team=other_team)
    team = care_team(patient, doctor)
    if element == "subject":
        team["subject"] = {"reference": reference}
        where = "CareTeam.subject.reference"
    else:
        team["participant"][0]["member"] = {"reference": reference}
        where = "CareTeam.participant[0].member.reference"
    response = client.post("/CareTeam", json=team, headers=JSON)
    assert response.status_code == 400, response.text
    assert issue(response)["expression"] == [where]
    assert issue(response)["code"] == "invalid"


def test_a_contained_member_needs_no_stored_practitioner(client):
    team = care_team(new_patient(client), "#visitor")
    team["contained"] = [{"resourceType": "Practitioner", "id": "visitor", "name": [{"text": "X"}]}]
    create(client, team)


# --- deleting what a CareTeam names -----------------------------------------------------------


def test_deleting_a_patient_or_practitioner_a_team_names_is_409_unless_cascaded(client):
    patient, doctor = new_patient(client), new_practitioner(client)
    tid = create(client, care_team(patient, doctor))["id"]
    for target in (patient, doctor):
        response = client.delete(f"/{target}")
        assert response.status_code == 409, response.text
        assert f"CareTeam/{tid}" in issue(response)["diagnostics"]
        assert client.get(f"/{target}").status_code == 200
    assert client.delete(f"/{doctor}?_cascade=delete").status_code == 204
    assert client.get(f"/CareTeam/{tid}").status_code == 410
    assert client.get(f"/{doctor}").status_code == 410
    assert client.delete(f"/{patient}").status_code == 204  # the team is gone
    assert ids(client, f"/CareTeam?participant={doctor}") == set()


def test_a_patient_member_of_a_team_is_protected_too(client):
    patient, doctor = new_patient(client), new_practitioner(client)
    carer = new_patient(client)  # a family member cared for as well, in the team
    create(client, care_team(patient, doctor, carer))
    assert client.delete(f"/{carer}").status_code == 409


def test_deleting_the_team_frees_its_members(client):
    patient, doctor = new_patient(client), new_practitioner(client)
    tid = create(client, care_team(patient, doctor))["id"]
    assert client.delete(f"/CareTeam/{tid}").status_code == 204
    assert client.delete(f"/{doctor}").status_code == 204
    assert client.delete(f"/{patient}").status_code == 204


# --- Bundles ------------------------------------------------------------------------------------


def test_a_transaction_creates_a_team_with_its_new_practitioner_and_patient(client):
    doctor_url, patient_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    staff_id = unique("doctor")
    team = care_team(patient_url, doctor_url)
    bundle = transaction(
        post(team),
        post(practitioner(staff_id=staff_id), doctor_url),
        post({"resourceType": "Patient", "name": [{"family": "Kobayashi"}]}, patient_url),
    )
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 200, response.text
    locations = [e["response"]["location"] for e in response.json()["entry"]]
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["201 Created"] * 3
    tid = locations[0].split("/")[1]
    doctor, patient = ("/".join(loc.split("/")[:2]) for loc in locations[1:])
    stored = client.get(f"/CareTeam/{tid}").json()
    assert stored["subject"] == {"reference": patient}
    assert stored["participant"][0]["member"] == {"reference": doctor}
    assert ids(client, f"/CareTeam?participant={doctor}&status=active") == {tid}
    assert ids(client, f"/CareTeam?patient={patient.split('/')[1]}") == {tid}
    assert ids(client, f"/Practitioner?identifier={STAFF}|{staff_id}") == {doctor.split("/")[1]}


def test_a_transaction_may_name_a_stored_practitioner_by_identifier(client):
    staff_id = unique("nurse")
    doctor = new_practitioner(client, staff_id=staff_id)
    patient = new_patient(client)
    team = care_team(patient, f"Practitioner?identifier={STAFF}|{staff_id}")
    response = client.post("", json=transaction(post(team)), headers=JSON)
    assert response.status_code == 200, response.text
    tid = response.json()["entry"][0]["response"]["location"].split("/")[1]
    assert ids(client, f"/CareTeam?participant={doctor}") == {tid}


@pytest.mark.parametrize(
    ("subject", "member", "where"),
    [
        ("patient", "nowhere", "Bundle.entry[0].resource"),  # a urn:uuid of no entry
        ("doctor", "patient", "Bundle.entry[0].resource.subject.reference"),  # types swapped
    ],
)
def test_a_transaction_with_a_wrong_team_reference_is_refused_whole(client, subject, member, where):
    urls = {name: f"urn:uuid:{uuid.uuid4()}" for name in ("doctor", "patient", "nowhere")}
    staff_id = unique("refused")
    bundle = transaction(
        post(care_team(urls[subject], urls[member])),
        post(practitioner(staff_id=staff_id), urls["doctor"]),
        post({"resourceType": "Patient", "name": [{"family": "Refused"}]}, urls["patient"]),
    )
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 400, response.text
    assert issue(response)["expression"] == [where]
    assert ids(client, f"/Practitioner?identifier={STAFF}|{staff_id}") == set()


def test_on_behalf_of_a_patient_named_by_urn_uuid_is_400_ctm_1(client):
    """Validation cannot tell a urn:uuid member's type; the transaction can."""
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    team = care_team(new_patient(client), patient_url)
    team["participant"][0]["onBehalfOf"] = {"reference": "Organization/clinic"}
    family = unique("Carer")
    bundle = transaction(
        post(team), post({"resourceType": "Patient", "name": [{"family": family}]}, patient_url)
    )
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 400, response.text
    assert issue(response)["expression"] == ["Bundle.entry[0].resource.participant[0].onBehalfOf"]
    assert ids(client, f"/Patient?family={family}") == set()


def test_a_transaction_deleting_a_named_practitioner_is_409_unless_it_deletes_the_team(client):
    patient, doctor = new_patient(client), new_practitioner(client)
    tid = create(client, care_team(patient, doctor))["id"]
    delete_doctor = {"request": {"method": "DELETE", "url": doctor}}
    response = client.post("", json=transaction(delete_doctor), headers=JSON)
    assert response.status_code == 409, response.text
    delete_team = {"request": {"method": "DELETE", "url": f"CareTeam/{tid}"}}
    response = client.post("", json=transaction(delete_doctor, delete_team), headers=JSON)
    assert response.status_code == 200, response.text
    assert client.get(f"/{doctor}").status_code == 410


def test_a_batch_takes_practitioners_and_care_teams(client):
    patient, doctor = new_patient(client), new_practitioner(client)
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            post(practitioner()),
            post(care_team(patient, doctor)),
            post(care_team(patient, "Practitioner/nobody")),
            {"request": {"method": "GET", "url": doctor}},
        ],
    }
    response = client.post("", json=bundle, headers=JSON)
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses[0] == statuses[1] == "201 Created"
    assert statuses[2].startswith("400")
    assert statuses[3] == "200 OK"


# --- published capabilities ----------------------------------------------------------------------


def test_the_capability_statement_lists_both_types_with_their_parameters(client):
    statement = client.get("/metadata").json()
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    params = {t: {p["name"]: p for p in types[t]["searchParam"]} for t in types}
    assert {"identifier", "name", "family", "given", "active"} <= set(params["Practitioner"])
    assert {"identifier", "subject", "patient", "participant", "status", "category", "date"} <= set(
        params["CareTeam"]
    )
    assert params["CareTeam"]["participant"]["type"] == "reference"
    assert params["CareTeam"]["date"]["type"] == "date"
    assert "Observation" not in params["CareTeam"]["patient"]["documentation"]
    assert params["Practitioner"]["active"]["type"] == "token"


def test_the_openapi_document_has_their_paths(server):
    document = httpx.get(server.base.removesuffix("/fhir") + "/openapi.json").json()
    for path in ("/fhir/Practitioner", "/fhir/CareTeam", "/fhir/CareTeam/{id}"):
        assert path in document["paths"]
    names = {p["name"] for p in document["paths"]["/fhir/CareTeam"]["get"]["parameters"]}
    assert {"participant", "patient", "status", "date"} <= names


# --- the access layer's look-ups -----------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["participant={doctor}&status=active", "patient={patient}", "subject={patient}"]
)
def test_a_teams_look_up_goes_through_the_reference_index_not_every_team(server, client, query):
    """The access layer runs these on every staff request: SQLite must find the teams from
    the reference index (resources by id), not test every CareTeam in turn (260 ms among
    20,000 teams)."""
    patient, doctor = new_patient(client), new_practitioner(client)
    create(client, care_team(patient, doctor))
    statements: list[tuple[str, Any]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "FROM resources" in statement and "search_references" in statement:
            statements.append((statement, parameters))

    event.listen(server.store.engine, "before_cursor_execute", seen)
    try:
        url = "/CareTeam?" + query.format(doctor=doctor, patient=patient)
        assert len(ids(client, url)) == 1
    finally:
        event.remove(server.store.engine, "before_cursor_execute", seen)
    assert statements
    if server.backend != "sqlite":
        return  # the plan is SQLite's: PostgreSQL turns either form into a semi-join
    with server.store.engine.connect() as connection:
        for statement, parameters in statements:
            plan = [
                row[3]
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            ]
            assert any("ix_search_references_lookup" in step for step in plan), plan
            # Each team by its key (issue 15: the index rows name resource keys).
            assert any("INTEGER PRIMARY KEY (rowid=?)" in step for step in plan), plan

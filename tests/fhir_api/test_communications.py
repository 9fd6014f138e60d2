"""A patient's request from home, stored as an R4 Communication (issue 14).

The call button uploads each press as a completed Communication from the patient
(subject and sender), category `patient-request` `call-me` or `fine-today`, named by
an identifier the gateway hands out once, through a conditional create. The gateway
writes presses only for its bound patients and finds only its own (its retry finds
the first press); staff of the patient's care team read and search them; nobody else
sees them. The world (two homes, their care teams and tokens) is the access matrix's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from fhir_api.codes import CALL_ME, FINE_TODAY, PATIENT_REQUEST, PRESS_IDENTIFIER
from fhir_api.fhir import OperationOutcome
from fhir_api.patient_requests import is_call_me, patient_request

from .conftest import serve, settings_for
from .test_access import World, build_world

SENT = "2026-11-30T01:32:00Z"  # 10:32 in Tokyo
CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"


def press(
    patient: str, value: str, *, request: str = CALL_ME, team: str | None = None
) -> dict[str, Any]:
    """A press as the gateway's mapping (gateway/mapping/communication.py) writes it."""
    body: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [{"system": PRESS_IDENTIFIER, "value": value}],
        "status": "completed",
        "category": [
            {"coding": [{"system": CATEGORY, "code": "alert"}]},
            {"coding": [{"system": PATIENT_REQUEST, "code": request}]},
        ],
        "priority": "asap" if request == CALL_ME else "routine",
        "subject": {"reference": f"Patient/{patient}"},
        "sender": {"reference": f"Patient/{patient}"},
        "sent": SENT,
        "payload": [{"contentString": "Please call me"}],
    }
    if team is not None:
        body["recipient"] = [{"reference": f"CareTeam/{team}"}]
    return body


def conditional(body: dict[str, Any]) -> dict[str, str]:
    value = body["identifier"][0]["value"]
    return {"If-None-Exist": f"identifier={PRESS_IDENTIFIER}|{value}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"communications-{request.param}")
        settings = settings_for(request.param, stack, tmp)
        base, store = stack.enter_context(serve(settings))
        world = build_world(base, store.engine)
        ids = world.ids
        for home in ("A", "B"):
            body = press(ids[f"patient-{home}"], f"gw-{home}-1", team=ids[f"team-{home}"])
            with world.client(f"gateway-{home}") as gateway:
                response = gateway.post("/Communication", json=body, headers=conditional(body))
            assert response.status_code == 201, response.text
            ids[f"press-{home}"] = response.json()["id"]
        yield world


def issue(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    OperationOutcome.model_validate(body)
    return dict(body["issue"][0])


def found(client: httpx.Client, query: str) -> set[str]:
    response = client.get(query)
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


def test_a_press_is_stored_and_searched_by_each_parameter(world: World) -> None:
    ids = world.ids
    patient, team, pressed = ids["patient-A"], ids["team-A"], ids["press-A"]
    with world.client("system") as system:
        stored = system.get(f"/Communication/{pressed}").json()
        assert is_call_me(stored)
        assert stored["recipient"] == [{"reference": f"CareTeam/{team}"}]
        for query in (
            f"patient={patient}",
            f"subject=Patient/{patient}",
            f"sender=Patient/{patient}",
            f"recipient=CareTeam/{team}",
            f"category={PATIENT_REQUEST}|{CALL_ME}",
            f"identifier={PRESS_IDENTIFIER}|gw-A-1",
            "status=completed&priority=asap",
            # 10:32 on 30 November in the patient's zone (the server default, Asia/Tokyo).
            "sent=2026-11-30&sent=ge2026-11-30T10:00:00%2B09:00",
        ):
            assert found(system, f"/Communication?{query}&patient={patient}") == {pressed}, query
        assert found(system, f"/Communication?patient={patient}&sent=lt2026-11-30") == set()
        assert found(system, f"/Communication?category={PATIENT_REQUEST}|{FINE_TODAY}") == set()
        assert found(system, "/Communication?status=completed") == {pressed, ids["press-B"]}
        statement = system.get("/metadata").json()
        params = {
            p["name"]
            for r in statement["rest"][0]["resource"]
            if r["type"] == "Communication"
            for p in r["searchParam"]
        }
        assert {"patient", "subject", "category", "identifier", "sent", "status"} <= params
        assert {"sender", "recipient"} <= params
    paths = httpx.get(world.base.removesuffix("/fhir") + "/openapi.json").json()["paths"]
    assert "/fhir/Communication/{id}" in paths
    names = {p["name"] for p in paths["/fhir/Communication"]["get"]["parameters"]}
    assert {"patient", "category", "identifier", "sent", "sender", "recipient"} <= names


def test_a_retried_press_is_stored_once(world: World) -> None:
    """The gateway repeats a press whose answer it lost: the conditional create finds it."""
    ids = world.ids
    body = press(ids["patient-A"], "gw-A-1", team=ids["team-A"])
    with world.client("gateway-A") as gateway:
        again = gateway.post("/Communication", json=body, headers=conditional(body))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == ids["press-A"]
    with world.client("system") as system:
        assert found(system, f"/Communication?identifier={PRESS_IDENTIFIER}|gw-A-1") == {
            ids["press-A"]
        }


def test_a_press_for_a_patient_the_gateway_does_not_serve_is_a_400_not_found(
    world: World,
) -> None:
    """The gateway keeps it and retries (as for a reading of an unbound patient)."""
    ids = world.ids
    body = press(ids["patient-B"], "gw-A-99")
    with world.client("gateway-A") as gateway:
        outside = gateway.post("/Communication", json=body, headers=conditional(body))
        unknown = gateway.post("/Communication", json=press("nobody", "gw-A-98"))
        assert outside.status_code == unknown.status_code == 400
        assert issue(outside)["code"] == issue(unknown)["code"] == "not-found"
        # It reads nothing and finds only its own presses.
        assert gateway.get(f"/Communication/{ids['press-A']}").status_code == 403
        assert found(gateway, "/Communication?_count=100") == {ids["press-A"]}
    with world.client("system") as system:
        assert found(system, f"/Communication?identifier={PRESS_IDENTIFIER}|gw-A-99") == set()


def test_staff_of_the_care_team_read_their_patients_requests_only(world: World) -> None:
    ids = world.ids
    for who in ("doctor", "nurse", "care_manager"):
        with world.client(who) as staff:
            assert staff.get(f"/Communication/{ids['press-A']}").status_code == 200, who
            assert staff.get(f"/Communication/{ids['press-B']}").status_code == 404, who
            assert found(staff, "/Communication?_count=100") == {ids["press-A"]}, who
            # A request is the patient's word: staff do not write one.
            created = staff.post("/Communication", json=press(ids["patient-A"], f"{who}-1"))
            assert created.status_code == 403, who
    with world.client("admin") as admin:
        assert admin.get(f"/Communication/{ids['press-A']}").status_code == 403


@pytest.mark.parametrize(
    ("change", "where", "text"),
    [
        ({"status": "done"}, "Communication.status", "required value set"),
        ({"priority": "soon"}, "Communication.priority", "required value set"),
        ({"subject": None}, "Communication.subject", "the Patient as subject"),
        ({"sender": {"reference": "Practitioner/x"}}, "Communication.sender", "sent by"),
        ({"sent": None}, "Communication", "when it was sent"),
        ({"sent": "2026-13-01T00:00:00Z"}, "Communication.sent", ""),
        (
            {"category": [{"coding": [{"system": PATIENT_REQUEST, "code": "pizza"}]}]},
            "Communication.category",
            "not a patient request",
        ),
        ({"subject": {"reference": "Device/x"}}, "Communication.subject", "Patient"),
        ({"recipient": [{"reference": "Observation/x"}]}, "recipient[0]", "CareTeam"),
        ({"payload": "Please call me"}, "Communication.payload", ""),
    ],
)
def test_an_invalid_request_is_a_400_and_stores_nothing(
    world: World, change: dict[str, Any], where: str, text: str
) -> None:
    body = press(world.ids["patient-A"], "invalid-1")
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    with world.client("system") as system:
        before = found(system, "/Communication?_count=100")
        response = system.post("/Communication", json=body)
        assert response.status_code == 400, response.text
        problem = issue(response)
        assert text in problem["diagnostics"]
        assert any(where in e for e in problem.get("expression", [])), problem
        assert found(system, "/Communication?_count=100") == before


@pytest.mark.parametrize("element", ["subject", "recipient"])
def test_a_request_names_what_the_server_holds(world: World, element: str) -> None:
    body = press(world.ids["patient-A"], f"dangling-{element}", team="nobody")
    if element == "subject":
        body["subject"] = body["sender"] = {"reference": "Patient/nobody"}
    with world.client("system") as system:
        response = system.post("/Communication", json=body)
    assert response.status_code == 400
    assert issue(response)["code"] == "not-found"


def test_the_seam_tells_a_call_me_from_a_check_in() -> None:
    """What the alert rules ask: only a completed call-me is a request to be called."""
    call = press("p", "seam-1")
    fine = press("p", "seam-2", request=FINE_TODAY)
    assert (patient_request(call), is_call_me(call)) == (CALL_ME, True)
    assert (patient_request(fine), is_call_me(fine)) == (FINE_TODAY, False)
    assert not is_call_me({**call, "status": "entered-in-error"})
    assert patient_request({"resourceType": "Observation", "category": call["category"]}) is None

"""A clinician's review of a patient's readings, stored as an R4 Task (issue 12).

"Mark as reviewed" writes a completed Task with code `vitals-review`, `for` the
Patient, `owner` the reviewing Practitioner and `executionPeriod` the period reviewed,
so any FHIR client sees who reviewed what and when. Staff create reviews only for the
patients in their reach and only in their own name; a review is a record (no update,
no delete for staff). The world (two homes, their care teams and tokens) is the
access matrix's (`test_access.build_world`), with a review of each home's patient.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from fhir_api.codes import HOMEVITALS_TASK, VITALS_REVIEW
from fhir_api.fhir import OperationOutcome

from .conftest import serve, settings_for
from .test_access import World, build_world

AUTHORED = "2026-11-30T14:05:00+09:00"


def review(
    patient: str, practitioner: str, *, start: str = "2026-11-01", end: str = "2026-11-30"
) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "status": "completed",
        "intent": "order",
        "code": {
            "coding": [
                {
                    "system": HOMEVITALS_TASK,
                    "code": VITALS_REVIEW,
                    "display": "Review of home vital signs",
                }
            ]
        },
        "for": {"reference": f"Patient/{patient}"},
        "owner": {"reference": f"Practitioner/{practitioner}"},
        "executionPeriod": {"start": start, "end": end},
        "authoredOn": AUTHORED,
        "lastModified": AUTHORED,
        "note": [{"text": "BP well controlled"}],
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"tasks-{request.param}")
        settings = settings_for(request.param, stack, tmp)
        base, store = stack.enter_context(serve(settings))
        # Its reviews: task-A of patient A by A's doctor, task-B of B by B's.
        yield build_world(base, store.engine)


def issue(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    OperationOutcome.model_validate(body)
    return dict(body["issue"][0])


def found(client: httpx.Client, query: str) -> set[str]:
    response = client.get(query)
    assert response.status_code == 200, response.text
    return {entry["resource"]["id"] for entry in response.json().get("entry", [])}


def test_a_review_is_stored_read_and_searched_with_a_system_token(world: World) -> None:
    ids = world.ids
    patient, task = ids["patient-A"], ids["task-A"]
    with world.client("system") as system:
        stored = system.get(f"/Task/{task}").json()
        assert stored["owner"] == {"reference": f"Practitioner/{ids['pr-doctor']}"}
        assert stored["executionPeriod"] == {"start": "2026-11-01", "end": "2026-11-30"}
        code = f"{HOMEVITALS_TASK}|{VITALS_REVIEW}"
        assert found(system, f"/Task?patient={patient}&code={code}&status=completed") == {task}
        assert found(system, f"/Task?subject=Patient/{patient}&intent=order") == {task}
        assert found(system, f"/Task?owner=Practitioner/{ids['pr-doctor']}") == {task}
        inside = "period=ge2026-11-01&period=le2026-11-30"
        assert found(system, f"/Task?patient={patient}&{inside}") == {task}
        assert found(system, f"/Task?patient={patient}&period=gt2026-12-01") == set()
        assert found(system, f"/Task?patient={patient}&authored-on=ge2026-11-30") == {task}
        assert found(system, f"/Task?patient={patient}&authored-on=lt2026-11-30") == set()
        statement = system.get("/metadata").json()
        params = {
            p["name"]
            for r in statement["rest"][0]["resource"]
            if r["type"] == "Task"
            for p in r["searchParam"]
        }
        assert {"patient", "subject", "owner", "code", "status", "period"} <= params


@pytest.mark.parametrize(
    ("change", "where", "text"),
    [
        ({"status": "done"}, "Task.status", "required value set"),
        ({"intent": "wish"}, "Task.intent", "required value set"),
        ({"status": "in-progress"}, "Task", "status completed"),
        ({"for": None}, "Task.for", "the Patient reviewed"),
        ({"owner": None}, "Task.owner", "the reviewer"),
        ({"executionPeriod": {"start": "2026-11-01"}}, "Task.executionPeriod", "start and end"),
        ({"executionPeriod": {"start": "2026-12-30", "end": "2027-01-30"}}, "start", "after"),
        ({"executionPeriod": {"start": "2026-11-30", "end": "2026-11-01"}}, "Period", "per-1"),
        ({"authoredOn": None}, "Task", "authoredOn"),
        ({"for": {"reference": "Device/x"}}, "Task.for", "Patient"),
        ({"owner": {"reference": "Patient/x"}}, "Task.owner", "Practitioner"),
    ],
)
def test_an_invalid_review_is_a_400_and_stores_nothing(
    world: World, change: dict[str, Any], where: str, text: str
) -> None:
    body = review(world.ids["patient-A"], world.ids["pr-doctor"])
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    with world.client("system") as system:
        before = found(system, "/Task?_count=100")
        response = system.post("/Task", json=body)
        assert response.status_code == 400, response.text
        problem = issue(response)
        assert text in problem["diagnostics"]
        assert any(where in e for e in problem.get("expression", [])), problem
        assert found(system, "/Task?_count=100") == before


@pytest.mark.parametrize("missing", ["for", "owner"])
def test_a_review_names_a_patient_and_a_practitioner_the_server_holds(
    world: World, missing: str
) -> None:
    body = review(world.ids["patient-A"], world.ids["pr-doctor"])
    body[missing]["reference"] = body[missing]["reference"].split("/")[0] + "/nobody"
    with world.client("system") as system:
        response = system.post("/Task", json=body)
    assert response.status_code == 400
    assert issue(response)["code"] == "not-found"


def test_a_doctor_records_a_review_of_their_own_patient_in_their_own_name(world: World) -> None:
    ids = world.ids
    with world.client("doctor") as doctor:
        response = doctor.post("/Task", json=review(ids["patient-A"], ids["pr-doctor"]))
        assert response.status_code == 201, response.text
        task = response.json()["id"]
        assert task in found(doctor, f"/Task?patient={ids['patient-A']}")
        # A review is a record: staff neither change nor delete it.
        stored = doctor.get(f"/Task/{task}").json()
        assert doctor.put(f"/Task/{task}", json=stored).status_code == 403
        assert doctor.delete(f"/Task/{task}").status_code == 403


def test_nobody_signs_a_review_for_another_practitioner(world: World) -> None:
    ids = world.ids
    with world.client("doctor") as doctor:
        response = doctor.post("/Task", json=review(ids["patient-A"], ids["pr-nurse"]))
        assert response.status_code == 403
        assert issue(response)["expression"] == ["Task.owner"]
        # Nor inside a transaction: the whole Bundle is refused.
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": review(ids["patient-A"], who),
                    "request": {"method": "POST", "url": "Task"},
                }
                for who in (ids["pr-doctor"], ids["pr-nurse"])
            ],
        }
        assert doctor.post("/", json=bundle).status_code == 403
        assert found(doctor, f"/Task?owner=Practitioner/{ids['pr-nurse']}") == set()


def test_a_patient_outside_the_care_team_is_as_unknown_to_a_review(world: World) -> None:
    """Nurse of A's team: B's review reads 404 and is never found; a review for B is the
    same 400 not-found as one for a Patient the server does not hold."""
    ids = world.ids
    with world.client("nurse") as nurse:
        assert nurse.get(f"/Task/{ids['task-B']}").status_code == 404
        assert nurse.get(f"/Task/{ids['task-A']}").status_code == 200
        assert ids["task-B"] not in found(nurse, "/Task?_count=100")
        assert found(nurse, f"/Task?patient={ids['patient-B']}") == set()
        outside = nurse.post("/Task", json=review(ids["patient-B"], ids["pr-nurse"]))
        unknown = nurse.post("/Task", json=review("nobody", ids["pr-nurse"]))
        assert outside.status_code == unknown.status_code == 400
        assert issue(outside)["code"] == issue(unknown)["code"] == "not-found"


def test_a_care_manager_reads_reviews_but_records_none(world: World) -> None:
    ids = world.ids
    with world.client("care_manager") as manager:
        assert manager.get(f"/Task/{ids['task-A']}").status_code == 200
        response = manager.post("/Task", json=review(ids["patient-A"], ids["pr-care_manager"]))
        assert response.status_code == 403
        assert issue(response)["code"] == "forbidden"
    with world.client("gateway-A") as gateway:
        assert gateway.get(f"/Task/{ids['task-A']}").status_code == 403


def test_a_reviewed_patient_is_not_deleted_under_its_reviews(world: World) -> None:
    with world.client("system") as system:
        response = system.delete(f"/Patient/{world.ids['patient-B']}")
        assert response.status_code == 409
        assert f"Task/{world.ids['task-B']}" in issue(response)["diagnostics"]


def test_the_openapi_document_has_the_task_paths(world: World) -> None:
    document = httpx.get(world.base.removesuffix("/fhir") + "/openapi.json").json()
    for path in ("/fhir/Task", "/fhir/Task/{id}"):
        assert path in document["paths"]
    names = {p["name"] for p in document["paths"]["/fhir/Task"]["get"]["parameters"]}
    assert {"patient", "owner", "code", "status", "period", "authored-on"} <= names

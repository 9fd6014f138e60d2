"""Alerts as FHIR over real HTTP: `/fhir/DetectedIssue` with the real rules behind it.

Read and search with the access rules (a care team's staff only; others 404;
gateways and admins 403), writes 405, `$acknowledge` and `$resolve` through the
lifecycle, each audited; the resource valid R4 (the R4B model: DetectedIssue did not
change between R4 and R4B).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.detectedissue import DetectedIssue
from sqlalchemy import insert

from fhir_api.alerts.evaluator import RuleEvaluator
from fhir_api.auth import TokenStore
from fhir_api.roles import TokenKind
from fhir_api.storage.schema import staff_accounts

from ..fhir_api.conftest import settings_for
from ..fhir_api.helpers import JSON, blood_pressure, gateway_token, patient
from .test_end_to_end import serving


@dataclass
class Clinic:
    base: str
    engine: Any
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def client(self, who: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **JSON}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def _staff(engine: Any, roles: str, practitioner: str | None) -> str:
    name = f"u{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        account = connection.execute(
            insert(staff_accounts).values(
                username=name, roles=roles, practitioner_id=practitioner, created_ms=0
            )
        ).inserted_primary_key[0]
    return TokenStore(engine).create(name, TokenKind.STAFF, account_id=int(account))


def _id(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clinic(request, tmp_path_factory) -> Iterator[Clinic]:
    """Patients A and B; A's care team: a doctor; B's: a care manager. A has an urgent
    blood pressure (an open bp-urgent alert)."""
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"detected-{request.param}")
        settings = settings_for(request.param, stack, tmp, alerts_poll_seconds=0.2)
        evaluator = RuleEvaluator(server_zone="Asia/Tokyo")
        base, store = stack.enter_context(serving(settings, evaluator))
        world = Clinic(base, store.engine)
        world.tokens["system"] = TokenStore(store.engine).create("sys", TokenKind.SYSTEM)
        ids = world.ids
        with world.client("system") as system:
            for name in ("A", "B"):
                ids[name] = _id(system.post("/Patient", json=patient(identifier=f"P-{name}")))
                ids[f"staff-{name}"] = _id(
                    system.post("/Practitioner", json={"resourceType": "Practitioner"})
                )
                team = {
                    "resourceType": "CareTeam",
                    "status": "active",
                    "subject": {"reference": f"Patient/{ids[name]}"},
                    "participant": [
                        {"member": {"reference": f"Practitioner/{ids[f'staff-{name}']}"}}
                    ],
                }
                _id(system.post("/CareTeam", json=team))
            reading = blood_pressure(f"Patient/{ids['A']}", "2026-11-30T07:00:00+09:00", 192, 104)
            ids["reading"] = _id(system.post("/Observation", json=reading))
            deadline = time.monotonic() + 10
            while True:
                found = system.get("/DetectedIssue", params={"patient": ids["A"]}).json()
                if found.get("total"):
                    ids["alert"] = found["entry"][0]["resource"]["id"]
                    break
                assert time.monotonic() < deadline, "the alert did not open"
                time.sleep(0.05)
        world.tokens["doctor-A"] = _staff(store.engine, "doctor", ids["staff-A"])
        world.tokens["manager-B"] = _staff(store.engine, "care_manager", ids["staff-B"])
        world.tokens["admin"] = _staff(store.engine, "admin", None)
        world.tokens["gateway"] = gateway_token(store.engine, "home-a", [ids["A"]])
        yield world


def test_the_care_team_reads_the_alert_as_a_valid_r4_detected_issue(clinic):
    with clinic.client("doctor-A") as doctor:
        answer = doctor.get(f"/DetectedIssue/{clinic.ids['alert']}")
    assert answer.status_code == 200, answer.text
    issue = answer.json()
    DetectedIssue.model_validate(issue)
    assert issue["code"]["coding"][0]["code"] == "bp-urgent"
    assert issue["severity"] == "high" and issue["status"] == "preliminary"
    assert issue["patient"] == {"reference": f"Patient/{clinic.ids['A']}"}
    assert issue["implicated"] == [{"reference": f"Observation/{clinic.ids['reading']}"}]


def test_others_do_not_see_it_and_gateways_and_admins_may_not_ask(clinic):
    alert = clinic.ids["alert"]
    with clinic.client("manager-B") as other:
        assert other.get(f"/DetectedIssue/{alert}").status_code == 404
        assert other.get("/DetectedIssue").json()["total"] == 0
        refused = other.post(
            f"/DetectedIssue/{alert}/$acknowledge", json={"resourceType": "Parameters"}
        )
        assert refused.status_code == 404
    for who in ("gateway", "admin"):
        with clinic.client(who) as caller:
            answer = caller.get("/DetectedIssue")
            assert answer.status_code == 403, (who, answer.text)
            assert answer.json()["resourceType"] == "OperationOutcome"


def test_writes_are_refused_with_405(clinic):
    alert = clinic.ids["alert"]
    with clinic.client("system") as system:
        for method, path in (("POST", ""), ("PUT", f"/{alert}"), ("DELETE", f"/{alert}")):
            answer = system.request(
                method, f"/DetectedIssue{path}", json={"resourceType": "DetectedIssue"}
            )
            assert answer.status_code == 405, (method, answer.text)
            assert answer.json()["resourceType"] == "OperationOutcome"


def test_search_parameters(clinic):
    a, alert = clinic.ids["A"], clinic.ids["alert"]
    with clinic.client("doctor-A") as doctor:

        def ids(**params: str) -> list[str]:
            answer = doctor.get("/DetectedIssue", params=params)
            assert answer.status_code == 200, answer.text
            return [e["resource"]["id"] for e in answer.json().get("entry", [])]

        assert ids(patient=f"Patient/{a}", code="bp-urgent", identified="ge2020-01-01") == [alert]
        assert ids(code="bp-high") == [] and ids(identified="lt2020-01-01") == []
        assert ids(_sort="-identified", _count="1") == [alert]
        for bad in ({"status": "closed"}, {"colour": "red"}, {"identified": "xx2026"}):
            answer = doctor.get("/DetectedIssue", params=bad)
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["resourceType"] == "OperationOutcome"


def test_acknowledge_then_resolve_each_audited(clinic):
    alert, doctor_ref = clinic.ids["alert"], f"Practitioner/{clinic.ids['staff-A']}"
    note = {
        "resourceType": "Parameters",
        "parameter": [{"name": "note", "valueString": "電話済み"}],
    }
    with clinic.client("doctor-A") as doctor:
        done = doctor.post(f"/DetectedIssue/{alert}/$acknowledge", json=note)
        assert done.status_code == 200, done.text
        [step] = done.json()["mitigation"]
        assert step["action"]["coding"][0]["code"] == "acknowledged"
        assert step["author"] == {"reference": doctor_ref} and step["action"]["text"] == "電話済み"
        again = doctor.post(f"/DetectedIssue/{alert}/$acknowledge", json=note)
        assert again.status_code == 409 and again.json()["resourceType"] == "OperationOutcome"
        assert doctor.get("/DetectedIssue", params={"status": "acknowledged"}).json()["total"] == 1

        no_note = doctor.post(
            f"/DetectedIssue/{alert}/$resolve", json={"resourceType": "Parameters"}
        )
        assert no_note.status_code == 400, no_note.text
        resolved = doctor.post(f"/DetectedIssue/{alert}/$resolve", json=note)
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "final"
        assert doctor.post(f"/DetectedIssue/{alert}/$resolve", json=note).status_code == 409
        assert doctor.get(f"/DetectedIssue/{alert}").json()["status"] == "final"
    with clinic.client("system") as system:
        for operation in ("$acknowledge", "$resolve"):
            events = system.get("/AuditEvent", params={"subtype": operation}).json()
            ok = [e["resource"] for e in events.get("entry", []) if e["resource"]["outcome"] == "0"]
            assert len(ok) == 1, (operation, events)
            entities = [x.get("what", {}).get("reference") for x in ok[0]["entity"]]
            assert f"DetectedIssue/{alert}" in entities
            assert f"Patient/{clinic.ids['A']}" in entities


def test_the_capability_statement_and_openapi_list_detected_issue(clinic):
    root = clinic.base.removesuffix("/fhir")
    statement = httpx.get(f"{clinic.base}/metadata").json()
    [entry] = [r for r in statement["rest"][0]["resource"] if r["type"] == "DetectedIssue"]
    assert {o["name"] for o in entry["operation"]} == {"acknowledge", "resolve"}
    definition = httpx.get(f"{clinic.base}/OperationDefinition/DetectedIssue-resolve")
    assert definition.status_code == 200 and definition.json()["code"] == "resolve"
    paths = httpx.get(f"{root}/openapi.json").json()["paths"]
    assert "/fhir/DetectedIssue/{id}/$acknowledge" in paths

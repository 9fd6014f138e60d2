"""The access matrix over real HTTP (issue 11): each token kind and staff role x resource
type x interaction x own patient / other patient / unassigned reading.

Two homes: gateway `home-a` serves patient A, `home-b` patient B. The doctor, nurse
and care manager are in A's care team; another doctor is in B's. Each home's gateway
uploads a reading of its patient and an unassigned one (subject: its sensor Device).
Expected answers follow the rules in the README ("Roles and scopes"): a scope the
token lacks is 403; data outside the caller's reach is 404, as if it did not exist;
searches, totals and `_include` only ever show what is in reach.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from fhir_api.access.gateways import GatewayRegistry
from fhir_api.auth import TokenStore
from fhir_api.codes import HOMEVITALS_TASK, VITALS_REVIEW
from fhir_api.roles import StaffRole, TokenKind
from fhir_api.storage.schema import staff_accounts

from .conftest import serve, settings_for
from .helpers import JSON, blood_pressure

GATEWAY_EXT = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
WHEN = "2026-11-02T07:30:00+09:00"
PHD_CATEGORY = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
PHD_BP = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCompoundNumericObservation"


def device(identifier: str, patient: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Device",
        "identifier": [{"system": "urn:test:device", "value": identifier}],
    }
    if patient:
        body["patient"] = {"reference": f"Patient/{patient}"}
    return body


def reading(
    subject: str, gateway_device: str, ident: str, sensor: str | None = None
) -> dict[str, Any]:
    body = blood_pressure(subject, WHEN, 128, 82, ident)
    body["device"] = {"reference": sensor or gateway_device}
    body["category"].append({"coding": [{"system": PHD_CATEGORY, "code": "phd"}]})
    body["extension"] = [{"url": GATEWAY_EXT, "valueReference": {"reference": gateway_device}}]
    # The PHD profile lets an unassigned reading name its sensor as subject.
    body["meta"] = {"profile": [PHD_BP]}
    return body


@dataclass
class World:
    base: str
    tokens: dict[str, str]
    engine: Any
    ids: dict[str, str] = field(default_factory=dict)

    def client(self, who: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **JSON}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def review_task(patient: str, practitioner: str) -> dict[str, Any]:
    """A completed review of a patient's vital signs (issue 12)."""
    return {
        "resourceType": "Task",
        "status": "completed",
        "intent": "order",
        "code": {"coding": [{"system": HOMEVITALS_TASK, "code": VITALS_REVIEW}]},
        "for": {"reference": f"Patient/{patient}"},
        "owner": {"reference": f"Practitioner/{practitioner}"},
        "executionPeriod": {"start": "2026-11-01", "end": "2026-11-30"},
        "authoredOn": "2026-11-30T14:05:00+09:00",
    }


def _created(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _staff(engine: Any, username: str, roles: list[StaffRole], practitioner: str | None) -> str:
    with engine.begin() as connection:
        account = connection.execute(
            insert(staff_accounts).values(
                username=username,
                roles=",".join(r.value for r in roles),
                practitioner_id=practitioner,
                created_ms=int(time.time() * 1000),
            )
        ).inserted_primary_key[0]
    return TokenStore(engine).create(username, TokenKind.STAFF, account_id=int(account))


def build_world(base: str, engine: Any) -> World:
    tokens = {"system": TokenStore(engine).create("matrix", TokenKind.SYSTEM)}
    world = World(base, tokens, engine)
    ids = world.ids
    with world.client("system") as system:
        for name in ("A", "B"):
            ids[f"patient-{name}"] = _created(
                system.post(
                    "/Patient", json={"resourceType": "Patient", "name": [{"family": name}]}
                )
            )
        for name in ("doctor", "nurse", "care_manager", "admin", "doctor-b"):
            ids[f"pr-{name}"] = _created(
                system.post(
                    "/Practitioner",
                    json={"resourceType": "Practitioner", "name": [{"family": name}]},
                )
            )
        for home, members in (("A", ("doctor", "nurse", "care_manager")), ("B", ("doctor-b",))):
            team = {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": f"Patient/{ids[f'patient-{home}']}"},
                "participant": [
                    {"member": {"reference": f"Practitioner/{ids[f'pr-{m}']}"}} for m in members
                ],
            }
            ids[f"team-{home}"] = _created(system.post("/CareTeam", json=team))
            # A review of the home's patient by its doctor (issue 12: a Task for the patient).
            reviewer = ids["pr-doctor" if home == "A" else "pr-doctor-b"]
            ids[f"task-{home}"] = _created(
                system.post("/Task", json=review_task(ids[f"patient-{home}"], reviewer))
            )
    registry = GatewayRegistry(engine)
    for home in ("A", "B"):
        registry.bind(f"home-{home.lower()}", [ids[f"patient-{home}"]])
        tokens[f"gateway-{home}"] = TokenStore(engine).create(
            f"home-{home.lower()}", TokenKind.GATEWAY, gateway=f"home-{home.lower()}"
        )
    tokens["doctor"] = _staff(engine, "doctor", [StaffRole.DOCTOR], ids["pr-doctor"])
    tokens["nurse"] = _staff(engine, "nurse", [StaffRole.NURSE], ids["pr-nurse"])
    tokens["care_manager"] = _staff(engine, "cm", [StaffRole.CARE_MANAGER], ids["pr-care_manager"])
    tokens["admin"] = _staff(engine, "admin", [StaffRole.ADMIN], ids["pr-admin"])
    for home in ("A", "B"):
        with world.client(f"gateway-{home}") as gateway:
            gw = _created(gateway.post("/Device", json=device(f"gw-{home}")))
            sensor = _created(gateway.post("/Device", json=device(f"cuff-{home}")))
            patient = ids[f"patient-{home}"]
            ids[f"gw-{home}"], ids[f"sensor-{home}"] = gw, sensor
            ids[f"obs-{home}"] = _created(
                gateway.post(
                    "/Observation",
                    json=reading(
                        f"Patient/{patient}", f"Device/{gw}", f"r-{home}", f"Device/{sensor}"
                    ),
                )
            )
            ids[f"unassigned-{home}"] = _created(
                gateway.post(
                    "/Observation",
                    json=reading(
                        f"Device/{sensor}", f"Device/{gw}", f"u-{home}", f"Device/{sensor}"
                    ),
                )
            )
    return world


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"access-{request.param}")
        settings = settings_for(request.param, stack, tmp)
        base, store = stack.enter_context(serve(settings))
        yield build_world(base, store.engine)


# --- reads ----------------------------------------------------------------------------
# (who, resource key) -> expected status of GET [type]/[id]
TYPES = {
    "patient": "Patient",
    "obs": "Observation",
    "unassigned": "Observation",
    "gw": "Device",
    "sensor": "Device",
    "team": "CareTeam",
    "task": "Task",
}
READ_EXPECTED: dict[str, dict[str, tuple[int, int]]] = {
    # kind: {key: (status for home A's resource, status for home B's)}
    "system": {k: (200, 200) for k in TYPES},
    # A gateway reads nothing but its own Devices (its scopes have no Observation.r).
    "gateway-A": {
        "patient": (403, 403),
        "obs": (403, 403),
        "unassigned": (403, 403),
        "gw": (200, 404),
        "sensor": (200, 404),
        "team": (403, 403),
        "task": (403, 403),
    },
    # Staff of A's care team: A's data, the readings and Devices of A's gateway.
    **{
        who: {
            "patient": (200, 404),
            "obs": (200, 404),
            "unassigned": (200, 404),
            "gw": (200, 404),
            "sensor": (200, 404),
            "team": (200, 404),
            "task": (200, 404),
        }
        for who in ("doctor", "nurse", "care_manager")
    },
    # An admin manages patients, devices and care teams of everyone, reads no Observation.
    "admin": {
        "patient": (200, 200),
        "obs": (403, 403),
        "unassigned": (403, 403),
        "gw": (200, 200),
        "sensor": (200, 200),
        "team": (200, 200),
        "task": (403, 403),  # reviews are clinical records
    },
}


@pytest.mark.parametrize("who", sorted(READ_EXPECTED))
def test_read_vread_and_history(world: World, who: str) -> None:
    with world.client(who) as client:
        for key, resource_type in TYPES.items():
            for home, expected in zip("AB", READ_EXPECTED[who][key], strict=True):
                path = f"/{resource_type}/{world.ids[f'{key}-{home}']}"
                for suffix in ("", "/_history/1", "/_history"):
                    got = client.get(path + suffix)
                    assert got.status_code == expected, (who, key, home, suffix, got.text)
                    assert got.json()["resourceType"] == (
                        "OperationOutcome" if expected != 200 else got.json()["resourceType"]
                    )


def test_practitioners_are_a_directory_for_staff(world: World) -> None:
    for who in ("doctor", "care_manager", "admin"):
        with world.client(who) as client:
            found = client.get("/Practitioner?_count=100").json()
            assert found["total"] == 5
    with world.client("gateway-A") as client:
        assert client.get("/Practitioner").status_code == 403


# --- searches -----------------------------------------------------------------------------

SEARCH_EXPECTED = {
    "system": {"obs-A", "obs-B", "unassigned-A", "unassigned-B"},
    "gateway-A": {"obs-A", "unassigned-A"},
    "doctor": {"obs-A", "unassigned-A"},
    "nurse": {"obs-A", "unassigned-A"},
    "care_manager": {"obs-A", "unassigned-A"},
}


@pytest.mark.parametrize("who", sorted(SEARCH_EXPECTED))
def test_searches_show_only_what_is_in_reach(world: World, who: str) -> None:
    expected = {world.ids[k] for k in SEARCH_EXPECTED[who]}
    with world.client(who) as client:
        found = client.get("/Observation?_count=100").json()
        assert {e["resource"]["id"] for e in found.get("entry", [])} == expected
        assert found["total"] == len(expected), "total must not count what is hidden"
        counted = client.get("/Observation?_summary=count").json()
        assert counted["total"] == len(expected)
        other = world.ids["patient-B"]
        crossing = client.get(f"/Observation?subject=Patient/{other}").json()
        wanted_b = {world.ids["obs-B"]} if who == "system" else set()
        assert {e["resource"]["id"] for e in crossing.get("entry", [])} == wanted_b
        assert crossing["total"] == len(wanted_b)
        # _include=Observation:device must not bring another home's Device along.
        included = client.get("/Observation?_include=Observation:device&_count=100").json()
        devices = {
            e["resource"]["id"]
            for e in included.get("entry", [])
            if e["resource"]["resourceType"] == "Device"
        }
        assert devices <= (
            {world.ids["sensor-A"], world.ids["sensor-B"]}
            if who == "system"
            else {world.ids["sensor-A"]}
        )


def test_searches_the_scopes_forbid_are_refused(world: World) -> None:
    with world.client("admin") as client:
        assert client.get("/Observation").status_code == 403
        patients = client.get("/Patient?_count=100").json()
        assert patients["total"] == 2
    with world.client("gateway-A") as client:
        assert client.get("/Patient").status_code == 403
        devices = client.get("/Device?_count=100").json()
        assert {e["resource"]["id"] for e in devices["entry"]} == {
            world.ids["gw-A"],
            world.ids["sensor-A"],
        }
    with world.client("doctor") as client:
        patients = client.get("/Patient?_count=100").json()
        assert [e["resource"]["id"] for e in patients["entry"]] == [world.ids["patient-A"]]
        teams = client.get("/CareTeam").json()
        assert [e["resource"]["id"] for e in teams["entry"]] == [world.ids["team-A"]]


# --- operations ---------------------------------------------------------------------------

STATS = "code=85354-9&start=2026-11-01&end=2026-11-03"


@pytest.mark.parametrize(
    ("who", "own", "other"),
    [
        ("system", 200, 200),
        ("doctor", 200, 404),
        ("nurse", 200, 404),
        ("care_manager", 200, 404),
        ("admin", 403, 403),
        ("gateway-A", 403, 403),
    ],
)
def test_stats_and_lastn(world: World, who: str, own: int, other: int) -> None:
    with world.client(who) as client:
        for home, expected in (("A", own), ("B", other)):
            patient = world.ids[f"patient-{home}"]
            got = client.get(
                f"/Observation/$stats?subject=Patient/{patient}&code=8480-6&start=2026-11-01&end=2026-11-03"
            )
            assert got.status_code == expected, (who, home, got.text)
            lastn = client.get(f"/Observation/$lastn?patient=Patient/{patient}")
            if who in ("admin",):
                assert lastn.status_code == 403
                continue
            if who == "gateway-A":
                # Its own readings only: A's through $lastn's search, B's never.
                assert lastn.status_code == 200
                ids = {e["resource"]["id"] for e in lastn.json().get("entry", [])}
                assert ids == ({world.ids["obs-A"]} if home == "A" else set())
                continue
            ids = {e["resource"]["id"] for e in lastn.json().get("entry", [])}
            assert ids == ({world.ids[f"obs-{home}"]} if expected == 200 else set())


# --- writes ---------------------------------------------------------------------------------


def test_gateway_writes_for_its_patients_only(world: World) -> None:
    ids = world.ids
    with world.client("gateway-A") as gateway:
        mine = reading(f"Patient/{ids['patient-A']}", f"Device/{ids['gw-A']}", "w-1")
        assert gateway.post("/Observation", json=mine).status_code == 201
        theirs = reading(f"Patient/{ids['patient-B']}", f"Device/{ids['gw-A']}", "w-2")
        refused = gateway.post("/Observation", json=theirs)
        assert refused.status_code == 400, refused.text
        assert refused.json()["issue"][0]["code"] == "not-found"
        # Another home's gateway Device is as unknown as that home's patient.
        stolen = reading(f"Patient/{ids['patient-A']}", f"Device/{ids['gw-B']}", "w-3")
        assert gateway.post("/Observation", json=stolen).status_code == 400
        assert gateway.post("/Patient", json={"resourceType": "Patient"}).status_code == 403
        # Its own Device it may replace (the heartbeat); another home's it cannot see.
        own = gateway.get(f"/Device/{ids['gw-A']}").json()
        assert gateway.put(f"/Device/{ids['gw-A']}", json=own).status_code == 200
        other = {**device("gw-B"), "id": ids["gw-B"]}
        assert gateway.put(f"/Device/{ids['gw-B']}", json=other).status_code == 404
        assert gateway.delete(f"/Device/{ids['gw-A']}").status_code == 403
        # A conditional create that matches another home's resource is refused, not shown.
        conflict = gateway.post(
            "/Device",
            json=device("gw-B"),
            headers={"If-None-Exist": "identifier=urn:test:device|gw-B"},
        )
        assert conflict.status_code == 409
        assert ids["gw-B"] not in conflict.text


def test_a_transaction_with_one_forbidden_entry_is_refused_whole(world: World) -> None:
    ids = world.ids
    entries = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{i}",
            "resource": reading(
                f"Patient/{ids[f'patient-{home}']}", f"Device/{ids['gw-A']}", f"t-{i}"
            ),
            "request": {"method": "POST", "url": "Observation"},
        }
        for i, home in enumerate("AB", start=1)
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    with world.client("gateway-A") as gateway:
        refused = gateway.post("", json=bundle)
        assert refused.status_code == 400, refused.text
    with world.client("system") as system:
        stored = system.get("/Observation?identifier=urn:test|t-1").json()
        assert stored["total"] == 0, "nothing of a refused transaction is stored"
    batch = {**bundle, "type": "batch"}
    with world.client("gateway-A") as gateway:
        answered = gateway.post("", json=batch).json()
        statuses = [e["response"]["status"][:3] for e in answered["entry"]]
        assert statuses == ["201", "400"]


def test_staff_writes(world: World) -> None:
    ids = world.ids
    with world.client("doctor") as doctor:
        assert (
            doctor.post(
                "/Observation",
                json=reading(f"Patient/{ids['patient-A']}", f"Device/{ids['gw-A']}", "d-1"),
            ).status_code
            == 403
        )
        # Assigning an unassigned reading of A's home to A (Observation.u).
        unassigned = doctor.get(f"/Observation/{ids['unassigned-A']}").json()
        assigned = {**unassigned, "subject": {"reference": f"Patient/{ids['patient-A']}"}}
        assert doctor.put(f"/Observation/{ids['unassigned-A']}", json=assigned).status_code == 200
        back = {**assigned, "subject": unassigned["subject"]}
        assert doctor.put(f"/Observation/{ids['unassigned-A']}", json=back).status_code == 200
        # ... but not to someone else's patient, nor another home's reading.
        elsewhere = {**unassigned, "subject": {"reference": f"Patient/{ids['patient-B']}"}}
        assert doctor.put(f"/Observation/{ids['unassigned-A']}", json=elsewhere).status_code == 400
        theirs = doctor.get(f"/Observation/{ids['unassigned-B']}")
        assert theirs.status_code == 404
        assert doctor.delete(f"/Observation/{ids['obs-A']}").status_code == 403
        assert doctor.post("/Patient", json={"resourceType": "Patient"}).status_code == 403
    with world.client("care_manager") as cm:
        unassigned = cm.get(f"/Observation/{ids['unassigned-A']}").json()
        assert cm.put(f"/Observation/{ids['unassigned-A']}", json=unassigned).status_code == 403
    with world.client("admin") as admin:
        created = admin.post(
            "/Patient", json={"resourceType": "Patient", "name": [{"family": "New"}]}
        )
        assert created.status_code == 201
        new = created.json()["id"]
        team = admin.get(f"/CareTeam/{ids['team-B']}").json()
        assert admin.put(f"/CareTeam/{ids['team-B']}", json=team).status_code == 200
        assert admin.delete(f"/Patient/{new}").status_code == 204
        assert admin.delete(f"/Patient/{ids['patient-A']}?_cascade=delete").status_code == 403


def test_care_team_changes_reach_staff(world: World) -> None:
    ids = world.ids
    with world.client("system") as system:
        team = system.get(f"/CareTeam/{ids['team-B']}").json()
        joined = {
            **team,
            "participant": [
                *team["participant"],
                {"member": {"reference": f"Practitioner/{ids['pr-care_manager']}"}},
            ],
        }
        assert system.put(f"/CareTeam/{ids['team-B']}", json=joined).status_code == 200
        try:
            time.sleep(0.6)  # the per-worker cache of a caller's reach
            with world.client("care_manager") as cm:
                assert cm.get(f"/Patient/{ids['patient-B']}").status_code == 200
        finally:
            assert system.put(f"/CareTeam/{ids['team-B']}", json=team).status_code == 200
        time.sleep(0.6)
        with world.client("care_manager") as cm:
            assert cm.get(f"/Patient/{ids['patient-B']}").status_code == 404


def test_include_never_brings_a_device_out_of_reach(world: World) -> None:
    """A reading of A taken with B's cuff: A's staff see the reading, not B's Device."""
    ids = world.ids
    with world.client("system") as system:
        cuff = _created(system.post("/Device", json=device("cuff-of-b", ids["patient-B"])))
        shared = reading(
            f"Patient/{ids['patient-A']}", f"Device/{ids['gw-A']}", "shared", f"Device/{cuff}"
        )
        observation = _created(system.post("/Observation", json=shared))
        try:
            with world.client("doctor") as doctor:
                found = doctor.get(
                    "/Observation?identifier=urn:test|shared&_include=Observation:device"
                ).json()
                kinds = [e["resource"]["resourceType"] for e in found["entry"]]
                assert kinds == ["Observation"], kinds
                assert doctor.get(f"/Device/{cuff}").status_code == 404
        finally:
            assert system.delete(f"/Observation/{observation}").status_code == 204
            assert system.delete(f"/Device/{cuff}").status_code == 204


def test_a_versioned_subject_is_refused(world: World) -> None:
    """`Patient/x/_history/1` was stored as written: another patient to search and to the
    access rules, so a gateway's reading would have been hidden from the patient's staff."""
    ids = world.ids
    body = reading(f"Patient/{ids['patient-A']}/_history/1", f"Device/{ids['gw-A']}", "v-1")
    with world.client("gateway-A") as gateway:
        refused = gateway.post("/Observation", json=body)
        assert refused.status_code == 400, refused.text
        assert "without a version" in refused.text


# --- the audit trail ------------------------------------------------------------------------


def _newest_audit(world: World) -> int:
    with world.client("system") as system:
        found = system.get("/AuditEvent?_count=1").json()
    entries = found.get("entry", [])
    return int(entries[0]["resource"]["id"]) if entries else 0


def _events_since(world: World, since: int, agent: str, want: int = 1) -> list[dict[str, Any]]:
    """The AuditEvents `agent` caused after `since` (reads are written within moments)."""
    deadline = time.monotonic() + 5
    while True:
        with world.client("system") as system:
            found = system.get(f"/AuditEvent?agent={agent}&_count=100").json()
        events = [e["resource"] for e in found.get("entry", []) if int(e["resource"]["id"]) > since]
        if len(events) >= want or time.monotonic() > deadline:
            return list(reversed(events))
        time.sleep(0.05)


def _summary(event: dict[str, Any]) -> tuple[str, str, str, set[str]]:
    subtype = (
        next(c["code"] for c in event["subtype"] if c["system"] == "urn:homevitals:audit-subtype")
        if any(c["system"] == "urn:homevitals:audit-subtype" for c in event["subtype"])
        else event["subtype"][0]["code"]
    )
    patients = {
        e["what"]["reference"].split("/")[1]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == "1"
    }
    return event["action"], subtype, event["outcome"], patients


def test_every_interaction_leaves_one_audit_event(world: World) -> None:
    ids = world.ids
    a, b = ids["patient-A"], ids["patient-B"]
    cases: list[tuple[str, str, str, tuple[str, str, str, set[str]]]] = [
        # (who, method, path, (action, subtype, outcome, patients))
        ("doctor", "GET", f"/Observation/{ids['obs-A']}", ("R", "read", "0", {a})),
        ("doctor", "GET", f"/Observation/{ids['obs-B']}", ("R", "read", "4", set())),
        ("doctor", "GET", f"/Observation?patient=Patient/{a}", ("E", "search", "0", {a})),
        ("doctor", "GET", f"/Observation?patient=Patient/{b}", ("E", "search", "0", set())),
        (
            "nurse",
            "GET",
            f"/Observation/$stats?subject=Patient/{a}&code=8480-6&start=2026-11-01&end=2026-11-03",
            ("E", "$stats", "0", {a}),
        ),
        (
            "care_manager",
            "GET",
            f"/Observation/$stats?subject=Patient/{b}&code=8480-6&start=2026-11-01&end=2026-11-03",
            ("E", "$stats", "4", set()),
        ),
        ("admin", "GET", "/Observation", ("E", "search", "4", set())),
        ("doctor", "GET", f"/Observation/{ids['obs-A']}/_history", ("R", "history", "0", {a})),
    ]
    # Accounts of their own, so that the trail of each holds this test's requests only
    # (earlier tests' reads may still be on their way to the database).
    practitioner = {"doctor": "doctor", "nurse": "nurse", "care_manager": "care_manager"}
    roles = {"doctor": StaffRole.DOCTOR, "nurse": StaffRole.NURSE}
    run = str(time.monotonic_ns())
    tokens = {
        who: _staff(
            world.engine,
            f"audit-{who}-{run}",
            [roles.get(who, StaffRole.CARE_MANAGER if who == "care_manager" else StaffRole.ADMIN)],
            ids[f"pr-{practitioner.get(who, 'admin')}"],
        )
        for who in ("doctor", "nurse", "care_manager", "admin")
    }
    seen: dict[str, int] = {}
    for who, method, path, expected in cases:
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        httpx.request(method, world.base + path, headers=headers)
        agent = f"staff:audit-{who}-{run}"
        seen[agent] = seen.get(agent, 0) + 1
        events = _events_since(world, 0, agent, want=seen[agent])
        assert len(events) == seen[agent], (who, path, events)
        assert _summary(events[-1]) == expected, (who, path, events[-1])


def test_a_transaction_is_one_audit_event_committed_with_it(world: World) -> None:
    ids = world.ids
    entries = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-0000000001{i:02d}",
            "resource": reading(f"Patient/{ids['patient-A']}", f"Device/{ids['gw-A']}", f"aud-{i}"),
            "request": {"method": "POST", "url": "Observation"},
        }
        for i in range(20)
    ]
    since = _newest_audit(world)
    with world.client("gateway-A") as gateway:
        answer = gateway.post(
            "", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
        )
        assert answer.status_code == 200, answer.text
    # Written in the data's own transaction: there before the response was.
    with world.client("system") as system:
        found = system.get("/AuditEvent?agent=gateway:home-a&_count=10").json()
    events = [
        e["resource"]
        for e in found["entry"]
        if int(e["resource"]["id"]) > since and _summary(e["resource"])[1] == "transaction"
    ]
    assert len(events) == 1
    assert _summary(events[0]) == ("E", "transaction", "0", {ids["patient-A"]})


def test_refused_and_anonymous_requests_are_on_record(world: World) -> None:
    since = _newest_audit(world)
    httpx.get(f"{world.base}/Patient", headers={"Authorization": "Bearer hv_not-a-token"})
    (event,) = _events_since(world, since, "anonymous")
    assert _summary(event) == ("E", "search", "4", set())
    assert event["agent"][0]["network"]["address"] == "127.0.0.1"


def test_the_audit_trail_is_for_admins_and_system_tokens(world: World) -> None:
    with world.client("admin") as admin:
        assert admin.get("/AuditEvent?_count=1").status_code == 200
    for who in ("doctor", "care_manager", "gateway-A"):
        with world.client(who) as client:
            assert client.get("/AuditEvent").status_code == 403
    with world.client("system") as system:
        assert system.delete("/AuditEvent/1").status_code == 405


def test_each_read_of_the_matrix_leaves_its_audit_event(world: World) -> None:
    """Every read of the read matrix above: one AuditEvent each, in order, with the outcome
    the answer had and the patient only when the resource was shown."""
    ids = world.ids
    run = str(time.monotonic_ns())
    practitioner = {"doctor": "doctor", "nurse": "nurse", "care_manager": "care_manager"}
    roles = {
        "doctor": StaffRole.DOCTOR,
        "nurse": StaffRole.NURSE,
        "care_manager": StaffRole.CARE_MANAGER,
        "admin": StaffRole.ADMIN,
    }
    callers = {
        who: (
            f"staff:audit-{who}-{run}",
            _staff(
                world.engine,
                f"audit-{who}-{run}",
                [role],
                ids[f"pr-{practitioner.get(who, 'admin')}"],
            ),
        )
        for who, role in roles.items()
    }
    callers["system"] = (
        f"system:audit-{run}",
        TokenStore(world.engine).create(f"audit-{run}", TokenKind.SYSTEM),
    )
    for who, (agent, token) in callers.items():
        expected = []
        for key, resource_type in TYPES.items():
            for home, status in zip("AB", READ_EXPECTED[who][key], strict=True):
                resource_id = ids[f"{key}-{home}"]
                answer = httpx.get(
                    f"{world.base}/{resource_type}/{resource_id}",
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert answer.status_code == status
                patient = ids[f"patient-{home}"]
                shown = status == 200 and key not in ("gw", "sensor", "unassigned")
                expected.append(
                    ("R", "read", "0" if status == 200 else "4", {patient} if shown else set())
                )
        events = _events_since(world, 0, agent, want=len(expected))
        assert [_summary(e) for e in events] == expected, who


def test_a_gateway_never_creates_the_patient_it_names_by_identifier(world: World) -> None:
    """A conditional Patient entry matches a bound patient; an unknown one is the 400
    not-found a gateway waits on (the clinic registers patients), never a new Patient."""
    ids = world.ids
    entry = {
        "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000900",
        "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:test:clinic", "value": "not-registered"}],
        },
        "request": {
            "method": "POST",
            "url": "Patient",
            "ifNoneExist": "identifier=urn:test:clinic|not-registered",
        },
    }
    observation = {
        "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000901",
        "resource": reading(
            "urn:uuid:00000000-0000-4000-8000-000000000900", f"Device/{ids['gw-A']}", "by-id"
        ),
        "request": {"method": "POST", "url": "Observation"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry, observation]}
    with world.client("gateway-A") as gateway:
        refused = gateway.post("", json=bundle)
    assert refused.status_code == 400, refused.text
    assert refused.json()["issue"][0]["code"] == "not-found"
    with world.client("system") as system:
        found = system.get("/Patient?identifier=urn:test:clinic|not-registered").json()
        assert found["total"] == 0

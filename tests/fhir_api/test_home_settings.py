"""Settings from the clinic on the Patient, and the `$gateway-settings` a home reads (issue 14).

Staff who may update their patient (doctor, nurse) keep the settings; each gateway
reads only its own home's, merged from its bound patients, with an ETag. The world
is the access matrix's: home-a serves patient A, home-b patient B.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from fhir_api.home_settings import (
    HOME_SETTINGS,
    DeviceBinding,
    HomeSettings,
    Reminder,
    gateway_parameters,
    settings_of,
    with_settings,
)

from .conftest import serve, settings_for
from .test_access import World, build_world

EVENING = HomeSettings(
    language="en",
    speech=True,
    volume=60,
    quiet_hours="21:00-07:00",
    read_values_aloud=True,
    reminders=(Reminder("blood-pressure", ("07:00", "19:30")),),
    devices=(
        DeviceBinding("AA:BB:CC:DD:EE:01", "blood-pressure", 2),
        DeviceBinding("AA:BB:CC:DD:EE:02", "pulse-oximeter"),
    ),
)
CUFF = "AA:BB:CC:DD:EE:01"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path_factory.mktemp("home-settings"))
        base, store = stack.enter_context(serve(settings))
        yield build_world(base, store.engine)


def put_settings(world: World, who: str, patient: str, body: dict[str, Any]) -> int:
    with world.client(who) as client:
        current = client.get(f"/Patient/{patient}")
        if current.status_code != 200:
            return current.status_code
        return client.put(f"/Patient/{patient}", json={**current.json(), **body}).status_code


def test_settings_round_trip_through_the_extension() -> None:
    patient = with_settings({"resourceType": "Patient", "id": "a"}, EVENING)
    assert settings_of(patient) == EVENING
    assert settings_of(with_settings(patient, HomeSettings())) == HomeSettings()
    assert [e["url"] for e in patient["extension"]] == [HOME_SETTINGS]


def test_a_doctor_sets_their_patients_settings_and_the_home_reads_them(world: World) -> None:
    ids = world.ids
    patient = ids["patient-A"]
    with world.client("doctor") as doctor:
        current = doctor.get(f"/Patient/{patient}").json()
        response = doctor.put(f"/Patient/{patient}", json=with_settings(current, EVENING))
        assert response.status_code == 200, response.text
    with world.client("gateway-A") as gateway:
        first = gateway.get("/Device/$gateway-settings")
        assert first.status_code == 200, first.text
        assert first.json() == gateway_parameters([(patient, EVENING)])
        etag = first.headers["ETag"]
        again = gateway.get("/Device/$gateway-settings", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
    with world.client("gateway-B") as other:
        # Home B's patient has set nothing: an empty Parameters, another tag.
        theirs = other.get("/Device/$gateway-settings")
        assert theirs.json() == {"resourceType": "Parameters", "parameter": []}
        assert theirs.headers["ETag"] != etag


def test_the_capability_statement_names_the_operation(world: World) -> None:
    with world.client("system") as system:
        statement = system.get("/metadata").json()
        [device] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Device"]
        [operation] = device["operation"]
        assert operation["name"] == "gateway-settings"
        definition = system.get(operation["definition"].removeprefix(world.base))
        assert definition.status_code == 200, definition.text
        assert definition.json()["code"] == "gateway-settings"


def test_only_a_gateway_token_reads_the_operation(world: World) -> None:
    for who in ("doctor", "system", "admin"):
        with world.client(who) as client:
            assert client.get("/Device/$gateway-settings").status_code == 403, who


def test_staff_who_may_not_update_the_patient_cannot_set_them(world: World) -> None:
    ids = world.ids
    body = with_settings({}, HomeSettings(speech=False))
    assert put_settings(world, "care_manager", ids["patient-A"], body) == 403
    assert put_settings(world, "nurse", ids["patient-B"], body) == 404


@pytest.mark.parametrize(
    ("inner", "text"),
    [
        ([{"url": "volume", "valueInteger": 150}], "between 0 and 100"),
        ([{"url": "language", "valueCode": "fr"}], "not one of"),
        ([{"url": "quietHours", "valueString": "late"}], "HH:MM-HH:MM"),
        ([{"url": "loudness", "valueInteger": 3}], "no setting"),
        (
            [{"url": "device", "extension": [{"url": "address", "valueString": "cuff-1"}]}],
            "not a Bluetooth address",
        ),
        (
            [
                {
                    "url": "device",
                    "extension": [
                        {"url": "address", "valueString": CUFF},
                        {"url": "kind", "valueCode": "blood-pressure"},
                        {"url": "slot", "valueInteger": 0},
                    ],
                }
            ],
            "not a number from 1",
        ),
        (
            [
                {
                    "url": "device",
                    "extension": [
                        {"url": "address", "valueString": CUFF},
                        {"url": "kind", "valueCode": "kettle"},
                    ],
                }
            ],
            "kind of device",
        ),
        (
            [
                {
                    "url": "device",
                    "extension": [
                        {"url": "address", "valueString": a},
                        {"url": "kind", "valueCode": "blood-pressure"},
                    ],
                }
                for a in (CUFF, CUFF.lower().replace(":", "-"))
            ],
            "bound twice",
        ),
        (
            [
                {
                    "url": "reminder",
                    "extension": [
                        {"url": "kind", "valueCode": "toaster"},
                        {"url": "time", "valueTime": "07:00:00"},
                    ],
                }
            ],
            "kind of device",
        ),
        (
            [
                {
                    "url": "reminder",
                    "extension": [
                        {"url": "kind", "valueCode": "blood-pressure"},
                        {"url": "time", "valueTime": "07:00:30"},
                    ],
                }
            ],
            "on the minute",
        ),
    ],
)
def test_settings_a_gateway_could_not_use_are_a_400(
    world: World, inner: list[dict[str, Any]], text: str
) -> None:
    patient = world.ids["patient-A"]
    with world.client("doctor") as doctor:
        before = doctor.get(f"/Patient/{patient}").json()
        body = {**before, "extension": [{"url": HOME_SETTINGS, "extension": inner}]}
        response = doctor.put(f"/Patient/{patient}", json=body)
        assert response.status_code == 400, response.text
        assert text in response.text
        assert doctor.get(f"/Patient/{patient}").json()["meta"] == before["meta"]


def test_one_patient_per_device_and_slot_the_first_by_id_holds_it() -> None:
    """Two patients of one home claiming slot 2 of the cuff: the home reads one binding."""
    claim = HomeSettings(devices=(DeviceBinding(CUFF, "blood-pressure", 2),))
    other = HomeSettings(
        devices=(DeviceBinding(CUFF, "blood-pressure", 2), DeviceBinding(CUFF, "blood-pressure", 1))
    )
    devices = [
        {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in d["part"]}
        for d in gateway_parameters([("b", other), ("a", claim)])["parameter"]
    ]
    assert devices == [
        {"address": CUFF, "kind": "blood-pressure", "patient": "a", "slot": 2},
        {"address": CUFF, "kind": "blood-pressure", "patient": "b", "slot": 1},
    ]


def test_a_binding_is_kept_in_one_spelling_of_the_address() -> None:
    patient = with_settings(
        {"resourceType": "Patient"},
        HomeSettings(devices=(DeviceBinding("aa-bb-cc-dd-ee-01", "blood-pressure"),)),
    )
    settings = settings_of(patient)
    assert settings is not None and settings.devices == (DeviceBinding(CUFF, "blood-pressure"),)

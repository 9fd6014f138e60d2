"""The unassigned readings page over HTTP and in Chromium: who sees which readings, who
may assign them, and an assignment moving a reading to its patient.

The clinic (world.py) gets, through the gateways' tokens as a gateway uploads them,
readings of sensors bound to no patient (subject: the sensor Device, PHD IG): three
from home-1 (山田's home: the doctor's and the nurse's care team) and one from home-3
(鈴木's: the doctor's only). A care manager joins 山田's care team (reads, never writes).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from fhir_api.accounts.store import AccountStore
from fhir_api.roles import StaffRole

from ..fhir_api.login_helpers import csrf_of, post_login
from .conftest import axe, screenshot, sign_in
from .world import HOUR, Clinic, Staff, blood_pressure, pulse, spo2

PHD_BP = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCompoundNumericObservation"
PHD_CATEGORY = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
ROW = re.compile(r'data-reading="([^"]+)"')
OPTION = re.compile(r'<option value="([^"]+)">')


@dataclass
class Strays:
    clinic: Clinic
    readings: dict[str, str] = field(default_factory=dict)  # key -> Observation id


def _sensor(client: httpx.Client, name: str) -> str:
    body = {
        "resourceType": "Device",
        "identifier": [{"system": "urn:test:sensor", "value": name}],
        "deviceName": [{"name": name, "type": "user-friendly-name"}],
    }
    answer = client.post("/Device", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _upload(client: httpx.Client, body: dict[str, Any]) -> str:
    """Upload a reading as the gateway does when its sensor is bound to no patient."""
    body["meta"] = {"profile": [PHD_BP]}
    body["category"].append({"coding": [{"system": PHD_CATEGORY, "code": "phd"}]})
    body["device"] = {"reference": body["subject"]["reference"]}
    answer = client.post("/Observation", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


@pytest.fixture(scope="module")
def strays(clinic: Clinic) -> Strays:
    found = Strays(clinic)
    now = clinic.now
    with clinic.client("home-1") as gateway:
        sensor = f"Device/{_sensor(gateway, 'UA-651 cuff')}"
        home = f"Device/{clinic.gateways['home-1']}"
        found.readings["bp"] = _upload(gateway, blood_pressure(sensor, home, now - HOUR, 141, 91))
        found.readings["pulse"] = _upload(gateway, pulse(sensor, home, now - 2 * HOUR, 66))
        found.readings["spo2"] = _upload(gateway, spo2(sensor, home, now - 4 * HOUR, 95))
    with clinic.client("home-3") as gateway:
        sensor = f"Device/{_sensor(gateway, 'Home-3 cuff')}"
        home = f"Device/{clinic.gateways['home-3']}"
        found.readings["other"] = _upload(
            gateway, blood_pressure(sensor, home, now - HOUR / 2, 133, 83)
        )
    with clinic.client() as system:
        body = {"resourceType": "Practitioner", "name": [{"family": "ケア"}]}
        practitioner = system.post("/Practitioner", json=body).json()["id"]
        team = {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{clinic.patients['yamada']}"},
            "participant": [{"member": {"reference": f"Practitioner/{practitioner}"}}],
        }
        assert system.post("/CareTeam", json=team).status_code == 201
    engine = clinic.app.state.store.engine
    username, password = f"cm-{secrets.token_hex(3)}", f"correct horse {secrets.token_hex(6)}"
    accounts = AccountStore(engine)
    accounts.create(username, (StaffRole.CARE_MANAGER,), practitioner, "ケア 三")
    accounts.set_password(username, password, by_admin=False)
    clinic.staff["care_manager"] = Staff(username, password, "ケア 三")
    return found


def _signed_in(clinic: Clinic, who: str) -> httpx.Client:
    browser = httpx.Client(
        base_url=clinic.root, follow_redirects=False, timeout=30, headers={"Accept-Language": "en"}
    )
    staff = clinic.staff[who]
    answer = post_login(browser, staff.username, staff.password)
    assert answer.status_code == 303, answer.text
    return browser


@pytest.fixture
def as_staff(strays: Strays) -> Iterator[Any]:
    opened: list[httpx.Client] = []

    def open_as(who: str) -> httpx.Client:
        opened.append(_signed_in(strays.clinic, who))
        return opened[-1]

    yield open_as
    for client in opened:
        client.close()


def _subject(clinic: Clinic, observation: str) -> str:
    with clinic.client() as system:
        return str(system.get(f"/Observation/{observation}").json()["subject"]["reference"])


def _list(client: httpx.Client) -> httpx.Response:
    page = client.get("/unassigned")
    assert page.status_code == 200, page.text
    return page


def test_the_nurse_sees_her_teams_gateways_readings_newest_first(strays, as_staff):
    page = _list(as_staff("nurse"))
    ids = strays.readings
    assert ROW.findall(page.text) == [ids["bp"], ids["pulse"], ids["spo2"]]
    assert ids["other"] not in page.text and "Home-3 cuff" not in page.text
    assert "UA-651 cuff" in page.text and "141/91 mmHg" in page.text and "66 /min" in page.text
    assert "server&#39;s zone" in page.text or "server's zone" in page.text
    clinic = strays.clinic
    options = set(OPTION.findall(page.text))
    assert options == {clinic.patients["yamada"], clinic.patients["sato"]}


def test_the_doctor_sees_every_team_s_readings(strays, as_staff):
    page = _list(as_staff("doctor"))
    assert ROW.findall(page.text)[0] == strays.readings["other"]
    assert clinic_patient(strays, "suzuki") in OPTION.findall(page.text)


def clinic_patient(strays: Strays, key: str) -> str:
    return strays.clinic.patients[key]


def test_assigning_outside_the_reach_is_refused_and_changes_nothing(strays, as_staff):
    nurse = as_staff("nurse")
    token = csrf_of(_list(nurse))
    ids, clinic = strays.readings, strays.clinic
    # Another team's reading: as if it did not exist.
    answer = nurse.post(
        f"/unassigned/{ids['other']}",
        data={"csrf": token, "patient": clinic.patients["sato"], "version": "1"},
    )
    assert answer.status_code == 404, answer.text
    # Her reading, to a patient not in her care.
    answer = nurse.post(
        f"/unassigned/{ids['spo2']}",
        data={"csrf": token, "patient": clinic.patients["suzuki"], "version": "1"},
    )
    assert answer.status_code == 404, answer.text
    assert _subject(clinic, ids["other"]).startswith("Device/")
    assert _subject(clinic, ids["spo2"]).startswith("Device/")


def test_a_care_manager_sees_the_list_but_may_not_assign(strays, as_staff):
    manager = as_staff("care_manager")
    page = _list(manager)
    assert strays.readings["spo2"] in ROW.findall(page.text)
    assert 'action="/unassigned/' not in page.text and "<select" not in page.text
    answer = manager.post(
        f"/unassigned/{strays.readings['spo2']}",
        data={
            "csrf": csrf_of(page),
            "patient": strays.clinic.patients["yamada"],
            "version": "1",
        },
    )
    assert answer.status_code == 403, answer.text
    assert _subject(strays.clinic, strays.readings["spo2"]).startswith("Device/")


def test_a_post_without_the_csrf_token_is_refused(strays, as_staff):
    nurse = as_staff("nurse")
    for data in ({}, {"csrf": "forged"}):
        answer = nurse.post(
            f"/unassigned/{strays.readings['spo2']}",
            data={**data, "patient": strays.clinic.patients["yamada"], "version": "1"},
        )
        assert answer.status_code == 403, answer.text
    assert _subject(strays.clinic, strays.readings["spo2"]).startswith("Device/")


def test_the_nurse_assigns_a_reading_and_sees_it_confirmed(strays, as_staff):
    nurse = as_staff("nurse")
    page = _list(nurse)
    ids, clinic = strays.readings, strays.clinic
    sato = clinic.patients["sato"]
    answer = nurse.post(
        f"/unassigned/{ids['pulse']}",
        data={"csrf": csrf_of(page), "patient": sato, "version": "1"},
    )
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        f"/unassigned?assigned={sato}",
    )
    after = nurse.get(answer.headers["location"])
    assert "The reading was assigned to 佐藤 花子." in after.text
    assert ids["pulse"] not in ROW.findall(after.text)
    assert _subject(clinic, ids["pulse"]) == f"Patient/{sato}"
    # Assigned once: a second try (the form's old version) changes nothing.
    again = nurse.post(
        f"/unassigned/{ids['pulse']}",
        data={"csrf": csrf_of(page), "patient": clinic.patients["yamada"], "version": "1"},
    )
    assert again.status_code == 409, again.text
    assert _subject(clinic, ids["pulse"]) == f"Patient/{sato}"


def test_the_doctor_assigns_in_the_browser(strays, page_in):
    clinic = strays.clinic
    reading = strays.readings["bp"]
    for lang in ("en", "ja"):
        page = page_in(lang)
        sign_in(page, clinic.root, clinic.staff["doctor"])
        page.goto(f"{clinic.root}/unassigned")
        axe(page)
        screenshot(page, f"unassigned-{lang}")
        if lang == "ja":
            row = page.locator(f'tr[data-reading="{reading}"]')
            row.locator("select").select_option(clinic.patients["yamada"])
            row.get_by_role("button").click()
            page.wait_for_url(f"{clinic.root}/unassigned?assigned=*")
            assert "測定値を山田 太郎さんに割り当てました。" in page.locator(".notice").inner_text()
            assert page.locator(f'tr[data-reading="{reading}"]').count() == 0
            axe(page)
            screenshot(page, "unassigned-ja-assigned")
            page.goto(f"{clinic.root}/patients/{clinic.patients['yamada']}?period=7")
            assert "141" in page.locator("main").inner_text()

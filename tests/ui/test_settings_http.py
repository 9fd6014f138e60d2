"""The patient settings page over HTTP: who may see and change a patient's settings, a
save writing the Patient (audited, one version more), refusals that save nothing, a
concurrent change shown on the page, and the new limits flagging readings at once.

The clinic (world.py): 山田 (doctor's and nurse's team) measures a pulse of 72 and 70
(in range: 50-100); 鈴木 is in the doctor's team only. A care manager joins 山田's team.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhir_api.accounts.store import AccountStore
from fhir_api.roles import StaffRole
from fhir_api.vital_limits import VITAL_LIMITS_EXTENSION, limits_of

from ..fhir_api.login_helpers import csrf_of, post_login
from .world import Clinic, Staff

VERSION = re.compile(r'name="version" value="([0-9]+)"')


def add_care_manager(clinic: Clinic) -> Staff:
    """A care manager in 山田's care team: reads, never writes (`clinic.staff["care_manager"]`)."""
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
    username, password = f"cm-{secrets.token_hex(3)}", f"correct horse {secrets.token_hex(6)}"
    accounts = AccountStore(clinic.app.state.store.engine)
    accounts.create(username, (StaffRole.CARE_MANAGER,), practitioner, "ケア 三")
    accounts.set_password(username, password, by_admin=False)
    clinic.staff["care_manager"] = Staff(username, password, "ケア 三")
    return clinic.staff["care_manager"]


@pytest.fixture(scope="module")
def care_manager(clinic: Clinic) -> Staff:
    return add_care_manager(clinic)


@pytest.fixture
def as_staff(clinic: Clinic, care_manager: Staff) -> Iterator[Any]:
    opened: list[httpx.Client] = []

    def open_as(who: str, language: str = "en") -> httpx.Client:
        browser = httpx.Client(
            base_url=clinic.root,
            timeout=30,
            headers={"Accept-Language": language},
            follow_redirects=True,
        )
        opened.append(browser)
        staff = clinic.staff[who]
        assert post_login(browser, staff.username, staff.password).url.path == "/patients"
        return browser

    yield open_as
    for browser in opened:
        browser.close()


def _patient(clinic: Clinic, key: str) -> dict[str, Any]:
    with clinic.client() as system:
        answer = system.get(f"/Patient/{clinic.patients[key]}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


def _form(page: httpx.Response, **values: str) -> dict[str, str]:
    """The form as shown (every limit at its value), with `values` typed over it."""
    shown = dict(re.findall(r'<input id="([a-z_]+)" name="\1" value="([^"]*)"', page.text))
    found = VERSION.search(page.text)
    assert found, page.text
    return {
        "csrf": csrf_of(page),
        "version": found.group(1),
        "zone": "Asia/Tokyo",
        "shown_scale": re.findall(r'name="shown_scale" value="([^"]+)"', page.text)[0],
        **shown,
        **values,
    }


def _settings(clinic: Clinic, key: str) -> str:
    return f"/patients/{clinic.patients[key]}/settings"


def test_the_doctor_saves_a_target_and_the_patient_has_it_audited(clinic, as_staff):
    doctor = as_staff("doctor")
    before = _patient(clinic, "yamada")
    page = doctor.get(_settings(clinic, "yamada"))
    assert page.status_code == 200, page.text
    assert "Clinic default: 125 mmHg" in page.text and "Asia/Tokyo" in page.text
    answer = doctor.post(
        _settings(clinic, "yamada"),
        data=_form(page, target_systolic="135", target_diastolic="85"),
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers.get("location")) == (
        303,
        _settings(clinic, "yamada") + "?saved=1",
    ), answer.text
    after = _patient(clinic, "yamada")
    assert int(after["meta"]["versionId"]) == int(before["meta"]["versionId"]) + 1
    assert after["name"] == before["name"] and after["extension"][0] == before["extension"][0]
    limits = next(e for e in after["extension"] if e["url"] == VITAL_LIMITS_EXTENSION)
    assert [p["url"] for p in limits["extension"]] == ["systolic-target", "diastolic-target"]
    assert (limits_of(after).target_systolic, limits_of(after).target_diastolic) == (135, 85)
    saved = doctor.get(_settings(clinic, "yamada") + "?saved=1")
    assert "Settings saved." in saved.text
    with clinic.client() as system:
        events = system.get(
            "/AuditEvent", params={"patient": clinic.patients["yamada"], "_count": "200"}
        ).json()
    page_path = f"/patients/{clinic.patients['yamada']}/settings"
    posts = [
        e["resource"]
        for e in events.get("entry", [])
        if e["resource"].get("action") == "E"
        and page_path in str(e["resource"].get("entity"))
        and clinic.staff["doctor"].username in str(e["resource"]["agent"])
    ]
    assert len(posts) == 1, events
    assert posts[0]["outcome"] == "0"


def test_a_care_manager_sees_the_values_without_a_form_and_may_not_post(clinic, as_staff):
    manager = as_staff("care_manager")
    page = manager.get(_settings(clinic, "yamada"))
    assert page.status_code == 200, page.text
    assert '<form method="post" action="/patients/' not in page.text
    assert "may view these settings but not change them" in page.text
    before = _patient(clinic, "yamada")
    answer = manager.post(
        _settings(clinic, "yamada"),
        data={"csrf": csrf_of(page), "version": before["meta"]["versionId"], "pulse_high": "90"},
    )
    assert answer.status_code == 403, answer.text
    assert _patient(clinic, "yamada") == before


def test_a_nurse_outside_the_team_gets_a_404_and_changes_nothing(clinic, as_staff):
    nurse = as_staff("nurse")
    assert nurse.get(_settings(clinic, "suzuki")).status_code == 404
    own = nurse.get(_settings(clinic, "yamada"))
    before = _patient(clinic, "suzuki")
    answer = nurse.post(
        _settings(clinic, "suzuki"),
        data={"csrf": csrf_of(own), "version": before["meta"]["versionId"], "pulse_high": "90"},
    )
    assert answer.status_code == 404, answer.text
    assert _patient(clinic, "suzuki") == before


def test_a_value_out_of_range_is_shown_next_to_its_field_and_nothing_is_saved(clinic, as_staff):
    for language, texts in (
        ("en", ("Enter a value from 90 to 250.", "Must be below the upper pulse limit (100).")),
        ("ja", ("90から250までの値を入力してください。", "脈拍の上限(100)より低くしてください。")),
    ):
        nurse = as_staff("nurse", language)
        before = _patient(clinic, "yamada")
        page = nurse.get(_settings(clinic, "yamada"))
        answer = nurse.post(
            _settings(clinic, "yamada"),
            data=_form(page, systolic="400", pulse_low="120", zone_other="Mars/Olympus"),
        )
        assert answer.status_code == 400, answer.text
        assert texts[0] in answer.text
        assert 'id="systolic" name="systolic" value="400"' in answer.text  # kept as typed
        assert 'aria-invalid="true"' in answer.text and 'id="zone-error"' in answer.text
        assert _patient(clinic, "yamada") == before
        # In range, but a pulse low above the high: the order is checked too.
        again = nurse.post(_settings(clinic, "yamada"), data=_form(page, pulse_low="100"))
        assert again.status_code == 400 and texts[1] in again.text, again.text
        assert _patient(clinic, "yamada") == before


def test_a_change_by_someone_else_meanwhile_is_shown_not_overwritten(clinic, as_staff):
    doctor, nurse = as_staff("doctor"), as_staff("nurse")
    doctor_page = doctor.get(_settings(clinic, "sato"))
    nurse_page = nurse.get(_settings(clinic, "sato"))
    first = nurse.post(_settings(clinic, "sato"), data=_form(nurse_page, spo2_scale="target-88-92"))
    assert first.status_code == 200 and "Settings saved." in first.text  # after the redirect
    answer = doctor.post(_settings(clinic, "sato"), data=_form(doctor_page, pulse_high="120"))
    assert answer.status_code == 409, answer.text
    assert "Someone else changed this patient's settings" in answer.text.replace("&#39;", "'")
    patient = _patient(clinic, "sato")
    limits = limits_of(patient)
    assert (limits.spo2_scale, limits.spo2_low, limits.pulse_high) == ("target-88-92", 88, 100)
    assert 'value="target-88-92" checked' in answer.text  # the page shows the nurse's choice


def _pulse_cell(client: httpx.Client, patient_id: str) -> str:
    listed = client.get("/patients")
    cell = re.search(
        rf'data-patient="{patient_id}".*?<td class="pulse">(.*?)</td>', listed.text, re.S
    )
    assert cell, listed.text
    return cell.group(1)


def test_a_lower_pulse_limit_flags_a_reading_that_was_in_range(clinic, as_staff):
    doctor = as_staff("doctor")
    yamada = clinic.patients["yamada"]
    assert "flag-high" not in _pulse_cell(doctor, yamada)
    week = doctor.get(f"/patients/{yamada}/chart.json", params={"period": "7"}).json()
    assert not any("high" in r["flags"] for r in week["pulse"]["rows"])
    page = doctor.get(_settings(clinic, "yamada"))
    saved = doctor.post(_settings(clinic, "yamada"), data=_form(page, pulse_high="71"))
    assert saved.status_code == 200 and "Settings saved." in saved.text
    cell = _pulse_cell(doctor, yamada)
    assert "flag-high" in cell and ">72<" in cell, cell
    week = doctor.get(f"/patients/{yamada}/chart.json", params={"period": "7"}).json()
    assert week["thresholds"]["pulse_high"] == 71
    highs = {r["values"][0] for r in week["pulse"]["rows"] if "high" in r["flags"]}
    assert highs == {72}
    summary = doctor.get(f"/patients/{yamada}/summary")
    assert "above 71 /min" in summary.text, summary.text
    assert "The patient&#39;s target: up to 135/85 mmHg." in summary.text  # the first test's

"""The alert inbox over HTTP, against a server with the real rules: who sees which alert,
and the refusals (no CSRF token 403, another patient's alert 404, resolving without a
note the form again with the message, someone else's resolution in between 409),
each leaving the alert as it was; the header's count, the list's cell, the patient
page's block.

The clinic (world.py): 鈴木 185/112 (an open bp-urgent alert) is in the doctor's team
only; the nurse sees 山田 and 佐藤.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx

from fhir_api.accounts.store import AccountStore
from fhir_api.alerts.store import set_recipient_channel
from fhir_api.roles import StaffRole

from ..fhir_api.login_helpers import csrf_of, post_login
from . import alerts_world
from .alerts_world import upload_spo2, wait_for_alert
from .world import Clinic

# This module's own server with alerts on (SQLite and PostgreSQL); signed-in clients.
clinic = alerts_world.clinic
as_staff = alerts_world.as_staff


def _status(clinic: Clinic, alert_id: str) -> dict[str, Any]:
    with clinic.client() as system:
        answer = system.get(f"/DetectedIssue/{alert_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _open_count(clinic: Clinic, keys: list[str]) -> int:
    """How many alerts of these patients are open (not yet acknowledged), by the API."""
    patients = ",".join(clinic.patients[key] for key in keys)
    with clinic.client() as system:
        found = system.get("/DetectedIssue", params={"patient": patients, "status": "open"})
    return int(found.json()["total"])


def _state(issue: dict[str, Any]) -> str:
    return str(issue["extension"][0]["valueCode"])


def test_the_doctor_sees_the_urgent_alert_in_words_with_its_patient_and_time(
    clinic: Clinic, as_staff: Any
) -> None:
    alert = wait_for_alert(clinic, "suzuki", "bp-urgent")
    page = as_staff("doctor", "ja").get("/alerts")
    assert page.status_code == 200
    row = re.search(rf'<li class="alert [^"]*" id="alert-{alert}".*?</li>', page.text, re.S)
    assert row, page.text
    text = row.group(0)
    assert "鈴木 一郎" in text and f'href="/patients/{clinic.patients["suzuki"]}"' in text
    assert "血圧が著しく高値" in text and "血圧 185/112 mmHg" in text
    assert "▲▲" in text and "緊急" in text and "未確認" in text
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日\([月火水木金土日]\) \d\d:\d\d", text)
    # The header says how many alerts are open, in words.
    nav = r'id="nav-alerts"[^>]*>アラート <span class="nav-count[^"]*">\(未確認 (\d+)件\)'
    shown = re.search(nav, page.text)
    assert shown and int(shown.group(1)) == _open_count(clinic, list(clinic.patients))


def test_a_nurse_outside_the_care_team_sees_none_of_it(clinic: Clinic, as_staff: Any) -> None:
    alert = wait_for_alert(clinic, "suzuki", "bp-urgent")
    nurse = as_staff("nurse")
    inbox = nurse.get("/alerts", params={"state": "all"})
    assert inbox.status_code == 200
    assert f"alert-{alert}" not in inbox.text and "鈴木" not in inbox.text
    filtered = nurse.get("/alerts", params={"patient": clinic.patients["suzuki"], "state": "all"})
    assert f"alert-{alert}" not in filtered.text and 'id="no-alerts"' in filtered.text
    # Acting on it is "not found" (the id tells nothing), and changes nothing.
    form = {"csrf": csrf_of(inbox), "note": "見ました"}
    refused = nurse.post(f"/alerts/{alert}/acknowledge", data=form)
    assert refused.status_code == 404
    assert _state(_status(clinic, alert)) == "open"
    with httpx.Client(base_url=clinic.base, timeout=30) as api:
        found = api.get("/DetectedIssue", params={"patient": clinic.patients["suzuki"]})
    assert found.status_code == 401


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    clinic: Clinic, as_staff: Any
) -> None:
    alert = wait_for_alert(clinic, "suzuki", "bp-urgent")
    doctor = as_staff("doctor")
    for action in ("acknowledge", "resolve"):
        answer = doctor.post(f"/alerts/{alert}/{action}", data={"note": "no token"})
        assert answer.status_code == 403, answer.text
        answer = doctor.post(f"/alerts/{alert}/{action}", data={"note": "x", "csrf": "forged"})
        assert answer.status_code == 403
    assert _state(_status(clinic, alert)) == "open"


def test_resolving_without_a_note_shows_the_form_with_the_message(
    clinic: Clinic, as_staff: Any
) -> None:
    alert = wait_for_alert(clinic, "suzuki", "bp-urgent")
    doctor = as_staff("doctor")
    inbox = doctor.get("/alerts")
    answer = doctor.post(f"/alerts/{alert}/resolve", data={"csrf": csrf_of(inbox), "note": "  "})
    assert answer.status_code == 400
    assert "Resolving by hand needs a note saying why." in answer.text
    field = re.search(rf'<input id="res-{alert}"[^>]*>', answer.text)
    assert field and 'value=""' in field.group(0) and 'aria-invalid="true"' in field.group(0)
    assert _state(_status(clinic, alert)) == "open"


def test_an_alert_resolved_by_someone_else_meanwhile_is_a_clear_409(
    clinic: Clinic, as_staff: Any
) -> None:
    upload_spo2(clinic, "sato", 80)
    alert = wait_for_alert(clinic, "sato", "spo2-urgent")
    doctor, nurse = as_staff("doctor"), as_staff("nurse", "ja")
    shown = nurse.get("/alerts", params={"patient": clinic.patients["sato"]})
    assert f'id="alert-{alert}"' in shown.text
    first = doctor.post(
        f"/alerts/{alert}/resolve",
        data={"csrf": csrf_of(doctor.get("/alerts")), "note": "電話で確認、再測定 95%"},
    )
    assert first.status_code == 303
    assert first.headers["location"] == f"/alerts?done=resolved#alert-{alert}"
    back = f"patient={clinic.patients['sato']}"
    late = nurse.post(
        f"/alerts/{alert}/acknowledge", data={"csrf": csrf_of(shown), "note": "", "back": back}
    )
    assert late.status_code == 409
    assert "他の方がこのアラートをすでに解決しました" in late.text
    issue = _status(clinic, alert)
    assert _state(issue) == "resolved" and len(issue["mitigation"]) == 1


def test_an_acknowledgement_returns_to_the_inbox_with_its_filters(
    clinic: Clinic, as_staff: Any
) -> None:
    upload_spo2(clinic, "yamada", 81)
    alert = wait_for_alert(clinic, "yamada", "spo2-urgent")
    nurse = as_staff("nurse")
    back = f"patient={clinic.patients['yamada']}&condition=spo2-urgent"
    page = nurse.get(f"/alerts?{back}")
    answer = nurse.post(
        f"/alerts/{alert}/acknowledge", data={"csrf": csrf_of(page), "note": "", "back": back}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/alerts?{back}&done=acknowledged#alert-{alert}"
    after = nurse.get(answer.headers["location"])
    assert "Alert acknowledged." in after.text and "Acknowledged by 看護 花" in after.text
    issue = _status(clinic, alert)
    assert _state(issue) == "acknowledged"
    assert issue["mitigation"][0]["author"] == {
        "reference": f"Practitioner/{clinic.practitioners['nurse']}"
    }


def test_the_list_shows_open_alerts_under_the_name_sortable_and_filterable(
    clinic: Clinic, as_staff: Any
) -> None:
    wait_for_alert(clinic, "suzuki", "bp-urgent")
    doctor = as_staff("doctor")
    page = doctor.get("/patients")
    suzuki = clinic.patients["suzuki"]
    row = re.search(rf'<tr id="patient-{suzuki}".*?</tr>', page.text, re.S)
    assert row, page.text
    cell = re.search(r'<a class="row-alerts"(.*?)</a>', row.group(0), re.S)
    assert cell and f'href="/alerts?patient={suzuki}"' in cell.group(1)
    assert "▲▲" in cell.group(1) and "Urgent" in cell.group(1) and "Unresolved: 1" in cell.group(1)
    only = doctor.get("/patients", params={"alerts": "1"})
    shown = re.findall(r'<tr id="patient-([^"]+)"', only.text)
    assert suzuki in shown
    assert {key for key, id in clinic.patients.items() if id in shown} == {
        key for key in clinic.patients if _has_alert(clinic, key)
    }
    by_alerts = doctor.get("/patients", params={"sort": "alerts"})
    assert re.findall(r'<tr id="patient-([^"]+)"', by_alerts.text)[0] == suzuki


def _has_alert(clinic: Clinic, key: str) -> bool:
    with clinic.client() as system:
        found = system.get(
            "/DetectedIssue",
            params={"patient": clinic.patients[key], "status": "open,acknowledged"},
        )
    return bool(found.json()["total"])


def test_the_patient_page_shows_its_alerts_with_a_link_to_the_inbox(
    clinic: Clinic, as_staff: Any
) -> None:
    alert = wait_for_alert(clinic, "suzuki", "bp-urgent")
    suzuki = clinic.patients["suzuki"]
    page = as_staff("doctor", "ja").get(f"/patients/{suzuki}")
    assert page.status_code == 200
    block = re.search(r'<section class="patient-alerts".*?</section>', page.text, re.S)
    assert block, page.text
    item = re.search(rf'<li id="patient-alert-{alert}".*?</li>', block.group(0), re.S)
    assert item and "血圧が著しく高値" in item.group(0) and "緊急" in item.group(0)
    assert f'href="/alerts?patient={suzuki}#alert-{alert}"' in item.group(0)
    glance = re.search(r'<div class="latest-item" id="latest-alerts">.*?</div>', page.text, re.S)
    assert glance and "▲▲" in glance.group(0) and "緊急" in glance.group(0)
    assert "未解決 1件" in glance.group(0)


def test_the_inbox_says_how_alert_messages_reach_the_person(clinic: Clinic, as_staff: Any) -> None:
    nurse = as_staff("nurse")
    before = nurse.get("/alerts")
    assert "No alert channel is set for you" in before.text
    recipient = f"Practitioner/{clinic.practitioners['nurse']}"
    with clinic.app.state.store.engine.begin() as connection:
        set_recipient_channel(connection, recipient, "clinic-mail", "nurse@clinic.example")
    after = nurse.get("/alerts")
    line = re.search(r'<p class="meta" id="my-channels">(.*?)</p>', after.text, re.S)
    assert line and "clinic-mail (nurse@clinic.example)" in line.group(1)


def test_an_administrator_gets_a_page_saying_alerts_are_not_for_the_role(
    clinic: Clinic,
) -> None:
    username, password = f"adm-{secrets.token_hex(3)}", f"correct horse {secrets.token_hex(6)}"
    accounts = AccountStore(clinic.app.state.store.engine)
    accounts.create(username, (StaffRole.ADMIN,), None, "管理 者")
    accounts.set_password(username, password, by_admin=False)
    alert = wait_for_alert(clinic, "suzuki", "bp-urgent")
    english = {"Accept-Language": "en"}
    with httpx.Client(base_url=clinic.root, timeout=30, headers=english) as admin:
        assert post_login(admin, username, password).status_code == 303
        page = admin.get("/alerts")
        assert page.status_code == 403 and "Your role does not see alerts" in page.text
        token = csrf_of(page)
        refused = admin.post(f"/alerts/{alert}/resolve", data={"csrf": token, "note": "x"})
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert _state(_status(clinic, alert)) == "open"

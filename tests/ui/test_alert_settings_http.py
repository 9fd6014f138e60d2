"""A patient's alert silences over HTTP (`/patients/{id}/alerts/settings`), against a
server with the real rules: the doctor adds one and ends it early, each change audited
with the patient; the refusals (no CSRF token 403, no reason 400 with the form again,
a patient outside the care team 404) save nothing.

The clinic (world.py): 鈴木 is in the doctor's team only; the nurse sees 山田 and 佐藤.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fhir_api.accounts.store import AccountStore
from fhir_api.alerts.notify import Delivery
from fhir_api.alerts.preferences import Preferences, preferences_of
from fhir_api.alerts.store import set_recipient_channel
from fhir_api.roles import StaffRole
from fhir_api.storage.schema import (
    alert_preferences,
    alert_recipients,
    alert_silences,
    audit_event_patients,
    audit_events,
    staff_accounts,
)

from ..fhir_api.login_helpers import csrf_of
from . import alerts_world
from .test_settings_http import add_care_manager
from .world import Clinic, Staff

# This module's own server with alerts on (SQLite and PostgreSQL); signed-in clients.
clinic = alerts_world.clinic
as_staff = alerts_world.as_staff

_TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture(autouse=True)
def _forget_silences_and_preferences(clinic: Clinic) -> Iterator[None]:
    yield
    with clinic.app.state.store.engine.begin() as connection:
        for table in (alert_silences, alert_preferences, alert_recipients):
            connection.execute(sa.delete(table))


def _local(delta: timedelta) -> str:
    return (datetime.now(_TOKYO) + delta).strftime("%Y-%m-%dT%H:%M")


def _silences(clinic: Clinic) -> list[Any]:
    with clinic.app.state.store.engine.connect() as connection:
        return list(connection.execute(sa.select(alert_silences)))


def _audited(clinic: Clinic, patient: str, path_part: str) -> int:
    """How many AuditEvents name the patient and a request path containing `path_part`."""
    with clinic.app.state.store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(audit_events.c.content)
            .join(audit_event_patients, audit_event_patients.c.seq == audit_events.c.seq)
            .where(audit_event_patients.c.patient_id == patient)
        )
        return sum(path_part in row.content for row in rows)


def test_the_doctor_silences_a_patient_for_a_hospital_stay_and_ends_it_early(
    clinic: Clinic, as_staff: Any
) -> None:
    patient = clinic.patients["suzuki"]
    doctor = as_staff("doctor", "ja")
    chart = doctor.get(f"/patients/{patient}")
    assert f'href="/patients/{patient}/alerts/settings" id="alert-settings"' in chart.text
    page = doctor.get(f"/patients/{patient}/alerts/settings")
    assert page.status_code == 200
    assert "アラート設定: 鈴木 一郎" in page.text and 'id="no-silences"' in page.text
    form = {
        "csrf": csrf_of(page),
        "starts": _local(timedelta(minutes=-1)),
        "ends": _local(timedelta(days=10)),
        "rule": "",
        "reason": "入院中 市民病院",
    }
    saved = doctor.post(f"/patients/{patient}/alerts/silences", data=form)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/patients/{patient}/alerts/settings?done=added"
    [row] = _silences(clinic)
    assert row.patient_id == patient and row.rule is None and row.reason == "入院中 市民病院"
    assert row.author.startswith("Practitioner/")
    assert _audited(clinic, patient, "/alerts/silences") == 1

    page = doctor.get(saved.headers["location"])
    assert "一時停止を保存しました。" in page.text
    shown = re.search(rf'<tr id="silence-{row.id}" data-state="active">.*?</tr>', page.text, re.S)
    assert shown, page.text
    assert "● 停止中" in shown.group(0) and "すべてのアラート" in shown.group(0)
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日\([月火水木金土日]\) \d\d:\d\d", shown.group(0))

    ended = doctor.post(
        f"/patients/{patient}/alerts/silences/{row.id}/end", data={"csrf": csrf_of(page)}
    )
    assert ended.status_code == 303
    page = doctor.get(ended.headers["location"])
    assert f'<tr id="silence-{row.id}" data-state="ended">' in page.text
    assert _audited(clinic, patient, f"/alerts/silences/{row.id}/end") == 1


def test_refused_forms_save_nothing(clinic: Clinic, as_staff: Any) -> None:
    patient = clinic.patients["suzuki"]
    doctor = as_staff("doctor")
    page = doctor.get(f"/patients/{patient}/alerts/settings")
    good = {
        "csrf": csrf_of(page),
        "starts": _local(timedelta(0)),
        "ends": _local(timedelta(days=1)),
        "rule": "bp-high",
        "reason": "travel",
    }
    url = f"/patients/{patient}/alerts/silences"
    assert doctor.post(url, data={**good, "csrf": "forged"}).status_code == 403
    no_reason = doctor.post(url, data={**good, "reason": " "})
    assert no_reason.status_code == 400
    assert (
        'id="silence-reason-error"' in no_reason.text and "Please give a reason" in no_reason.text
    )
    backwards = doctor.post(url, data={**good, "ends": _local(timedelta(days=-1))})
    assert backwards.status_code == 400 and 'id="silence-ends-error"' in backwards.text
    unknown_rule = doctor.post(url, data={**good, "rule": "everything"})
    assert unknown_rule.status_code == 400 and 'id="silence-rule-error"' in unknown_rule.text
    assert _silences(clinic) == []

    # The nurse is not in 鈴木's care team: the page and the form are "not found".
    nurse = as_staff("nurse")
    own = nurse.get(f"/patients/{clinic.patients['yamada']}/alerts/settings")
    assert own.status_code == 200
    assert nurse.get(f"/patients/{patient}/alerts/settings").status_code == 404
    refused = nurse.post(url, data={**good, "csrf": csrf_of(own)})
    assert refused.status_code == 404
    assert _silences(clinic) == []


def _practitioner_of(clinic: Clinic, who: str) -> str:
    with clinic.app.state.store.engine.connect() as connection:
        found = connection.execute(
            sa.select(staff_accounts.c.practitioner_id).where(
                staff_accounts.c.username == clinic.staff[who].username
            )
        ).scalar_one()
    return f"Practitioner/{found}"


def _preferences(clinic: Clinic, recipient: str) -> Preferences | None:
    with clinic.app.state.store.engine.connect() as connection:
        return preferences_of(connection, [recipient]).get(recipient)


def _audited_path(clinic: Clinic, path: str) -> list[str]:
    """The actions of the AuditEvents of requests to `path` (newest last).

    A read's event is written by the audit writer thread within 0.2 s: wait for it, or
    a page read just before would land after `before` was taken (seen in a full run).
    """
    assert clinic.app.state.audit.flush(timeout=10)
    with clinic.app.state.store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(audit_events.c.action, audit_events.c.content).order_by(audit_events.c.seq)
        )
        return [row.action for row in rows if f'"{path}"' in row.content]


def test_the_nurse_sets_quiet_hours_and_a_daily_digest_for_herself(
    clinic: Clinic, as_staff: Any
) -> None:
    recipient = _practitioner_of(clinic, "nurse")
    with clinic.app.state.store.transaction() as tx:
        set_recipient_channel(tx.connection, recipient, "clinic-mail", "hana@clinic.example")
    nurse = as_staff("nurse", "ja")
    inbox = nurse.get("/alerts")
    assert 'href="/alerts/settings" id="alert-preferences"' in inbox.text
    page = nurse.get("/alerts/settings")
    assert page.status_code == 200
    assert "自分のアラート通知" in page.text and "clinic-mail (hana@clinic.example)" in page.text
    before = _audited_path(clinic, "/alerts/settings")
    form = {
        "csrf": csrf_of(page),
        "language": "en",
        "zone": "",
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "non_urgent": "digest",
        "digest_at": "09:00",
    }
    saved = nurse.post("/alerts/settings", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == "/alerts/settings?saved=1"
    assert _preferences(clinic, recipient) == Preferences(
        language="en",
        quiet=(time(22, 0), time(7, 0)),
        non_urgent=Delivery.DIGEST,
        digest_at=time(9, 0),
    )
    assert _audited_path(clinic, "/alerts/settings")[len(before) :] == ["E"]
    page = nurse.get(saved.headers["location"])
    assert "通知設定を保存しました。" in page.text and 'value="22:00"' in page.text

    # Refused: one end of the quiet hours only, an unknown zone, no CSRF token.
    for wrong, field_id in (
        ({"quiet_end": ""}, "pref-quiet-error"),
        ({"zone": "Mars/Base"}, "pref-zone-error"),
    ):
        refused = nurse.post("/alerts/settings", data={**form, **wrong, "csrf": csrf_of(page)})
        assert refused.status_code == 400 and f'id="{field_id}"' in refused.text
    assert (
        nurse.post("/alerts/settings", data={**form, "language": "ja", "csrf": "x"}).status_code
        == 403
    )
    assert _preferences(clinic, recipient).language == "en"  # type: ignore[union-attr]


def test_a_care_manager_silences_their_patient_and_an_administrator_may_not(
    clinic: Clinic, as_staff: Any
) -> None:
    add_care_manager(clinic)
    patient = clinic.patients["yamada"]
    manager = as_staff("care_manager", "ja")
    page = manager.get(f"/patients/{patient}/alerts/settings")
    assert page.status_code == 200 and 'id="add-silence"' in page.text
    form = {
        "csrf": csrf_of(page),
        "starts": _local(timedelta(0)),
        "ends": _local(timedelta(days=3)),
        "rule": "no-reading-systolic",
        "reason": "旅行中 血圧計を持参せず",
    }
    assert manager.post(f"/patients/{patient}/alerts/silences", data=form).status_code == 303
    [row] = _silences(clinic)
    assert row.rule == "no-reading-systolic" and row.patient_id == patient

    username, password = f"adm-{secrets.token_hex(3)}", f"correct horse {secrets.token_hex(6)}"
    accounts = AccountStore(clinic.app.state.store.engine)
    accounts.create(username, (StaffRole.ADMIN,), None, "管理 者")
    accounts.set_password(username, password, by_admin=False)
    clinic.staff["admin"] = Staff(username, password, "管理 者")
    admin = as_staff("admin")
    refused = admin.get(f"/patients/{patient}/alerts/settings")
    assert refused.status_code == 403 and "Your role does not see alerts" in refused.text
    ending = admin.post(
        f"/patients/{patient}/alerts/silences/{row.id}/end", data={"csrf": csrf_of(refused)}
    )
    assert ending.status_code == 403
    assert [r.ends_ms for r in _silences(clinic)] == [row.ends_ms]
    page = admin.get("/alerts/settings")
    assert page.status_code == 200 and 'id="no-recipient"' in page.text

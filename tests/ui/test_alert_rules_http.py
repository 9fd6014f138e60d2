"""A patient's own alert rules over HTTP (the rules form on `/patients/{id}/alerts/settings`):
the doctor saves them on the Patient (audited, as the FHIR API would store them); a
bad value is a 400 with the message at its field; a change by someone else in between
is a 409 showing their values; a care manager reads them and may not change them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from clinician_ui import alert_rules_form as form
from clinician_ui import alert_settings_routes as routes
from clinician_ui.alerts_data import CONDITIONS
from clinician_ui.i18n import Catalogs
from fhir_api.alert_rules import ALERT_RULES_EXTENSION, AlertRules, alert_rules_of
from fhir_api.alerts.model import Kind

from ..fhir_api.login_helpers import csrf_of
from . import alerts_world
from .test_alert_settings_http import _audited
from .test_settings_http import add_care_manager
from .world import Clinic

# This module's own server with alerts on (SQLite and PostgreSQL); signed-in clients.
clinic = alerts_world.clinic
as_staff = alerts_world.as_staff


def _patient(clinic: Clinic, patient: str) -> dict[str, Any]:
    with clinic.client() as system:
        found: dict[str, Any] = system.get(f"/Patient/{patient}").json()
        return found


def _version(page: httpx.Response) -> str:
    found = re.search(r'name="version" value="(\d+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_the_doctor_sets_a_one_day_no_reading_time_and_turns_the_fever_rule_off(
    clinic: Clinic, as_staff: Any
) -> None:
    patient = clinic.patients["yamada"]
    doctor = as_staff("doctor", "ja")
    page = doctor.get(f"/patients/{patient}/alerts/settings")
    assert page.status_code == 200
    assert "この患者のアラート規則" in page.text and "血圧の測定なし" in page.text
    # The clinic's defaults in the page's language, units too ("21 /min" read as English).
    assert '<td class="default">21 /分</td>' in page.text
    form = {
        "csrf": csrf_of(page),
        "version": _version(page),
        "weight_gain": "\uff11\uff0e\uff15",  # "1.5" full-width, as a Japanese IME types it
        "no_reading_systolic": "1",
        "no_reading_spo2": "0.5",
        "limit_temperature_high": "37.5",
        "off": ["temperature-high"],
    }
    saved = doctor.post(f"/patients/{patient}/alerts/rules", data=form)
    assert saved.status_code == 303, saved.text
    assert _audited(clinic, patient, "/alerts/rules") == 1  # committed with the Patient
    assert saved.headers["location"].startswith(f"/patients/{patient}/alerts/settings?done=rules")
    stored = _patient(clinic, patient)
    assert alert_rules_of(stored) == AlertRules(
        1.5,
        {Kind.SYSTOLIC: timedelta(days=1), Kind.SPO2: timedelta(hours=12)},
        frozenset({"temperature-high"}),
        {"temperature-high": 37.5},
    )
    page = doctor.get(saved.headers["location"])
    assert "アラート規則を保存しました。" in page.text
    assert 'name="no_reading_systolic" value="1"' in page.text
    assert 'id="off-temperature-high" name="off" value="temperature-high" checked' in page.text
    # back to the defaults: empty fields, nothing ticked; the extension goes
    back = {"csrf": csrf_of(page), "version": _version(page)}
    assert doctor.post(f"/patients/{patient}/alerts/rules", data=back).status_code == 303
    stored = _patient(clinic, patient)
    assert all(e["url"] != ALERT_RULES_EXTENSION for e in stored.get("extension", []))


def test_a_bad_value_is_a_400_with_the_message_at_its_field_and_saves_nothing(
    clinic: Clinic, as_staff: Any
) -> None:
    patient = clinic.patients["yamada"]
    doctor = as_staff("doctor")
    page = doctor.get(f"/patients/{patient}/alerts/settings")
    before = _patient(clinic, patient)["meta"]["versionId"]
    form = {"csrf": csrf_of(page), "version": _version(page), "no_reading_systolic": "400"}
    refused = doctor.post(f"/patients/{patient}/alerts/rules", data=form)
    assert refused.status_code == 400
    field = re.search(
        r'<p class="field-error" id="rule-no_reading_systolic-error">([^<]+)', refused.text
    )
    assert field and "from 0.1 to 90" in field.group(1)
    assert 'name="no_reading_systolic" value="400"' in refused.text  # the typing is kept
    fever = {"csrf": csrf_of(page), "version": _version(page), "limit_temperature_high": "42"}
    refused = doctor.post(f"/patients/{patient}/alerts/rules", data=fever)
    assert refused.status_code == 400 and "from 37 to 40" in refused.text
    order = {
        "csrf": csrf_of(page),
        "version": _version(page),
        "limit_respiration_low": "16",
        "limit_respiration_high": "14",
    }
    refused = doctor.post(f"/patients/{patient}/alerts/rules", data=order)
    assert refused.status_code == 400
    assert 'id="rule-limit_respiration_low-error"' in refused.text
    urgent = {"csrf": csrf_of(page), "version": _version(page), "off": ["bp-urgent"]}
    assert doctor.post(f"/patients/{patient}/alerts/rules", data=urgent).status_code == 400
    no_token = {"version": _version(page), "no_reading_systolic": "1"}
    assert doctor.post(f"/patients/{patient}/alerts/rules", data=no_token).status_code == 403
    assert _patient(clinic, patient)["meta"]["versionId"] == before


def test_a_change_in_between_is_a_409_showing_their_values(clinic: Clinic, as_staff: Any) -> None:
    patient = clinic.patients["yamada"]
    doctor, nurse = as_staff("doctor"), as_staff("nurse")
    mine = doctor.get(f"/patients/{patient}/alerts/settings")
    theirs = nurse.get(f"/patients/{patient}/alerts/settings")
    first = {"csrf": csrf_of(theirs), "version": _version(theirs), "no_reading_weight": "2"}
    assert nurse.post(f"/patients/{patient}/alerts/rules", data=first).status_code == 303
    late = {"csrf": csrf_of(mine), "version": _version(mine), "no_reading_weight": "5"}
    conflict = doctor.post(f"/patients/{patient}/alerts/rules", data=late)
    assert conflict.status_code == 409
    assert 'id="rules-conflict"' in conflict.text
    assert 'name="no_reading_weight" value="2"' in conflict.text
    assert alert_rules_of(_patient(clinic, patient)).no_reading == {Kind.WEIGHT: timedelta(days=2)}
    again = {"csrf": csrf_of(conflict), "version": _version(conflict)}
    assert doctor.post(f"/patients/{patient}/alerts/rules", data=again).status_code == 303


def test_a_care_manager_reads_the_rules_and_may_not_change_them(
    clinic: Clinic, as_staff: Any
) -> None:
    add_care_manager(clinic)
    patient = clinic.patients["yamada"]
    manager = as_staff("care_manager")
    page = manager.get(f"/patients/{patient}/alerts/settings")
    assert page.status_code == 200
    assert 'id="rules-read-only"' in page.text and "Save alert rules" not in page.text
    form = {"csrf": csrf_of(page), "version": _version(page), "no_reading_systolic": "1"}
    assert manager.post(f"/patients/{patient}/alerts/rules", data=form).status_code == 403


def test_every_text_of_the_rules_form_is_translated() -> None:
    template = (
        Path(__file__).parents[2] / "clinician_ui/templates/alert_settings.html"
    ).read_text()
    block = template.split("{% block rules %}")[1].split("{% endblock %}")[0]
    texts = {a or b for a, b in re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", block)}
    texts |= {routes.RULES_READ_ONLY, routes.RULES_CONFLICT, routes._DONE["rules"]}
    texts |= set(form.TEXTS.values())
    texts |= {label for _, label in form.NO_READING_KINDS}
    texts |= {label for label, _ in form.LIMIT_LABELS.values()}
    texts |= {CONDITIONS[code] for code in form.OFF_CHOICES}
    catalogs = Catalogs()
    assert catalogs.missing("ja", sorted(texts)) == [] == catalogs.missing("en", sorted(texts))
    japanese = catalogs.gettext("ja")
    assert [t for t in texts if japanese(t) == t] == []


def test_rules_for_a_patient_outside_the_care_team_are_a_404_and_save_nothing(
    clinic: Clinic, as_staff: Any
) -> None:
    suzuki = clinic.patients["suzuki"]  # in the doctor's team only
    nurse = as_staff("nurse")
    own = nurse.get(f"/patients/{clinic.patients['yamada']}/alerts/settings")
    before = _patient(clinic, suzuki)["meta"]
    form = {"csrf": csrf_of(own), "version": before["versionId"], "no_reading_systolic": "1"}
    refused = nurse.post(f"/patients/{suzuki}/alerts/rules", data=form)
    assert refused.status_code == 404
    assert "No patient of that id is in your care." in refused.text
    assert _patient(clinic, suzuki)["meta"] == before

"""The unassigned page's rows and the assignment, as pure functions (no server)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from clinician_ui.charts import Reading
from clinician_ui.unassigned import UnassignedRow, assigned, device_label, unassigned_rows

from .world import blood_pressure, pulse

UTC = ZoneInfo("UTC")
SENSOR = "Device/cuff"
HOME = "Device/home"
T0 = datetime(2026, 11, 30, 7, 0, tzinfo=ZoneInfo("Asia/Tokyo")).timestamp()


def _with_id(body: dict, ident: str) -> dict:
    return {**body, "id": ident}


def test_rows_keep_device_subjects_only_newest_first_in_the_given_zone():
    older = _with_id(blood_pressure(SENSOR, HOME, T0, 141, 91), "a")
    newer = _with_id(pulse(SENSOR, HOME, T0 + 600, 66), "b")
    assigned_one = _with_id(pulse("Patient/p", HOME, T0 + 900, 70), "c")
    devices = {SENSOR: {"deviceName": [{"name": "UA-651 cuff"}]}}
    rows = unassigned_rows([(older, "1"), (newer, "3"), (assigned_one, "1")], devices, UTC)
    at = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    assert rows == [
        UnassignedRow(
            "b", "3", "UA-651 cuff", Reading("pulse", at.replace(minute=10), (66,)), "8867-4"
        ),
        UnassignedRow("a", "1", "UA-651 cuff", Reading("bp", at, (141, 91)), "85354-9"),
    ]
    assert [r.value_text for r in rows] == ["66 /min", "141/91 mmHg"]


def test_a_reading_the_charts_do_not_show_is_still_listed_by_its_code():
    body = {
        "resourceType": "Observation",
        "id": "w",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]
        },
        "subject": {"reference": SENSOR},
    }
    (row,) = unassigned_rows([(body, "2")], {}, UTC)
    assert (row.reading, row.code, row.device, row.value_text) == (None, "Body weight", SENSOR, "")


def test_device_label_prefers_the_name_then_model_then_identifier():
    assert device_label({"manufacturer": "A&D", "modelNumber": "UA-651"}, SENSOR) == "A&D UA-651"
    assert device_label({"identifier": [{"value": "00-09-1F"}]}, SENSOR) == "00-09-1F"
    assert device_label(None, SENSOR) == SENSOR


def test_assigning_names_the_patient_and_keeps_the_device():
    body = _with_id(pulse(SENSOR, HOME, T0, 66), "b")
    result = assigned(body, "p1")
    assert result["subject"] == {"reference": "Patient/p1"}
    assert result["device"] == {"reference": SENSOR}
    assert body["subject"] == {"reference": SENSOR}  # the input is left alone
    named = {**body, "device": {"reference": "Device/other"}}
    assert assigned(named, "p1")["device"] == {"reference": "Device/other"}

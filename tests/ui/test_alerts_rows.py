"""The alert pages' pure parts: values in words, the worst severity, the chart marks,
and the list's order by open alerts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from clinician_ui import summary
from clinician_ui.alerts_data import chart_marks, row_of, values_text, worst_of
from clinician_ui.summary import Gateway, GatewayState, PatientRow
from fhir_api.alerts.inbox import AlertView
from fhir_api.alerts.model import Acknowledgement, Alert, Kind, Severity, Status

TOKYO = ZoneInfo("Asia/Tokyo")
OPENED = datetime(2026, 11, 30, 7, 5, tzinfo=TOKYO)
JA = {
    "Blood pressure": "血圧",
    "Urgent": "緊急",
    "Very high blood pressure": "血圧が著しく高値",
    "Open": "未確認",
    "Pulse": "脈拍",
}


def _ja(text: str) -> str:
    return JA.get(text, text)


def _view(condition: str = "bp-urgent", **changes: object) -> AlertView:
    alert = Alert(
        "a1",
        condition,
        Severity.URGENT,
        OPENED,
        patient="p1",
        last={Kind.SYSTOLIC: 186.0, Kind.DIASTOLIC: 112.0},
        last_at=OPENED,
        count=1,
    )
    return AlertView("d1", "p1", replace(alert, **changes), 0)


def test_values_read_as_a_clinician_says_them() -> None:
    assert values_text({Kind.SYSTOLIC: 186.0, Kind.DIASTOLIC: 112.0}, _ja) == "血圧 186/112 mmHg"
    assert values_text({Kind.PULSE: 131.0}, _ja) == "脈拍 131 /min"
    assert values_text({Kind.TEMPERATURE: 38.25}, str) == "Temperature 38.2 °C"


def test_the_worst_severity_of_a_patient() -> None:
    assert worst_of({"warning": 2, "urgent": 1}) is Severity.URGENT
    assert worst_of({"warning": 1, "urgent": 0}) is Severity.WARNING
    assert worst_of({}) is None and worst_of({"unknown": 3}) is None


def test_a_row_names_who_acknowledged() -> None:
    ack = Acknowledgement("Practitioner/7", OPENED, "電話しました")
    row = row_of(
        _view(status=Status.ACKNOWLEDGED, acknowledged=ack),
        "山田 太郎",
        TOKYO,
        {"Practitioner/7": "医師 一"},
    )
    assert (row.acknowledged_by, row.acknowledged_note) == ("医師 一", "電話しました")
    assert row.opened_ms == int(OPENED.timestamp() * 1000) and row.resolved_ms is None
    assert row.what == "Very high blood pressure"


def test_chart_marks_are_per_panel_and_within_the_period() -> None:
    rows = [
        row_of(_view(), "x", TOKYO, {}),
        row_of(_view("pulse-urgent-high", last={Kind.PULSE: 131.0}), "x", TOKYO, {}),
        row_of(_view("weight-gain", last={Kind.WEIGHT: 2.5}), "x", TOKYO, {}),
    ]
    at = int(OPENED.timestamp())
    marks = chart_marks(rows, at - 10, at + 10, _ja)
    assert marks == {
        "bp": [(at, "▲▲ 緊急 血圧が著しく高値: 血圧 186/112 mmHg (未確認)")],
        "pulse": [(at, "▲▲ 緊急 Very fast pulse: 脈拍 131 /min (未確認)")],
    }
    assert chart_marks(rows, at + 1, at + 10, _ja) == {}


def _row(name: str, alerts: dict[str, int]) -> PatientRow:
    gateway = Gateway(GatewayState.UNKNOWN)
    return PatientRow(name, name, None, UTC, None, None, None, None, 0, gateway, alerts=alerts)


def test_the_list_sorts_the_most_severe_alerts_first() -> None:
    rows = [
        _row("a", {}),
        _row("b", {"warning": 3}),
        _row("c", {"urgent": 1}),
        _row("d", {"warning": 1}),
    ]
    ordered = summary.sort_rows(rows, "alerts", descending=False)
    assert [r.name for r in ordered] == ["c", "b", "d", "a"]
    assert (rows[2].open_alerts, rows[2].worst_alert) == (1, "urgent")

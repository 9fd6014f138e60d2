"""What an alert message says, in Japanese and English (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fhir_api.alerts import ChangeKind, Item, Kind, Severity
from fhir_api.alerts.delivery import render
from fhir_api.alerts.messages import item_payload

TOKYO = ZoneInfo("Asia/Tokyo")
AT = datetime(2026, 11, 29, 23, 5, tzinfo=UTC)  # 08:05 on Monday 30 November in Tokyo


def _item(change=ChangeKind.OPENED, condition="bp-urgent", **extra) -> Item:
    values = {
        "last": {Kind.SYSTOLIC: 186.0, Kind.DIASTOLIC: 98.0},
        "worst": {Kind.SYSTOLIC: 192.0, Kind.DIASTOLIC: 104.0},
        "count": 2,
        "last_at": AT,
        **extra,
    }
    return Item(
        "p1/bp-urgent/1", change, condition, Severity.URGENT, AT, "/patients/p1", "p1", **values
    )


def test_an_urgent_alert_in_japanese_names_the_patient_values_time_and_link():
    payload = item_payload(
        _item(), language="ja", zone=TOKYO, patient_name="田中 花子", base_url="https://c.example/"
    )
    assert payload["title"] == "【緊急】血圧が著しく高値 — 田中 花子"
    assert payload["body"].splitlines() == [
        "最新: 血圧 186/98 mmHg",
        "最悪: 血圧 192/104 mmHg",
        "該当する測定: 2件",
        "2026年11月30日(月) 08:05",
    ]
    assert payload["link"] == "https://c.example/patients/p1"
    assert payload["severity"] == "urgent"


def test_english_and_the_change_in_the_title():
    escalated = item_payload(_item(ChangeKind.ESCALATED), language="en", zone=TOKYO)
    assert escalated["title"] == (
        "[Urgent] Very high blood pressure (not acknowledged: passed on to you) — Patient/p1"
    )
    assert escalated["body"].endswith("Mon 30 Nov 2026 08:05")
    resolved = item_payload(_item(ChangeKind.RESOLVED), language="en", zone=TOKYO)
    assert resolved["title"] == "[Resolved] Very high blood pressure — Patient/p1"
    assert resolved["severity"] == "info"  # a resolution wakes no one


def test_no_reading_and_weight_gain():
    silent = _item(condition="no-reading-systolic", last={}, worst={}, count=0)
    payload = item_payload(silent, language="ja", zone=TOKYO, patient_name="田中 花子")
    assert payload["title"] == "【緊急】血圧の測定がありません — 田中 花子"
    assert payload["body"] == "最後の測定: 2026年11月30日(月) 08:05"
    gain = _item(condition="weight-gain", last={Kind.WEIGHT: 2.4}, worst={Kind.WEIGHT: 2.4})
    assert item_payload(gain, language="en").get("body").startswith("+2.4 kg in 3 days")


def test_an_anonymous_channel_gets_none_of_it():
    payload = item_payload(_item(), language="ja", zone=TOKYO, patient_name="田中 花子")
    title, body = render([payload], identifying=False)
    assert "田中" not in title + body and "186" not in title + body and "p1" not in title + body

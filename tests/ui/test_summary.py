"""The patient list's pure parts: rows from resources, flags, ages, sorting, dates, texts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from clinician_ui import list_routes, summary
from clinician_ui.formatting import age_text, duration_text, long_date, moment
from clinician_ui.i18n import Catalogs
from clinician_ui.summary import Age, GatewayState, age, gateway_status, patient_row, sort_rows
from clinician_ui.thresholds import DEFAULTS, Level, Thresholds

from .world import blood_pressure, heartbeat, patient, pulse, sleep_night, spo2

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=TOKYO).timestamp()
NOW_MS = int(NOW * 1000)
GW = "Device/gw-1"
HOUR = 3600.0


def _patient(pid: str = "p1") -> dict:
    return {**patient("山田", "太郎", "ヤマダ", "タロウ"), "id": pid}


def _device(updated: float, battery: float | None = 90.0) -> dict:
    device = heartbeat("home-1", "B8-27-EB-FF-FE-4A-6C-01", battery)
    device["meta"]["lastUpdated"] = datetime.fromtimestamp(updated, UTC).isoformat()
    return device


def _row(readings, device=None, days=(), pid="p1"):
    gateways = {GW: device} if device is not None else {}
    return patient_row(_patient(pid), readings, days, gateways, TOKYO, NOW_MS)


@pytest.mark.parametrize(
    ("systolic", "diastolic", "level"),
    [
        (134, 84, None),
        (135, 70, Level.HIGH),  # JSH 2019 home hypertension: 135 and over
        (120, 85, Level.HIGH),
        (179, 109, Level.HIGH),
        (180, 90, Level.URGENT),
        (150, 110, Level.URGENT),
    ],
)
def test_blood_pressure_flags_follow_the_home_thresholds(systolic, diastolic, level):
    assert Thresholds().blood_pressure(systolic, diastolic) is level


def test_spo2_and_pulse_flags():
    limits = Thresholds()
    assert (limits.spo2(90), limits.spo2(89.9)) == (None, Level.LOW)
    assert [limits.pulse(v) for v in (49, 50, 100, 101)] == [Level.LOW, None, None, Level.HIGH]
    assert Thresholds(spo2_low=DEFAULTS["spo2_low_target_88_92"]).spo2(89) is None
    assert {"systolic", "diastolic", "spo2_low", "pulse_low", "pulse_high"} <= set(DEFAULTS)


def test_ages_use_the_largest_whole_unit():
    minute = 60_000
    assert age(NOW_MS, NOW_MS - 59 * minute) == Age(59, "min")
    assert age(NOW_MS, NOW_MS - 3 * 60 * minute) == Age(3, "h")
    assert age(NOW_MS, NOW_MS - 47 * 60 * minute) == Age(47, "h")
    assert age(NOW_MS, NOW_MS - 72 * 60 * minute) == Age(3, "d")
    assert age(NOW_MS, NOW_MS + minute) == Age(0, "min")  # a clock ahead: now


def test_row_takes_the_newest_value_of_each_kind_with_its_flag():
    subject = "Patient/p1"
    readings = [
        blood_pressure(subject, GW, NOW - 3 * HOUR, 152, 96),
        blood_pressure(subject, GW, NOW - 15 * HOUR, 120, 70),  # older: not shown
        pulse(subject, GW, NOW - 3 * HOUR, 112),
        spo2(subject, GW, NOW - 5 * HOUR, 87),
        sleep_night(subject, GW, NOW - 8 * HOUR, 425),
    ]
    row = _row(readings, _device(NOW - HOUR), days={date(2026, 11, 29), date(2026, 11, 30)})
    assert row.name == "山田 太郎" and row.kana == "ヤマダ タロウ"
    assert (row.blood_pressure.text, row.blood_pressure.flag) == ("152/96", Level.HIGH)
    assert row.blood_pressure.age == Age(3, "h")
    assert (row.pulse.text, row.pulse.flag) == ("112", Level.HIGH)
    assert (row.spo2.text, row.spo2.flag) == ("87", Level.LOW)
    assert (row.sleep.text, row.sleep.age) == ("7:05", Age(8, "h"))  # a night: when it ended
    assert row.adherence == 2
    assert row.gateway.state is GatewayState.ONLINE
    assert row.flags == ("bp", "pulse", "spo2") and row.flagged


def test_row_without_readings_has_no_values_and_no_flags():
    row = _row([])
    assert (row.blood_pressure, row.pulse, row.spo2, row.sleep, row.seen) == (None,) * 5
    assert row.gateway.state is GatewayState.UNKNOWN
    assert not row.flagged


def test_gateway_silent_past_the_keepalive_is_offline_since_its_last_heartbeat():
    last = NOW - 7 * HOUR
    gateway = gateway_status(_device(last, battery=10), NOW_MS)
    assert gateway.state is GatewayState.OFFLINE
    assert gateway.seen_ms == int(last * 1000)
    assert gateway.battery_low == ("D0:00:00:00:00:02",)
    assert gateway_status(_device(NOW - 6 * HOUR), NOW_MS).state is GatewayState.ONLINE
    row = _row([blood_pressure("Patient/p1", GW, NOW - HOUR, 120, 70)], _device(last, 10))
    assert row.flags == ("gateway", "battery")


def test_gateway_backlog_counts_only_when_the_oldest_unsent_is_late():
    device = _device(NOW)
    for prop in device["property"]:
        if prop["type"]["coding"][0]["code"] == "queue-depth":
            prop["valueQuantity"][0]["value"] = 12
    assert gateway_status(device, NOW_MS).backlog == 0
    device["property"].append(
        {
            "type": {
                "coding": [{"system": summary.GATEWAY_STATUS_SYSTEM, "code": "oldest-unsent"}]
            },
            "valueQuantity": [{"value": 7200}],
        }
    )
    assert gateway_status(device, NOW_MS).backlog == 12


def test_sorting_puts_rows_without_the_value_last_either_way():
    rows = [
        _row([blood_pressure(f"Patient/{pid}", GW, NOW - HOUR, sys_, 70)], pid=pid)
        for pid, sys_ in (("a", 150), ("b", 120))
    ] + [_row([], pid="c")]
    assert [r.id for r in sort_rows(rows, "bp", descending=False)] == ["b", "a", "c"]
    assert [r.id for r in sort_rows(rows, "bp", descending=True)] == ["a", "b", "c"]
    assert len(sort_rows(rows, "no-such-column", descending=False)) == 3


def test_dates_in_japanese_and_english():
    day = date(2026, 11, 30)
    assert long_date(day, "ja") == "2026年11月30日(月)"
    assert long_date(day, "en") == "Mon 30 Nov 2026"
    assert moment(NOW_MS, TOKYO, "ja") == "2026年11月30日(月) 10:00"


def test_every_text_the_list_shows_is_translated():
    catalogs = Catalogs()
    texts = set(list_routes._HEADERS.values()) | set(list_routes._FLAG_TEXTS.values())
    texts |= {"just now", "{n} min ago", "{n} h ago", "{n} d ago"}
    root = Path(list_routes.__file__).parent / "templates"
    for name in ("base.html", "patients.html"):
        texts |= set(re.findall(r'_\("([^"]+)"\)', (root / name).read_text(encoding="utf-8")))
    assert catalogs.missing("ja", sorted(texts)) == []
    assert catalogs.missing("en", sorted(texts)) == []
    assert age_text(Age(3, "h"), catalogs.gettext("ja")) == "3時間前"
    assert age_text(Age(3, "h"), catalogs.gettext("en")) == "3 h ago"
    # A night's sleep as people say it (issue 12 review: "7:05 h:mm asleep" read badly).
    assert duration_text(425, catalogs.gettext("en")) == "7 h 05 min"
    assert duration_text(425, catalogs.gettext("ja")) == "7時間05分"
    assert duration_text(59.6, catalogs.gettext("en")) == "1 h 00 min"


def test_name_search_adds_the_other_kana_script_and_escapes():
    assert list_routes.name_search("やまだ") == "やまだ,ヤマダ"
    assert list_routes.name_search("ヤマダ") == "ヤマダ,やまだ"
    assert list_routes.name_search("山田") == "山田"
    assert list_routes.name_search("a,b$") == "a\\,b\\$"


def test_list_links_keep_the_query_and_start_again_at_page_one():
    query = list_routes.ListQuery("山田", "bp", True, True, page=3)
    assert query.link(page="4") == "?q=%E5%B1%B1%E7%94%B0&sort=bp&order=desc&flagged=1&page=4"
    assert "page=" not in query.sort_link("pulse")
    assert query.sort_link("bp").endswith("order=asc&flagged=1")


def test_a_reading_time_without_offset_is_read_in_the_patients_zone():
    body = blood_pressure("Patient/p1", GW, NOW - 3 * HOUR, 120, 70)
    body["effectiveDateTime"] = "2026-11-30T07:00:00"  # a cuff clock with no zone
    row = _row([body])
    assert row.blood_pressure.at_ms == int(
        datetime(2026, 11, 30, 7, tzinfo=TOKYO).timestamp() * 1000
    )
    assert row.blood_pressure.age == Age(3, "h")

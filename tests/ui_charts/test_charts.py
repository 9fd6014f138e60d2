"""The patient page's chart data, pure: occasions, gaps, means, the 7-day summary, flags.

Readings come from the gateway's FHIR fixtures (the contract both sides test
against) or are written the way the gateway writes them.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from clinician_ui.charts import (
    DIASTOLIC,
    PULSE,
    SLEEP_ASLEEP,
    SYSTOLIC,
    Night,
    Occasion,
    Reading,
    chart_data,
    format_day,
    night_of,
    night_rates,
    night_windows,
    occasion_of,
    reading_of,
    summary_of,
)
from fhir_api.storage.series.base import DayStatistics

TOKYO = ZoneInfo("Asia/Tokyo")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "fhir"
LAST = date(2026, 11, 30)


def observations(name: str) -> list[dict[str, Any]]:
    bundle = json.loads((FIXTURES / f"{name}.json").read_text())
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]


def bp(when: str, systolic: float, diastolic: float) -> dict[str, Any]:
    def component(code: str, value: float) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": value, "unit": "mm[Hg]", "code": "mm[Hg]"},
        }

    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "effectiveDateTime": when,
        "component": [component(SYSTOLIC, systolic), component(DIASTOLIC, diastolic)],
    }


def reading(when: str, systolic: float, diastolic: float) -> Reading:
    found = reading_of(bp(when, systolic, diastolic), TOKYO)
    assert found is not None
    return found


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("clock", "occasion", "day"),
    [
        ("2026-11-30T03:59", Occasion.OTHER, 30),
        ("2026-11-30T04:00", Occasion.MORNING, 30),
        ("2026-11-30T11:59", Occasion.MORNING, 30),
        ("2026-11-30T12:00", Occasion.OTHER, 30),
        ("2026-11-30T17:59", Occasion.OTHER, 30),
        ("2026-11-30T18:00", Occasion.EVENING, 30),
        ("2026-11-30T23:59", Occasion.EVENING, 30),
        ("2026-11-30T00:00", Occasion.EVENING, 29),
        ("2026-11-30T01:59", Occasion.EVENING, 29),
        ("2026-11-30T02:00", Occasion.OTHER, 30),
    ],
)
def test_occasions_follow_home_bp_practice(clock: str, occasion: Occasion, day: int) -> None:
    assert occasion_of(local(clock)) == (occasion, date(2026, 11, day))


def test_a_reading_after_midnight_in_the_patients_zone_is_the_evening_before() -> None:
    # 16:30 UTC is 01:30 the next day in Tokyo: the evening of the 29th there,
    # although the instant is an afternoon (no occasion) in UTC.
    found = reading("2026-11-29T16:30:00Z", 140, 90)
    assert found.at == local("2026-11-30T01:30")
    assert occasion_of(found.at) == (Occasion.EVENING, date(2026, 11, 29))
    data = chart_data(
        period=7,
        last=LAST,
        zone=TOKYO,
        zone_name="Asia/Tokyo",
        stats=[],
        readings=[found],
        language="en",
    )
    series = data["bp"]["series"]
    assert series["evening_sys"] == [140] and series["evening_dia"] == [90]
    assert series["morning_sys"] == [None] and series["other_sys"] == [None]
    # Listed under the evening it counts for (issue 12 review), at its own time, marked
    # as after midnight.
    assert data["bp"]["rows"][0]["day"] == "Sun 29 Nov 2026"
    assert data["bp"]["rows"][0]["time"] == "01:30"
    assert data["bp"]["rows"][0]["next_day"] is True
    assert data["summary"]["evening"] == {"systolic": 140.0, "diastolic": 90.0, "days": 1}


def test_the_summary_averages_each_days_occasion_then_the_days() -> None:
    readings = [
        # the 30th: three morning readings (mean 130/80), one evening (120/70)
        reading("2026-11-30T07:00:00+09:00", 128, 78),
        reading("2026-11-30T07:02:00+09:00", 132, 82),
        reading("2026-11-30T07:04:00+09:00", 130, 80),
        reading("2026-11-30T21:00:00+09:00", 120, 70),
        # the 29th: one morning reading (140/90), no evening
        reading("2026-11-29T06:30:00+09:00", 140, 90),
        # 8 days before the last day: outside the 7-day summary
        reading("2026-11-23T07:00:00+09:00", 200, 120),
        # 14:00: neither morning nor evening
        reading("2026-11-30T14:00:00+09:00", 190, 110),
    ]
    summary = summary_of(readings, LAST)
    assert (summary.first, summary.last) == (date(2026, 11, 24), LAST)
    assert (summary.morning.systolic, summary.morning.diastolic) == (135.0, 85.0)
    assert summary.morning.days == 2  # not (128+132+130+140)/4 = 132.5
    assert (summary.evening.systolic, summary.evening.diastolic, summary.evening.days) == (
        120.0,
        70.0,
        1,
    )
    assert (summary.average.systolic, summary.average.diastolic) == (127.5, 77.5)
    assert (summary.difference.systolic, summary.difference.diastolic) == (15.0, 15.0)


def test_no_evening_readings_leave_the_average_and_difference_empty() -> None:
    summary = summary_of([reading("2026-11-30T07:00:00+09:00", 128, 78)], LAST)
    assert summary.evening.systolic is None and summary.evening.days == 0
    assert summary.average.systolic is None and summary.difference.diastolic is None


def stat(code: str, day: int, low: float, high: float, mean: float, count: int) -> DayStatistics:
    return DayStatistics(code, date(2026, 11, day), low, high, mean, count, "mm[Hg]")


def test_missing_days_stay_gaps_and_daily_figures_are_the_servers() -> None:
    stats = [
        stat(SYSTOLIC, 28, 120, 140, 130, 4),
        stat(DIASTOLIC, 28, 70, 90, 80, 4),
        stat(SYSTOLIC, 30, 125, 135, 131.25, 2),
        stat(DIASTOLIC, 30, 75, 85, 80, 2),
        stat(PULSE, 30, 60, 70, 65, 2),
        DayStatistics("59408-5", date(2026, 11, 30), 95, 97, 96, 2, "%"),
        DayStatistics("2708-6", date(2026, 11, 30), 95, 97, 96, 2, "%"),  # same readings
        DayStatistics(SLEEP_ASLEEP, date(2026, 11, 29), 400, 400, 400, 1, "min"),
    ]
    data = chart_data(
        period=30,
        last=LAST,
        zone=TOKYO,
        zone_name="Asia/Tokyo",
        stats=stats,
        readings=[],
        language="ja",
    )
    assert data["detail"] == "daily"
    series = data["bp"]["series"]
    assert len(data["bp"]["x"]) == len(series["sys_max"]) == 30
    assert series["sys_max"][-3:] == [140, None, 135]  # the 29th: a gap, not 137.5
    assert series["sys_mean"][-3:] == [130, None, 131.2]
    assert series["dia_min"][-3:] == [70, None, 75]
    assert series["sys_count"][-3:] == [4, 0, 2]
    assert series["sys_max"][:27] == [None] * 27
    assert data["pulse"]["series"]["mean"][-1] == 65
    assert data["spo2"]["series"]["count"][-1] == 2  # not 4: one reading, two codes
    assert data["sleep"]["series"]["asleep"][-2:] == [400, None]
    assert data["adherence"] == {
        "measured": [False] * 27 + [True, False, True],
        "days": 2,
        "of": 30,
        "strip": "0" * 27 + "101",  # what charts.js draws the strip from
    }
    # x: local noon of each day, one day apart; the axis spans the local days.
    assert data["bp"]["x"][-1] == int(local("2026-11-30T12:00").timestamp())
    assert data["start"] == int(local("2026-11-01T00:00").timestamp())
    assert data["end"] == int(local("2026-12-01T00:00").timestamp())
    assert data["days"]["labels"][-1] == "2026年11月30日(月)"


def test_the_gateways_status_bits_and_kpa_reach_the_table() -> None:
    panel = observations("bundle-bp-kpa")[0]
    found = reading_of(panel, TOKYO)
    assert found is not None
    assert found.values == (141.8, 83)  # converted by the gateway, the kPa kept aside
    assert found.flags == ("cuff-too-loose", "pulse-rate-below-lower-limit")
    irregular = [
        reading_of(o, TOKYO) for o in observations("bundle-bp-drifted-clock-irregular-pulse")
    ]
    bp_reading = next(r for r in irregular if r is not None and r.kind == "bp")
    assert bp_reading.values == (122, 80) and bp_reading.flags == ("irregular-pulse",)
    data = chart_data(
        period=7,
        last=date(2024, 11, 27),
        zone=TOKYO,
        zone_name="Asia/Tokyo",
        stats=[],
        readings=[bp_reading, found],
        language="en",
    )
    rows = data["bp"]["rows"]
    assert [row["flags"] for row in rows] == [
        ["cuff-too-loose", "pulse-rate-below-lower-limit", "above-home-line"],  # 10:31:05
        ["irregular-pulse"],  # 10:32
    ]
    assert data["bp"]["flagged"] == [True, True]


def test_sleep_epochs_heart_rate_is_not_a_pulse_reading_but_a_straps_is() -> None:
    epoch = [reading_of(o, TOKYO) for o in observations("bundle-sleep-epoch")]
    at = local("2024-11-27T02:30")
    assert epoch == [None, Reading("sleep_hr", at, (54,), ()), Reading("sleep_rr", at, (13.5,), ())]
    strap = reading_of(observations("bundle-heart-rate")[0], TOKYO)
    assert strap == Reading("pulse", local("2024-11-27T10:31:05"), (72,), ())
    spo2 = [reading_of(o, TOKYO) for o in observations("bundle-spo2-spot-stored-low-perfusion")]
    assert [(r.kind, r.values) for r in spo2 if r] == [("spo2", (97,)), ("pulse", (64,))]


def test_a_reading_in_kpa_is_charted_in_mm_hg() -> None:
    resource = bp("2026-11-30T07:00:00+09:00", 16, 10)
    for component in resource["component"]:
        component["valueQuantity"].update(unit="kPa", code="kPa")
    found = reading_of(resource, TOKYO)
    assert found is not None
    assert found.values == pytest.approx((120.01, 75.01), abs=0.01)


def test_errors_and_absent_values_are_not_charted() -> None:
    wrong = bp("2026-11-30T07:00:00+09:00", 120, 80) | {"status": "entered-in-error"}
    absent = bp("2026-11-30T07:00:00+09:00", 120, 80)
    del absent["component"][0]["valueQuantity"]
    dated = bp("2026-11-30", 120, 80)
    assert [reading_of(o, TOKYO) for o in (wrong, absent, dated)] == [None] * 3


def test_pulse_and_spo2_thresholds_flag_readings() -> None:
    at = local("2026-11-30T07:00")
    readings = [
        Reading("pulse", at, (45,)),
        Reading("pulse", at + timedelta(minutes=1), (101,)),
        Reading("pulse", at + timedelta(minutes=2), (100,)),
        Reading("spo2", at, (89,)),
        Reading("spo2", at + timedelta(minutes=1), (90,)),
    ]
    data = chart_data(
        period=7,
        last=LAST,
        zone=TOKYO,
        zone_name="Asia/Tokyo",
        stats=[],
        readings=readings,
        language="en",
        thresholds={"pulse_high": 100},
    )
    assert [r["flags"] for r in data["pulse"]["rows"]] == [["low"], ["high"], []]
    assert [r["flags"] for r in data["spo2"]["rows"]] == [["low"], []]
    assert data["pulse"]["series"]["value"] == [45, 101, 100]


def test_dates_in_the_conventional_formats() -> None:
    assert format_day(LAST, "ja") == "2026年11月30日(月)"
    assert format_day(LAST, "en") == "Mon 30 Nov 2026"


def test_an_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="period"):
        chart_data(
            period=14,
            last=LAST,
            zone=TOKYO,
            zone_name="Asia/Tokyo",
            stats=[],
            readings=[],
            language="en",
        )


def test_only_the_phd_status_systems_make_flags() -> None:
    def bit(system: str) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": system, "code": "8410608.2"}]},
            "valueCodeableConcept": {"coding": [{"code": "Y"}]},
        }

    def interpretation(system: str, code: str) -> dict[str, Any]:
        return {"coding": [{"system": system, "code": code}]}

    phd, other = "http://hl7.org/fhir/uv/phd/CodeSystem/ASN1ToHL7", "urn:other"
    status = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
    resource = bp("2026-11-30T07:00:00+09:00", 120, 80)
    resource["component"] += [bit(phd), bit(other)]
    resource["interpretation"] = [
        interpretation(status, "questionable"),
        interpretation(other, "early-indication"),
    ]
    found = reading_of(resource, TOKYO)
    assert found is not None and found.flags == ("irregular-pulse", "questionable")


@pytest.mark.parametrize(
    ("systolic", "diastolic", "flags"),
    [
        (134, 84, []),
        (135, 70, ["above-home-line"]),
        (120, 85, ["above-home-line"]),
        (179, 109, ["above-home-line"]),
        (180, 90, ["urgent"]),
        (150, 110, ["urgent"]),
    ],
)
def test_blood_pressure_thresholds(systolic: float, diastolic: float, flags: list[str]) -> None:
    data = chart_data(
        period=7,
        last=LAST,
        zone=TOKYO,
        zone_name="Asia/Tokyo",
        stats=[],
        readings=[reading("2026-11-30T07:00:00+09:00", systolic, diastolic)],
        language="en",
    )
    assert data["bp"]["rows"][0]["flags"] == flags


def test_time_in_bed_and_the_rates_in_bed_per_night() -> None:
    """A night is filed under the day it began: time in bed from its summary's period;
    each moment in bed under the night it falls in, else (no summary yet) the evening
    before noon. The rates in bed come from `$stats` over each day's windows."""
    late = Night(local("2026-11-29T00:30"), local("2026-11-29T07:00"))  # began after midnight
    days = [date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30)]
    windows = night_windows([late], days, TOKYO)

    def filed(moment: str) -> list[date]:
        at = local(moment)
        return [day for day, start, end in windows if start <= at < end]

    assert filed("2026-11-29T03:00") == [date(2026, 11, 29)]  # in the late night
    assert filed("2026-11-29T00:29") == [date(2026, 11, 28)]  # before it: the 28th's evening
    assert filed("2026-11-30T02:00") == [date(2026, 11, 29)]  # no summary yet: the 29th's
    assert filed("2026-11-30T23:00") == [date(2026, 11, 30)]
    assert filed("2026-11-29T11:00") == [date(2026, 11, 28)]  # after the summary, before noon

    def day(code: str, lo: float, hi: float, mean: float, n: int) -> DayStatistics:
        return DayStatistics(code, date(2026, 11, 29), lo, hi, mean, n, "/min")

    rates = night_rates(
        [
            (date(2026, 11, 29), [day("8867-4", 50, 50, 50, 1), day("9279-1", 14, 14, 14, 1)]),
            (date(2026, 11, 29), [day("8867-4", 60, 60, 60, 1)]),  # the window after noon
            (date(2026, 11, 30), [day("8867-4", 58, 58, 58, 1)]),
        ]
    )
    data = chart_data(
        period=7,
        last=LAST,
        zone=TOKYO,
        zone_name="Asia/Tokyo",
        stats=[],
        readings=[],
        language="en",
        nights=[late],
        rates=rates,
    )
    assert data["sleep"]["series"]["in_bed"][-2:] == [390, None]
    assert data["sleep"]["week_in_bed"] == 390
    series = data["sleep_vitals"]["series"]
    assert series["hr_count"][-2:] == [2, 1]
    assert (series["hr_min"][-2], series["hr_max"][-2], series["hr_mean"][-2]) == (50, 60, 55)
    assert series["rr_mean"][-2:] == [14, None]
    assert data["sleep_vitals"]["alt"] == {"points": 2, "low": 14, "high": 60, "flagged": 0}
    assert night_of(local("2026-11-30T11:59")) == date(2026, 11, 29)
    assert night_of(local("2026-11-30T12:00")) == date(2026, 11, 30)

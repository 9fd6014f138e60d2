"""The printed 30-day summary's numbers (pure): means by occasion, adherence, flags, sleep."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from clinician_ui.charts import SLEEP_ASLEEP, SPO2_CODES, SYSTOLIC, Reading
from clinician_ui.print_summary import print_summary
from fhir_api.storage.series.base import DayStatistics

TOKYO = ZoneInfo("Asia/Tokyo")
LAST = date(2026, 11, 30)
FIRST = date(2026, 11, 1)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO)


def _bp(day: date, hour: int, systolic: float, diastolic: float, minute: int = 0) -> Reading:
    return Reading("bp", _at(day, hour, minute), (systolic, diastolic))


def _day(code: str, day: date, mean: float, readings: int = 1) -> DayStatistics:
    return DayStatistics(code, day, mean, mean, mean, readings, "")


def test_morning_and_evening_means_over_thirty_days_average_each_day_first():
    readings = [
        # Two mornings: one day with two readings (140 and 130 -> 135), one with 125.
        _bp(FIRST, 7, 140, 90),
        _bp(FIRST, 7, 130, 80, minute=5),
        _bp(FIRST + timedelta(days=20), 6, 125, 75),
        # Evenings: 20:00 on the 1st, and 00:30 on the last day + 1 (the last evening).
        _bp(FIRST, 20, 120, 70),
        _bp(LAST + timedelta(days=1), 0, 130, 80, minute=30),
        # Outside the 30 days: the day before the first, and after the last evening.
        _bp(FIRST - timedelta(days=1), 7, 200, 120),
        _bp(LAST + timedelta(days=1), 7, 200, 120),
        # Early afternoon: neither morning nor evening.
        _bp(FIRST + timedelta(days=3), 14, 170, 100),
    ]
    s = print_summary(last=LAST, stats=[], readings=readings)
    assert (s.first, s.last) == (FIRST, LAST)
    bp = s.blood_pressure
    assert (bp.morning.systolic, bp.morning.diastolic, bp.morning.days) == (130.0, 80.0, 2)
    assert (bp.evening.systolic, bp.evening.diastolic, bp.evening.days) == (125.0, 75.0, 2)
    assert (bp.average.systolic, bp.difference.systolic) == (127.5, 5.0)


def test_adherence_counts_days_with_a_blood_pressure_or_an_spo2_in_the_period():
    stats = [
        _day(SYSTOLIC, FIRST, 120),
        _day(SYSTOLIC, FIRST + timedelta(days=1), 120, readings=3),
        _day(SPO2_CODES[0], FIRST + timedelta(days=1), 97),  # same day: counted once
        _day(SPO2_CODES[1], FIRST + timedelta(days=5), 97),
        _day(SLEEP_ASLEEP, FIRST + timedelta(days=7), 400),  # sleep alone: not measuring
        _day(SYSTOLIC, FIRST - timedelta(days=1), 120),  # before the period
    ]
    s = print_summary(last=LAST, stats=stats, readings=[])
    assert (s.days_measured, s.days) == (3, 30)


def test_sleep_is_the_mean_over_the_nights_with_data():
    stats = [
        _day(SLEEP_ASLEEP, FIRST + timedelta(days=2), 420),
        _day(SLEEP_ASLEEP, FIRST + timedelta(days=3), 240, readings=2),  # a night and a nap
        _day(SLEEP_ASLEEP, FIRST - timedelta(days=3), 10),  # before the period
    ]
    s = print_summary(last=LAST, stats=stats, readings=[])
    assert (s.sleep_mean, s.sleep_nights) == (450.0, 2)
    empty = print_summary(last=LAST, stats=[], readings=[])
    assert (empty.sleep_mean, empty.sleep_nights) == (None, 0)


def test_flagged_readings_are_those_with_a_device_or_threshold_flag_in_time_order():
    readings = [
        Reading("spo2", _at(FIRST + timedelta(days=9), 9), (88.0,)),
        _bp(FIRST + timedelta(days=2), 7, 150, 80),
        _bp(FIRST + timedelta(days=2), 20, 120, 70),  # in range
        Reading("bp", _at(FIRST + timedelta(days=4), 7), (120.0, 70.0), ("irregular-pulse",)),
        Reading("pulse", _at(FIRST + timedelta(days=5), 7), (120.0,)),
        _bp(LAST + timedelta(days=1), 0, 185, 100, minute=30),  # the last evening
        _bp(FIRST - timedelta(days=1), 7, 200, 120),  # before the period
    ]
    s = print_summary(last=LAST, stats=[], readings=readings)
    assert [(f.reading.at, f.flags) for f in s.flagged] == [
        (_at(FIRST + timedelta(days=2), 7), ("above-home-line",)),
        (_at(FIRST + timedelta(days=4), 7), ("irregular-pulse",)),
        (_at(FIRST + timedelta(days=5), 7), ("high",)),
        (_at(FIRST + timedelta(days=9), 9), ("low",)),
        (_at(LAST + timedelta(days=1), 0, 30), ("urgent",)),
    ]


def test_the_thresholds_used_are_the_defaults_with_the_patients_overrides():
    s = print_summary(last=LAST, stats=[], readings=[_bp(FIRST, 7, 130, 80)])
    assert (s.thresholds["systolic"], s.thresholds["diastolic"], s.flagged) == (135, 85, ())
    lower = print_summary(
        last=LAST, stats=[], readings=[_bp(FIRST, 7, 130, 80)], thresholds={"systolic": 125}
    )
    assert lower.thresholds["systolic"] == 125
    assert [f.flags for f in lower.flagged] == [("above-home-line",)]

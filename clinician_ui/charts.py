"""The patient page's chart data: `$stats` days and Observations shaped for uPlot and tables.

Pure: no I/O, no clock. The route fetches (with the session's Access) and passes
in what it got; everything here is a function of its arguments, so the numbers the
charts and the tables show are tested without a server.

Conventions (issue 12):
- Every time is in the patient's zone. A chart's x is epoch seconds; daily values sit
  at local noon of their day, so a bar never straddles two days on the axis.
- Japanese home blood-pressure practice: readings from 04:00 to 11:59 are the
  morning's, from 18:00 to 01:59 the evening's (a reading at 00:30 belongs to the
  evening before), anything else is "other". Summaries average each occasion's
  readings per day first, then the days, so a day with three readings does not weigh
  more than a day with two.
- A day without readings is a null: a gap on the chart, never interpolated.
- Up to 7 days the charts show each reading; from 30 days on, daily min-max bars with
  the mean from `$stats` (the server's aggregate, never every raw reading).
- A night belongs to the evening it began on (a bed sensor's epoch at 03:00 on the 30th
  is the night of the 29th), as `$stats` files the night's summary under its start.
  Heart and breathing rates in bed come per epoch (hundreds a night, as single
  Observations or one SampledData): the page shows each night's min-max and mean for
  the last 7 nights from `$stats` in bed (`setting=in-bed`, apart from the pulse) over
  each night's hours (`night_windows`), never the epochs themselves.
- Time in bed is the night's `effectivePeriod` (first epoch's start to the last one's
  end, the gateway's `sleep_nights`), time asleep its value: one summary per night.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from babel.dates import format_date

from fhir_api.storage.series.base import DayStatistics
from fhir_api.storage.series.in_bed import measured_in_bed
from fhir_api.storage.series.units import to_canonical

from .thresholds import DEFAULTS

__all__ = [
    "BP_PANEL",
    "DIASTOLIC",
    "PERIODS",
    "PULSE",
    "RESPIRATION",
    "SLEEP_CODES",
    "SPO2_CODES",
    "STATS_CODES",
    "SYSTOLIC",
    "Night",
    "NightRate",
    "Occasion",
    "Reading",
    "Summary",
    "chart_data",
    "for_browser",
    "format_day",
    "night_of",
    "night_rates",
    "night_windows",
    "occasion_of",
    "period_days",
    "reading_flags",
    "reading_of",
    "summary_of",
    "summary_over",
    "thresholds_with",
]

LOINC = "http://loinc.org"
BP_PANEL = "85354-9"
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
PULSE = "8867-4"
RESPIRATION = "9279-1"
SPO2_CODES = ("59408-5", "2708-6")
SLEEP_ASLEEP, SLEEP_DEEP, SLEEP_LIGHT, SLEEP_REM = "93832-4", "93831-6", "93830-8", "93829-0"
SLEEP_CODES = (SLEEP_ASLEEP, SLEEP_DEEP, SLEEP_LIGHT, SLEEP_REM)
STATS_CODES = (SYSTOLIC, DIASTOLIC, PULSE, *SPO2_CODES, *SLEEP_CODES)
PERIODS = (7, 30, 90, 365)
READINGS_UP_TO = 7  # days: longer periods chart daily aggregates
SUMMARY_DAYS = 7

# The PHD IG's measurement-status bits (8410608.<bit>) the gateway sends as BP components,
# and the interpretation codes of pulse oximeters and heart-rate sensors.
ASN1_TO_HL7 = "http://hl7.org/fhir/uv/phd/CodeSystem/ASN1ToHL7"
MEASUREMENT_STATUS = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
_STATUS_BITS = {
    "8410608.0": "body-movement",
    "8410608.1": "cuff-too-loose",
    "8410608.2": "irregular-pulse",
    "8410608.3": "pulse-rate-exceeds-upper-limit",
    "8410608.4": "pulse-rate-below-lower-limit",
    "8410608.5": "improper-body-position",
}
_CHARTED_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
_INTERPRETATIONS = ("questionable", "early-indication", "calibration-ongoing")
FLAG_NAMES: dict[str, str] = {
    "body-movement": "Body movement",
    "cuff-too-loose": "Cuff loose",
    "irregular-pulse": "Irregular pulse",
    "pulse-rate-exceeds-upper-limit": "Pulse above the device's range",
    "pulse-rate-below-lower-limit": "Pulse below the device's range",
    "improper-body-position": "Improper position",
    "questionable": "Questionable measurement",
    "early-indication": "Early estimate",
    "calibration-ongoing": "Calibrating",
    "above-home-line": "At or above the home line",
    "urgent": "Urgent level",  # the patient's own (180/110 by default)
    "low": "Low",
    "high": "High",
}


class Occasion(StrEnum):
    """When in the day a reading was taken, as home blood-pressure practice counts it."""

    MORNING = "morning"
    EVENING = "evening"
    OTHER = "other"


def occasion_of(local: datetime) -> tuple[Occasion, date]:
    """The occasion of a reading at `local` (patient's wall time) and the day it counts for.

    An evening reading after midnight (00:00-01:59) belongs to the evening before.
    """
    hour = local.hour
    if 4 <= hour < 12:
        return Occasion.MORNING, local.date()
    if hour >= 18:
        return Occasion.EVENING, local.date()
    if hour < 2:
        return Occasion.EVENING, local.date() - timedelta(days=1)
    return Occasion.OTHER, local.date()


def night_of(local: datetime) -> date:
    """The evening a moment in bed belongs to: before noon, the night began the day before."""
    return (local - timedelta(hours=12)).date()


@dataclass(frozen=True, slots=True)
class Night:
    """One night's summary from the gateway: in bed from `start` to `end`, minutes asleep."""

    start: datetime  # in the patient's zone
    end: datetime

    @property
    def in_bed_minutes(self) -> float:
        """Minutes from the first epoch's start to the last one's end."""
        return max(0.0, (self.end - self.start).total_seconds() / 60)


@dataclass(frozen=True, slots=True)
class Reading:
    """One Observation reduced to what a chart and its table show.

    `kind` is "bp" (values: systolic, diastolic), "pulse" or "spo2" (values: one), and
    for a bed sensor's epoch "sleep_hr" or "sleep_rr" (heart and breathing rate in bed).
    """

    kind: str
    at: datetime  # in the patient's zone
    values: tuple[float, ...]
    flags: tuple[str, ...] = ()


def _codes(concept: Any) -> set[str]:
    if not isinstance(concept, dict):
        return set()
    return {
        str(c.get("code"))
        for c in concept.get("coding", ())
        if isinstance(c, dict) and c.get("system") in (LOINC, None)
    }


def _quantity(element: Mapping[str, Any], code: str) -> float | None:
    """The element's value in the unit `$stats` charts `code` in, None when it has none."""
    quantity = element.get("valueQuantity")
    if not isinstance(quantity, dict):
        return None
    value, unit = quantity.get("value"), quantity.get("code") or quantity.get("unit")
    if not isinstance(value, int | float) or isinstance(value, bool) or not isinstance(unit, str):
        return None
    converted = to_canonical(code, float(value), unit)
    return None if converted is None else converted[0]


def _moment(resource: Mapping[str, Any], zone: tzinfo) -> datetime | None:
    text = resource.get("effectiveDateTime")
    if text is None and isinstance(resource.get("effectivePeriod"), dict):
        text = resource["effectivePeriod"].get("start")
    if not isinstance(text, str) or "T" not in text:
        return None  # a date alone has no time of day to place on the chart
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def _flags(resource: Mapping[str, Any]) -> list[str]:
    """Device status flags: PHD status-bit components set to Y, and interpretation codes."""
    found: list[str] = []
    for component in resource.get("component", ()):
        if not isinstance(component, dict):
            continue
        for coding in component.get("code", {}).get("coding", ()):
            if not isinstance(coding, dict) or coding.get("system") != ASN1_TO_HL7:
                continue
            name = _STATUS_BITS.get(str(coding.get("code")))
            answer = component.get("valueCodeableConcept", {}).get("coding", [{}])
            if name and any(isinstance(a, dict) and a.get("code") == "Y" for a in answer):
                found.append(name)
    for concept in resource.get("interpretation", ()):
        for coding in concept.get("coding", ()) if isinstance(concept, dict) else ():
            if not isinstance(coding, dict) or coding.get("system") != MEASUREMENT_STATUS:
                continue
            code = coding.get("code")
            if code in _INTERPRETATIONS and code not in found:
                found.append(str(code))
    return found


def reading_of(resource: Mapping[str, Any], zone: tzinfo) -> Reading | None:
    """The chartable reading of an Observation, None for anything the panels do not show.

    Left out, as `$stats` leaves them out: a status other than final, amended, corrected
    or preliminary (entered-in-error, cancelled...). Also left out: no time of day, no
    value (dataAbsentReason). A heart rate measured in bed is "sleep_hr", not a pulse
    (a night of epochs would bury the daytime pulse), a breathing rate "sleep_rr": the
    server's own rule (`measured_in_bed`), so the page and `$stats` file them alike.
    """
    if resource.get("status") not in _CHARTED_STATUSES:
        return None
    at = _moment(resource, zone)
    if at is None:
        return None
    codes = _codes(resource.get("code"))
    flags = tuple(_flags(resource))
    if BP_PANEL in codes:
        parts: dict[str, float | None] = {SYSTOLIC: None, DIASTOLIC: None}
        for component in resource.get("component", ()):
            if isinstance(component, dict):
                for code in _codes(component.get("code")) & parts.keys():
                    parts[code] = _quantity(component, code)
        systolic, diastolic = parts[SYSTOLIC], parts[DIASTOLIC]
        if systolic is None or diastolic is None:
            return None
        return Reading("bp", at, (systolic, diastolic), flags)
    if PULSE in codes:
        value = _quantity(resource, PULSE)
        kind = "sleep_hr" if measured_in_bed(resource) else "pulse"
        return None if value is None else Reading(kind, at, (value,), flags)
    if RESPIRATION in codes and measured_in_bed(resource):
        value = _quantity(resource, RESPIRATION)
        return None if value is None else Reading("sleep_rr", at, (value,), flags)
    for code in SPO2_CODES:
        if code in codes:
            value = _quantity(resource, code)
            return None if value is None else Reading("spo2", at, (value,), flags)
    return None


# --- summaries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mean:
    """A blood-pressure mean and how many days it averages."""

    systolic: float | None
    diastolic: float | None
    days: int


@dataclass(frozen=True, slots=True)
class Summary:
    """The last 7 days: morning and evening means, their average and difference (JSH 2019)."""

    first: date
    last: date
    morning: Mean
    evening: Mean
    average: Mean  # (morning + evening) / 2, when both exist
    difference: Mean  # morning - evening, when both exist


def _mean(values: Iterable[float]) -> float | None:
    numbers = list(values)
    return round(math.fsum(numbers) / len(numbers), 1) if numbers else None


def _occasion_mean(
    readings: Sequence[Reading], occasion: Occasion, first: date, last: date
) -> Mean:
    by_day: dict[date, list[Reading]] = {}
    for reading in readings:
        kind, day = occasion_of(reading.at)
        if reading.kind == "bp" and kind is occasion and first <= day <= last:
            by_day.setdefault(day, []).append(reading)
    daily = [
        (
            math.fsum(r.values[0] for r in group) / len(group),
            math.fsum(r.values[1] for r in group) / len(group),
        )
        for group in by_day.values()
    ]
    return Mean(_mean(s for s, _ in daily), _mean(d for _, d in daily), len(daily))


def _combine(a: float | None, b: float | None, how: str) -> float | None:
    if a is None or b is None:
        return None
    return round((a + b) / 2, 1) if how == "average" else round(a - b, 1)


def summary_of(readings: Sequence[Reading], last: date) -> Summary:
    """The 7 days ending with `last` (the patient's local dates)."""
    return summary_over(readings, last - timedelta(days=SUMMARY_DAYS - 1), last)


def summary_over(readings: Sequence[Reading], first: date, last: date) -> Summary:
    """Morning and evening means from `first` to `last` inclusive (the printed 30 days too)."""
    morning = _occasion_mean(readings, Occasion.MORNING, first, last)
    evening = _occasion_mean(readings, Occasion.EVENING, first, last)
    both = min(morning.days, evening.days)

    def pair(how: str) -> Mean:
        return Mean(
            _combine(morning.systolic, evening.systolic, how),
            _combine(morning.diastolic, evening.diastolic, how),
            both,
        )

    return Summary(first, last, morning, evening, pair("average"), pair("difference"))


# --- dates ---------------------------------------------------------------------------------


def period_days(period: int, last: date) -> list[date]:
    """The local days a period shows, oldest first, ending with `last`."""
    return [last - timedelta(days=period - 1 - n) for n in range(period)]


def _epoch(day: date, zone: tzinfo, at: time = time(0)) -> int:
    return int(datetime.combine(day, at, tzinfo=zone).timestamp())


def format_day(day: date, language: str) -> str:
    """2026年11月30日(月) in Japanese, "Mon 30 Nov 2026" in English."""
    if language == "ja":
        return format_date(day, "y年M月d日(E)", locale="ja")
    return format_date(day, "EEE d MMM y", locale="en")


def thresholds_with(overrides: Mapping[str, float] | None) -> dict[str, float]:
    """The defaults with the patient's overrides; whole numbers as ints (135, not 135.0)."""
    merged = {**DEFAULTS, **(overrides or {})}
    return {k: int(v) if float(v).is_integer() else v for k, v in merged.items()}


def reading_flags(reading: Reading, limits: Mapping[str, float]) -> list[str]:
    """The device's flags and the thresholds' (a reading on the home line counts as above)."""
    flags = list(reading.flags)
    if reading.kind == "bp":
        systolic, diastolic = reading.values
        urgent = (limits.get("systolic_urgent", 180), limits.get("diastolic_urgent", 110))
        if systolic >= urgent[0] or diastolic >= urgent[1]:
            flags.append("urgent")
        elif systolic >= limits["systolic"] or diastolic >= limits["diastolic"]:
            flags.append("above-home-line")
    elif reading.kind == "pulse":
        if reading.values[0] < limits["pulse_low"]:
            flags.append("low")
        elif reading.values[0] > limits["pulse_high"]:
            flags.append("high")
    elif reading.kind == "spo2" and reading.values[0] < limits["spo2_low"]:
        flags.append("low")
    return flags


# --- the chart data -------------------------------------------------------------------------


@dataclass
class _Daily:
    """Per code and day, from `$stats`."""

    rows: dict[tuple[str, date], DayStatistics] = field(default_factory=dict)

    def get(self, codes: Sequence[str], day: date) -> DayStatistics | None:
        """The figures of the first of `codes` that has some that day.

        SpO2 has two LOINC codes and the gateway sends both on one Observation, so
        `$stats` counts the reading under each: adding them up would count it twice.
        """
        for code in codes:
            found = self.rows.get((code, day))
            if found is not None:
                return found
        return None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _daily_panel(
    daily: _Daily, codes: Sequence[str], days: Sequence[date], prefix: str = ""
) -> dict[str, list[float | None]]:
    figures = [daily.get(codes, day) for day in days]
    return {
        f"{prefix}min": [_r(f.minimum) if f else None for f in figures],
        f"{prefix}max": [_r(f.maximum) if f else None for f in figures],
        f"{prefix}mean": [_r(f.mean) if f else None for f in figures],
        f"{prefix}count": [f.readings if f else 0 for f in figures],
    }


def _readings_panel(
    readings: Sequence[Reading], kind: str, language: str, limits: Mapping[str, float]
) -> dict[str, Any]:
    """Each reading as a point; blood pressure split into occasion series with nulls."""
    chosen = sorted((r for r in readings if r.kind == kind), key=lambda r: r.at)
    rows = []
    for reading in chosen:
        occasion, day = occasion_of(reading.at)
        rows.append(
            {
                # Under the day it counts for (01:30 is the evening before), at its own time.
                "day": format_day(day, language),
                "time": reading.at.strftime("%H:%M"),
                "next_day": day != reading.at.date(),
                "occasion": occasion.value,
                "values": [_r(v) for v in reading.values],
                "flags": reading_flags(reading, limits),
            }
        )
    panel: dict[str, Any] = {"x": [int(r.at.timestamp()) for r in chosen], "rows": rows}
    if kind == "bp":
        series: dict[str, list[float | None]] = {}
        for occasion in Occasion:
            mine = [occasion_of(r.at)[0] is occasion for r in chosen]
            series[f"{occasion.value}_sys"] = [
                _r(r.values[0]) if m else None for r, m in zip(chosen, mine, strict=True)
            ]
            series[f"{occasion.value}_dia"] = [
                _r(r.values[1]) if m else None for r, m in zip(chosen, mine, strict=True)
            ]
        panel["series"] = series
    else:
        panel["series"] = {"value": [_r(r.values[0]) for r in chosen]}
    panel["flagged"] = [bool(row["flags"]) for row in rows]
    return panel


@dataclass(frozen=True, slots=True)
class NightRate:
    """One night's heart ("sleep_hr") or breathing ("sleep_rr") rate in bed, from `$stats`."""

    kind: str
    night: date  # the day the night is filed under
    minimum: float
    maximum: float
    mean: float
    epochs: int


def night_windows(
    nights: Sequence[Night], days: Sequence[date], zone: tzinfo
) -> list[tuple[date, datetime, datetime]]:
    """The stretches of time [start, end) whose moments in bed are filed under each day.

    A moment within a night's summary is filed under the day the night began on, as
    `$stats` files the summary; any other (a night still going on, no summary yet)
    under the evening before it (`night_of`): noon to noon, less the summaries' hours.
    """
    spans = sorted((n.start, n.end) for n in nights if n.end > n.start)
    windows = [(start.date(), start, end) for start, end in spans if start.date() in days]
    for day in days:
        cursor = datetime.combine(day, time(12), tzinfo=zone)
        stop = cursor + timedelta(days=1)
        for start, end in spans:
            if end <= cursor or start >= stop:
                continue
            if start > cursor:
                windows.append((day, cursor, start))
            cursor = max(cursor, end)
        if cursor < stop:
            windows.append((day, cursor, stop))
    return sorted(windows)


def night_rates(found: Iterable[tuple[date, Sequence[DayStatistics]]]) -> list[NightRate]:
    """Per night and rate, the `$stats` days of each of its windows merged into one figure."""
    merged: dict[tuple[str, date], tuple[float, float, float, int]] = {}
    for night, days in found:
        for day in days:
            kind = {PULSE: "sleep_hr", RESPIRATION: "sleep_rr"}.get(day.code)
            if kind is None or not day.readings:
                continue
            low, high, total, count = merged.get((kind, night), (math.inf, -math.inf, 0.0, 0))
            merged[(kind, night)] = (
                min(low, day.minimum),
                max(high, day.maximum),
                total + day.mean * day.readings,
                count + day.readings,
            )
    return [
        NightRate(kind, night, low, high, total / count, count)
        for (kind, night), (low, high, total, count) in sorted(merged.items())
    ]


def _sleep_vitals_panel(
    rates: Sequence[NightRate],
    days: Sequence[date],
    noon: list[int],
    language: str,
) -> dict[str, Any]:
    """Each of the last 7 nights' heart and breathing rate in bed: min, max, mean, epochs.

    Only the last 7 days of the period: `$stats` in bed is asked for those nights only,
    and the page sends no year of nulls.
    """
    days, noon = days[-SUMMARY_DAYS:], noon[-SUMMARY_DAYS:]
    by_night = {(rate.kind, rate.night): rate for rate in rates}
    series: dict[str, list[Any]] = {}
    for kind, prefix in (("sleep_hr", "hr_"), ("sleep_rr", "rr_")):
        found = [by_night.get((kind, day)) for day in days]
        series[f"{prefix}min"] = [_r(f.minimum) if f else None for f in found]
        series[f"{prefix}max"] = [_r(f.maximum) if f else None for f in found]
        series[f"{prefix}mean"] = [_r(f.mean) if f else None for f in found]
        series[f"{prefix}count"] = [f.epochs if f else 0 for f in found]
    return {"x": noon, "labels": [format_day(day, language) for day in days], "series": series}


def _in_bed(nights: Sequence[Night], days: Sequence[date]) -> list[float | None]:
    """Minutes in bed per day (the nights that began on it, as `$stats` files time asleep)."""
    minutes: dict[date, float] = {}
    for night in nights:
        day = night.start.date()
        minutes[day] = minutes.get(day, 0.0) + night.in_bed_minutes
    return [_r(minutes[day]) if day in minutes else None for day in days]


def _alt(panel: Mapping[str, Any], kind: str, detail: str) -> dict[str, Any]:
    """The figures of a chart's text alternative: points drawn, lowest, highest, flagged.

    Points are readings (7 days) or days with figures (longer, and sleep); lowest and
    highest are of the diastolic and systolic for blood pressure.
    """
    series = panel["series"]
    if kind == "sleep":
        low_values = high_values = [v for v in series["asleep"] if v is not None]
    elif kind == "sleep_vitals":
        low_values = [v for k in ("rr_min", "hr_min") for v in series[k] if v is not None]
        high_values = [v for k in ("hr_max", "rr_max") for v in series[k] if v is not None]
        nights = [a or b for a, b in zip(series["hr_count"], series["rr_count"], strict=True)]
        return {
            "points": sum(1 for n in nights if n),
            "low": min(low_values, default=None),
            "high": max(high_values, default=None),
            "flagged": 0,
        }
    elif detail == "readings" and kind == "bp":
        low_values = [
            v for k, vs in series.items() if k.endswith("_dia") for v in vs if v is not None
        ]
        high_values = [
            v for k, vs in series.items() if k.endswith("_sys") for v in vs if v is not None
        ]
    elif detail == "readings":
        low_values = high_values = [v for v in series["value"] if v is not None]
    else:
        prefix = ("dia_", "sys_") if kind == "bp" else ("", "")
        low_values = [v for v in series[f"{prefix[0]}min"] if v is not None]
        high_values = [v for v in series[f"{prefix[1]}max"] if v is not None]
    return {
        "points": len(high_values),
        "low": min(low_values, default=None),
        "high": max(high_values, default=None),
        "flagged": sum(panel.get("flagged", ())),
    }


def chart_data(
    *,
    period: int,
    last: date,
    zone: tzinfo,
    zone_name: str,
    stats: Sequence[DayStatistics],
    readings: Sequence[Reading],
    language: str,
    thresholds: Mapping[str, float] | None = None,
    nights: Sequence[Night] = (),
    rates: Sequence[NightRate] = (),
) -> dict[str, Any]:
    """Everything the page's charts and tables show, as JSON-ready data.

    `stats` are the `$stats` days of the period; `readings` those of the last 7 days
    (the summary, and the charts when the period is 7 days); `nights` the sleep
    summaries of the period (time in bed); `rates` the heart and breathing rates in bed
    of the last 7 nights (`night_rates`). Every daily list has one entry per day of the
    period (the rates in bed: of its last 7), oldest first; a missing day is null (count 0).
    """
    if period not in PERIODS:
        raise ValueError(f"period {period} is not one of {PERIODS}")
    limits = thresholds_with(thresholds)
    days = period_days(period, last)
    daily = _Daily({(s.code, s.day): s for s in stats})
    noon = [_epoch(day, zone, time(12)) for day in days]
    detail = "readings" if period <= READINGS_UP_TO else "daily"
    data: dict[str, Any] = {
        "period": period,
        "detail": detail,
        "zone": zone_name,
        "start": _epoch(days[0], zone),
        "end": _epoch(last + timedelta(days=1), zone),
        "thresholds": limits,
        "days": {"x": noon, "labels": [format_day(day, language) for day in days]},
    }
    if detail == "readings":
        for kind in ("bp", "pulse", "spo2"):
            data[kind] = _readings_panel(readings, kind, language, limits)
    else:
        data["bp"] = {
            "x": noon,
            "series": {
                **_daily_panel(daily, (SYSTOLIC,), days, "sys_"),
                **_daily_panel(daily, (DIASTOLIC,), days, "dia_"),
            },
        }
        data["pulse"] = {"x": noon, "series": _daily_panel(daily, (PULSE,), days)}
        data["spo2"] = {"x": noon, "series": _daily_panel(daily, SPO2_CODES, days)}
    # Minutes per night: the day's total (a night is one Observation; a nap adds to it).
    sleep = {
        name: [_r(f.mean * f.readings) if (f := daily.get((code,), day)) else None for day in days]
        for name, code in (
            ("asleep", SLEEP_ASLEEP),
            ("deep", SLEEP_DEEP),
            ("light", SLEEP_LIGHT),
            ("rem", SLEEP_REM),
        )
    }
    sleep["in_bed"] = _in_bed(nights, days)
    week = sleep["asleep"][-SUMMARY_DAYS:]
    week_in_bed = sleep["in_bed"][-SUMMARY_DAYS:]
    data["sleep"] = {
        "x": noon,
        "series": sleep,
        "week_mean": _mean(v for v in week if v is not None),
        "week_nights": sum(v is not None for v in week),
        "week_in_bed": _mean(v for v in week_in_bed if v is not None),
    }
    data["sleep_vitals"] = _sleep_vitals_panel(rates, days, noon, language)
    for kind in ("bp", "pulse", "spo2", "sleep", "sleep_vitals"):
        data[kind]["alt"] = _alt(data[kind], kind, detail)
    measured = [
        daily.get((SYSTOLIC,), day) is not None or daily.get(SPO2_CODES, day) is not None
        for day in days
    ]
    data["adherence"] = {"measured": measured, "days": sum(measured), "of": len(days)}
    # For charts.js's strip: one character a day ("1": readings), 365 bytes for a year.
    data["adherence"]["strip"] = "".join("1" if m else "0" for m in measured)
    summary = summary_of(readings, last)
    data["summary"] = {
        "first": format_day(summary.first, language),
        "last": format_day(summary.last, language),
        **{
            name: {"systolic": m.systolic, "diastolic": m.diastolic, "days": m.days}
            for name, m in (
                ("morning", summary.morning),
                ("evening", summary.evening),
                ("average", summary.average),
                ("difference", summary.difference),
            )
        },
    }
    return data


def for_browser(data: Mapping[str, Any], flag_texts: Mapping[str, str]) -> dict[str, Any]:
    """What charts.js draws from `chart_data`: no table rows, labels or counts, one daily x.

    The page carries this in its JSON block; the tables carry the rest. A year of
    four panels is otherwise a third of the page's 300 KB. Each reading's flags come
    as one text (in `flag_texts`' language, "" for none), shown when the cursor is on it.
    """
    slim: dict[str, Any] = {
        key: data[key] for key in ("period", "detail", "zone", "start", "end", "thresholds")
    }
    slim["adherence"] = data["adherence"]["strip"]
    slim["days"] = data["days"]["x"]
    for kind in ("bp", "pulse", "spo2", "sleep", "sleep_vitals"):
        panel = data[kind]
        series = {k: v for k, v in panel["series"].items() if not k.endswith("count")}
        slim[kind] = {"series": series}
        if panel["x"] != data["days"]["x"]:
            slim[kind]["x"] = panel["x"]
        if "rows" in panel:
            slim[kind]["flags"] = [
                " ".join(f"⚠ {flag_texts.get(f, f)}" for f in row["flags"]) for row in panel["rows"]
            ]
    return slim

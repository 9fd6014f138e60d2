"""The printed 30-day summary's numbers (pure: no I/O, no clock).

The same rules as the patient page (charts.py), over a longer period: morning and
evening means by JSH home practice (each day's readings averaged first), days with
readings from `$stats` (a blood pressure or an SpO2 that day, as the page's adherence
strip), every reading with a flag (the device's or the thresholds'), and the average
time asleep over the nights that have a figure (a night without data is not a zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from fhir_api.storage.series.base import DayStatistics

from .charts import (
    SLEEP_ASLEEP,
    SPO2_CODES,
    SYSTOLIC,
    Reading,
    Summary,
    reading_flags,
    summary_over,
    thresholds_with,
)

__all__ = ["PRINT_DAYS", "Flagged", "PrintSummary", "print_summary"]

PRINT_DAYS = 30


@dataclass(frozen=True, slots=True)
class Flagged:
    """A reading with at least one flag."""

    reading: Reading
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PrintSummary:
    """What the printed page shows for `first`..`last` (the patient's local dates)."""

    first: date
    last: date
    blood_pressure: Summary
    days_measured: int
    days: int
    flagged: tuple[Flagged, ...]
    sleep_mean: float | None  # minutes asleep, mean over the nights with data
    sleep_nights: int
    thresholds: dict[str, float]


def print_summary(
    *,
    last: date,
    stats: Sequence[DayStatistics],
    readings: Sequence[Reading],
    thresholds: Mapping[str, float] | None = None,
    days: int = PRINT_DAYS,
) -> PrintSummary:
    """The summary of the `days` days ending with `last`.

    `stats` are the `$stats` days of the period, `readings` its charted readings;
    anything outside the period is ignored (an evening reading at 01:00 after the last
    day belongs to the last day, as on the patient page).
    """
    first = last - timedelta(days=days - 1)
    limits = thresholds_with(thresholds)
    in_period = [s for s in stats if first <= s.day <= last]
    measured = {s.day for s in in_period if s.readings and s.code in (SYSTOLIC, *SPO2_CODES)}
    nights: dict[date, float] = {}
    for s in in_period:
        if s.code == SLEEP_ASLEEP and s.readings and s.mean is not None:
            nights[s.day] = s.mean * s.readings  # the day's total (a nap adds to the night)
    flagged: list[Flagged] = []
    for reading in sorted(readings, key=lambda r: r.at):
        flags = reading_flags(reading, limits)
        # The bed sensor's epochs are not the spot readings this table lists.
        if flags and reading.kind in ("bp", "pulse", "spo2") and _counts(reading, first, last):
            flagged.append(Flagged(reading, tuple(flags)))
    sleep_mean = round(math.fsum(nights.values()) / len(nights), 1) if nights else None
    return PrintSummary(
        first=first,
        last=last,
        blood_pressure=summary_over(readings, first, last),
        days_measured=len(measured),
        days=days,
        flagged=tuple(flagged),
        sleep_mean=sleep_mean,
        sleep_nights=len(nights),
        thresholds=limits,
    )


def _counts(reading: Reading, first: date, last: date) -> bool:
    """A reading on a day of the period, or up to 01:59 after it (the last evening's)."""
    day = reading.at.date()
    if first <= day <= last:
        return True
    return day == last + timedelta(days=1) and reading.at.hour < 2

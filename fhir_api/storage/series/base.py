"""Series points from Observations, the store interface, and per-day statistics (pure parts).

A point is one numeric value of one Observation: its LOINC code (a component's
code for the blood-pressure panel), its subject, its effective time and unit.
Days are calendar days in the patient's time zone: the day arithmetic runs per
stretch of constant UTC offset, so a daylight-saving change splits a query
instead of shifting a day.

Values are kept in one unit per code (`units.py`), and a point is made for every
charted LOINC code the Observation's (or component's) code carries, so `$stats`
for 59408-5 finds the pulse oximeter's readings coded 2708-6 and 59408-5, as a
search does. Only instants in [1900-01-01, 2200-01-01) UTC are charted: local
days near year 1 or 9999 do not exist in every zone, and InfluxDB keeps
1677..2262 only (issue 10: a reading in year 0001 or 9999 made a transaction a
500). Such Observations are still stored and found by search.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection

from ...codes import LOINC, MDC, codings
from ...dates import parse_date_range, to_ms
from ...sampled_data import samples
from .in_bed import loinc_of, measured_in_bed, series_code
from .units import CHARTED, CHARTED_MDC, to_canonical

__all__ = [
    "DAY_MS",
    "EARLIEST_MS",
    "LATEST_MS",
    "DailyRow",
    "DayStatistics",
    "SeriesPoint",
    "SeriesStore",
    "constant_offset_segments",
    "daily_statistics",
    "merge_days",
    "series_points",
    "unit_of",
]

_LOGGER = logging.getLogger(__name__)

DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_STEP_MS = 7 * DAY_MS
_CODE_AND_DAY = operator.itemgetter(0, 1)  # DailyRow.code, DailyRow.day
_CHARTED_STATUSES = {"final", "amended", "corrected", "preliminary"}
EARLIEST_MS = to_ms(datetime(1900, 1, 1, tzinfo=UTC))  # the first instant charted
LATEST_MS = to_ms(datetime(2200, 1, 1, tzinfo=UTC))  # the first instant no longer charted


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One value of one Observation."""

    subject: str
    code: str  # the series key: a LOINC code, or `code@in-bed` (in_bed.py)
    ts_ms: int
    value: float
    unit: str
    observation_id: str
    # The Observation's resource key (`resources.key`), which the SQL series rows name it
    # by; 0 when the writer does not have it at hand (the SQL store looks it up).
    observation_key: int = 0


def _effective_ms(observation: dict[str, Any], zone: tzinfo) -> int | None:
    """The instant an Observation is charted at (its effective start), if it has one."""
    if "effectiveDateTime" in observation:
        text = observation["effectiveDateTime"]
    elif "effectivePeriod" in observation and observation["effectivePeriod"].get("start"):
        text = observation["effectivePeriod"]["start"]
    elif "effectiveInstant" in observation:
        text = observation["effectiveInstant"]
    else:
        return None
    try:
        return parse_date_range(text, zone).start_ms
    except (ValueError, OverflowError):  # year 9999's last day has no end in Python
        return None


def series_points(
    observation: dict[str, Any], observation_id: str, zone: tzinfo, key: int = 0
) -> list[SeriesPoint]:
    """The points an Observation contributes (none if it is not a charted numeric value).

    One point per charted LOINC code of the Observation's code (or a component's),
    in that code's canonical unit, and per sample of a SampledData (a night's epochs in
    one Observation: the same points as one Observation per epoch gave); a unit the code
    does not accept is not charted.
    A heart or breathing rate measured in bed goes to its own series (`in_bed.py`).
    `key`: the Observation's resource key, if the caller has it (0: looked up on write).
    """
    if observation.get("status") not in _CHARTED_STATUSES:
        return []
    subject = (observation.get("subject") or {}).get("reference")
    if not subject:
        return []
    ts = _effective_ms(observation, zone)
    if ts is None or not EARLIEST_MS <= ts < LATEST_MS:
        return []
    points = []
    in_bed = measured_in_bed(observation)
    for element in [observation, *observation.get("component", ())]:
        timed = _timed_values(element, ts)
        if not timed:
            continue
        unit, values = timed
        for code in _charted_codes(element.get("code")):
            series = series_code(code, in_bed)
            for at, number in values:
                canonical = to_canonical(code, number, unit)
                if canonical is None:
                    _LOGGER.debug(
                        "Observation/%s: %s in %r not charted", observation_id, code, unit
                    )
                    continue
                value, canonical_unit = canonical
                points.append(
                    SeriesPoint(subject, series, at, value, canonical_unit, observation_id, key)
                )
    return points


def _charted_codes(concept: Any) -> list[str]:
    """The charted LOINC codes of a code: its LOINC codings, else what its MDC ones chart as."""
    found = list(codings(concept))
    loinc = [code for system, code in found if system == LOINC and code in CHARTED]
    if not loinc:
        loinc = [
            CHARTED_MDC[code] for system, code in found if system == MDC and code in CHARTED_MDC
        ]
    return list(dict.fromkeys(loinc))


def _timed_values(element: dict[str, Any], ts: int) -> tuple[str, list[tuple[int, float]]] | None:
    """The unit and the (instant, value) pairs of an Observation's or component's value:
    one for a Quantity at `ts`, one per sample for a one-dimensional SampledData (sample
    i at ts + i x period; E, L and U samples have no value). None for anything else."""
    quantity = element.get("valueQuantity")
    if isinstance(quantity, dict) and quantity.get("value") is not None:
        try:
            number = float(quantity["value"])
        except (TypeError, ValueError, OverflowError):  # an integer beyond any float
            return None
        return str(quantity.get("code") or quantity.get("unit") or ""), [(ts, number)]
    sampled = element.get("valueSampledData")
    if not isinstance(sampled, dict) or (read := samples(sampled)) is None:
        return None
    period, values = read
    origin = sampled["origin"]
    unit = str(origin.get("code") or origin.get("unit") or "")
    timed = [(ts + round(i * period), v) for i, v in enumerate(values) if v is not None]
    return unit, [(at, v) for at, v in timed if at < LATEST_MS]


def unit_of(code: str) -> str:
    """The unit a charted code's values are kept and reported in."""
    return CHARTED[code][0]


class DailyRow(NamedTuple):
    """A backend's aggregate of one code over one local day (sum, not mean, so days merge)."""

    code: str
    day: int  # days since 1970-01-01 in local time
    minimum: float
    maximum: float
    total: float
    readings: int
    unit: str


class DayStatistics(NamedTuple):
    """The chart's figures for one code on one calendar day (a tuple: thousands per chart)."""

    code: str
    day: date
    minimum: float
    maximum: float
    mean: float
    readings: int
    unit: str


class SeriesStore(Protocol):
    """What every series backend provides."""

    in_resource_transaction: bool  # True: writes share the resource store's transaction

    def write(self, connection: Connection | None, points: Sequence[SeriesPoint]) -> None:
        """Store points (replacing any of the same observation, subject, code and time)."""

    def delete_observation(self, connection: Connection | None, observation_id: str) -> None:
        """Remove every point of an Observation."""

    def daily(
        self, subject: str, codes: Sequence[str], start_ms: int, end_ms: int, offset_ms: int
    ) -> list[DailyRow]:
        """Per-day aggregates over [start, end), days starting at local midnight = UTC - offset."""

    def daily_rollup(
        self, subject: str, codes: Sequence[str], start_ms: int, end_ms: int, zone: tzinfo
    ) -> list[DailyRow] | None:
        """Per-day aggregates from precomputed days, or None when there are none for this."""

    def clear(self) -> None:
        """Remove every point (before a reindex)."""

    def close(self) -> None:
        """Release connections."""


def constant_offset_segments(
    start_ms: int, end_ms: int, zone: tzinfo
) -> list[tuple[int, int, int]]:
    """Split [start, end) where the zone's UTC offset changes: (start, end, offset_ms) each."""
    segments: list[tuple[int, int, int]] = []
    cursor = start_ms
    while cursor < end_ms:
        offset = _offset_ms(cursor, zone)
        # Walk a week at a time to the next change of offset (no zone keeps an offset for
        # less than a week), then bisect to the millisecond.
        probe = cursor
        while probe < end_ms and _offset_ms(probe, zone) == offset:
            probe += _STEP_MS
        if probe >= end_ms and _offset_ms(end_ms - 1, zone) == offset:
            segments.append((cursor, end_ms, offset))
            break
        probe = min(probe, end_ms - 1)
        low, high = max(cursor, probe - _STEP_MS), probe  # the change lies in (low, high]
        while high - low > 1:
            middle = (low + high) // 2
            if _offset_ms(middle, zone) == offset:
                low = middle
            else:
                high = middle
        segments.append((cursor, high, offset))
        cursor = high
    return segments


def _offset_ms(ts_ms: int, zone: tzinfo) -> int:
    moment = datetime.fromtimestamp(ts_ms / 1000, zone)
    offset = moment.utcoffset() or timedelta(0)
    return int(offset.total_seconds() * 1000)


def _midnight_before(ts_ms: int, zone: tzinfo) -> int:
    """Epoch milliseconds of the local midnight that starts the day of `ts_ms` in `zone`."""
    moment = datetime.fromtimestamp(ts_ms / 1000, zone)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return to_ms(midnight)


def daily_statistics(
    store: SeriesStore, subject: str, codes: Sequence[str], start_ms: int, end_ms: int, zone: tzinfo
) -> list[DayStatistics]:
    """Per-day min, max, mean and count in `zone`, sorted by code and day.

    The range is cut to the instants that are charted ([EARLIEST_MS, LATEST_MS)):
    there are no points outside, and near year 1 or 9999 local days overflow.
    """
    if start_ms < EARLIEST_MS:  # from the local midnight of the first charted day
        start_ms = _midnight_before(EARLIEST_MS, zone)
    if end_ms > LATEST_MS:  # to the local midnight after the last charted day
        end_ms = _midnight_before(LATEST_MS - 1, zone) + DAY_MS
    if end_ms <= start_ms:
        return []
    rows = store.daily_rollup(subject, codes, start_ms, end_ms, zone)
    if rows is None:
        segments = constant_offset_segments(start_ms, end_ms, zone)
        rows = []
        for seg_start, seg_end, offset in segments:
            rows.extend(store.daily(subject, codes, seg_start, seg_end, offset))
        if len(segments) > 1:
            rows = merge_days(rows)
        rows.sort(key=_CODE_AND_DAY)
    # One pass with local names, one date object per day and tuple.__new__ (not the
    # NamedTuple's Python-level constructor): five years of four codes is 7,300 rows,
    # and this loop was a third of the request (bench/query.py).
    from_ordinal, isfinite, new = date.fromordinal, math.isfinite, tuple.__new__
    dates: dict[int, date] = {}
    days = []
    for code, day, minimum, maximum, total, readings, stored_unit in rows:
        mean = total / readings if readings else math.nan
        if not (isfinite(mean) and isfinite(minimum) and isfinite(maximum)):
            # Only rows from before issue 10's fix can hold such values; the reindex
            # (migration 0004) rebuilds them without. FHIR decimals cannot be inf or NaN.
            _LOGGER.warning("%s %s day %s has no finite mean; left out", subject, code, day)
            continue
        when = dates.get(day)
        if when is None:
            when = dates[day] = from_ordinal(_EPOCH_ORDINAL + day)
        charted = CHARTED.get(loinc_of(code))  # one unit per code
        unit = charted[0] if charted is not None else stored_unit
        if mean < minimum:  # rounding cannot leave [min, max]
            mean = minimum
        if mean > maximum:
            mean = maximum
        days.append(new(DayStatistics, (code, when, minimum, maximum, mean, readings, unit)))
    return days


def merge_days(rows: list[DailyRow]) -> list[DailyRow]:
    """Join the halves of a day that a change of UTC offset split between two segments."""
    merged: dict[tuple[str, int], DailyRow] = {}
    for row in rows:
        key = (row.code, row.day)
        old = merged.get(key)
        if old is None:
            merged[key] = row
        else:
            merged[key] = DailyRow(
                row.code,
                row.day,
                min(old.minimum, row.minimum),
                max(old.maximum, row.maximum),
                old.total + row.total,
                old.readings + row.readings,
                row.unit or old.unit,
            )
    return list(merged.values())

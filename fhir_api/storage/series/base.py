"""Series points from Observations, the store interface, and per-day statistics (pure parts).

A point is one numeric value of one Observation: its LOINC code (a component's
code for the blood-pressure panel), its subject, its effective time and unit.
Days are calendar days in the patient's time zone: the day arithmetic runs per
stretch of constant UTC offset, so a daylight-saving change splits a query
instead of shifting a day.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection

from ...dates import parse_date_range

__all__ = [
    "DAY_MS",
    "DailyRow",
    "DayStatistics",
    "SeriesPoint",
    "SeriesStore",
    "constant_offset_segments",
    "daily_statistics",
    "merge_days",
    "series_points",
]

DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_STEP_MS = 7 * DAY_MS
LOINC = "http://loinc.org"
_CODE_AND_DAY = operator.itemgetter(0, 1)  # DailyRow.code, DailyRow.day
_CHARTED_STATUSES = {"final", "amended", "corrected", "preliminary"}


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One value of one Observation."""

    subject: str
    code: str
    ts_ms: int
    value: float
    unit: str
    observation_id: str


def _code(concept: Any) -> str | None:
    codings = [c for c in concept.get("coding", ()) if isinstance(c, dict) and c.get("code")]
    for coding in codings:
        if coding.get("system") == LOINC:
            return str(coding["code"])
    return str(codings[0]["code"]) if codings else None


def series_points(
    observation: dict[str, Any], observation_id: str, zone: tzinfo
) -> list[SeriesPoint]:
    """The points an Observation contributes (none if it is not a charted numeric value)."""
    if observation.get("status") not in _CHARTED_STATUSES:
        return []
    subject = (observation.get("subject") or {}).get("reference")
    if not subject:
        return []
    if "effectiveDateTime" in observation:
        ts = parse_date_range(observation["effectiveDateTime"], zone).start_ms
    elif "effectivePeriod" in observation and observation["effectivePeriod"].get("start"):
        ts = parse_date_range(observation["effectivePeriod"]["start"], zone).start_ms
    elif "effectiveInstant" in observation:
        ts = parse_date_range(observation["effectiveInstant"], zone).start_ms
    else:
        return []
    points = []
    for element in [observation, *observation.get("component", ())]:
        quantity = element.get("valueQuantity")
        code = _code(element.get("code") or {})
        if not isinstance(quantity, dict) or quantity.get("value") is None or code is None:
            continue
        unit = str(quantity.get("code") or quantity.get("unit") or "")
        points.append(
            SeriesPoint(subject, code, ts, float(quantity["value"]), unit, observation_id)
        )
    return points


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


def daily_statistics(
    store: SeriesStore, subject: str, codes: Sequence[str], start_ms: int, end_ms: int, zone: tzinfo
) -> list[DayStatistics]:
    """Per-day min, max, mean and count in `zone`, sorted by code and day."""
    rows = store.daily_rollup(subject, codes, start_ms, end_ms, zone)
    if rows is None:
        segments = constant_offset_segments(start_ms, end_ms, zone)
        rows = []
        for seg_start, seg_end, offset in segments:
            rows.extend(store.daily(subject, codes, seg_start, seg_end, offset))
        if len(segments) > 1:
            rows = merge_days(rows)
        rows.sort(key=_CODE_AND_DAY)
    from_ordinal = date.fromordinal
    return [
        DayStatistics(
            r.code,
            from_ordinal(_EPOCH_ORDINAL + r.day),
            r.minimum,
            r.maximum,
            r.total / r.readings,
            r.readings,
            r.unit,
        )
        for r in rows
    ]


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

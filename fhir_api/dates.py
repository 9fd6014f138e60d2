"""FHIR dates and date search values as half-open ranges of epoch milliseconds.

A FHIR date has a precision: `2024`, `2024-11`, `2024-11-27`, or a dateTime to
the second (or beyond). As a range it covers its whole precision: `2024-11` is
[2024-11-01T00:00, 2024-12-01T00:00) in the given zone. Times without an offset
(only allowed in search values) are read in the patient's zone.

Two clocks: *instants* (epoch milliseconds, UTC) and *wall clock* (the local
date and time in a zone, counted in milliseconds as if that zone were UTC). A
patient's day is a wall-clock range, so a date search without an offset compares
wall clocks in the patient's zone (fhir_api/storage/search.py).

Everything is integer arithmetic on day ordinals, never `datetime.timestamp()`:
the years 0001 and 9999 are valid FHIR, and `datetime` overflows at their edges
(the end of 9999-12-31 is year 10000; 0001-01-01T00:00+14:00 is year 0 in UTC).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "TIMEZONE_EXTENSION",
    "DateRange",
    "DateValue",
    "instants",
    "parse_date",
    "parse_date_range",
    "patient_zone_name",
    "to_ms",
    "wall_clock",
    "wall_or_instants",
    "zone_named",
]

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/tz-code"

_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1).toordinal()
# Offsets are looked up on these days at the latest/earliest; both are far from any zone rule.
_FIRST = datetime(1, 1, 2, tzinfo=UTC)
_LAST = datetime(9999, 12, 30, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DateRange:
    """[start_ms, end_ms): the instants (or wall-clock times) a date value covers."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class DateValue:
    """A parsed FHIR date: its wall-clock range, and its offset if it names one."""

    wall: DateRange
    offset_ms: int | None  # None: no zone in the text (a date, or a search value's time)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of a zone-aware datetime."""
    return int(moment.timestamp() * 1000)


def _wall_ms(day: date, ms_of_day: int = 0) -> int:
    return (day.toordinal() - _EPOCH) * _DAY_MS + ms_of_day


def _offset(text: str) -> int:
    if text == "Z":
        return 0
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(f"{text!r} is not a time zone offset")
    return (1 if text[0] == "+" else -1) * (hours * 3600 + minutes * 60) * 1000


def parse_date(text: str) -> DateValue:
    """Parse a FHIR date, dateTime or instant (or a search value, whose time may lack a zone).

    Raises:
        ValueError: for text that is not a FHIR date (month 13, hour 24, ...).
    """
    match = _DATE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a FHIR date")
    parts = match.groupdict()
    year = int(parts["year"])
    if year < 1:
        raise ValueError(f"{text!r}: there is no year 0")
    if parts["month"] is None:
        start = _wall_ms(date(year, 1, 1))
        return DateValue(
            DateRange(start, start + (366 if calendar.isleap(year) else 365) * _DAY_MS), None
        )
    month = int(parts["month"])
    if parts["day"] is None:
        start = _wall_ms(date(year, month, 1))
        return DateValue(
            DateRange(start, start + calendar.monthrange(year, month)[1] * _DAY_MS), None
        )
    day = date(year, month, int(parts["day"]))
    if parts["hour"] is None:
        start = _wall_ms(day)
        return DateValue(DateRange(start, start + _DAY_MS), None)
    hour, minute = int(parts["hour"]), int(parts["minute"])
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: no such time of day")
    start = _wall_ms(day, (hour * 60 + minute) * 60_000)
    length = 60_000
    if parts["second"] is not None:
        second = int(parts["second"])
        if second > 59:
            raise ValueError(f"{text!r}: no such time of day")
        start += second * 1000
        length = 1000
        if parts["fraction"]:
            start += int(parts["fraction"][1:4].ljust(3, "0"))
            length = 1
    offset = _offset(parts["zone"]) if parts["zone"] else None
    return DateValue(DateRange(start, start + length), offset)


def _clamped(wall_ms: int) -> datetime:
    """Milliseconds as a datetime (UTC) to look offsets up at, held inside datetime's years."""
    if wall_ms <= _wall_ms(_FIRST.date()):
        return _FIRST
    if wall_ms >= _wall_ms(_LAST.date()):
        return _LAST
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=wall_ms)


def _wall_to_instant(wall_ms: int, zone: tzinfo) -> int:
    """The instant a wall-clock time names in `zone` (the earlier one in a DST overlap)."""
    offset = _clamped(wall_ms).replace(tzinfo=zone).utcoffset() or timedelta()
    return wall_ms - int(offset.total_seconds() * 1000)


def _instant_to_wall(instant_ms: int, zone: tzinfo) -> int:
    """The wall-clock time in `zone` at an instant."""
    local = _clamped(instant_ms).astimezone(zone)
    offset = local.utcoffset() or timedelta()
    return instant_ms + int(offset.total_seconds() * 1000)


def instants(value: DateValue, zone: tzinfo) -> DateRange:
    """The instants a date covers; a date without an offset is read in `zone`."""
    if value.offset_ms is not None:
        return DateRange(value.wall.start_ms - value.offset_ms, value.wall.end_ms - value.offset_ms)
    return DateRange(
        _wall_to_instant(value.wall.start_ms, zone), _wall_to_instant(value.wall.end_ms, zone)
    )


def wall_clock(value: DateValue, zone: tzinfo) -> DateRange:
    """The wall-clock range a date covers in `zone` (a date without an offset: as written)."""
    if value.offset_ms is None:
        return value.wall
    span = instants(value, zone)
    return DateRange(_instant_to_wall(span.start_ms, zone), _instant_to_wall(span.end_ms, zone))


def parse_date_range(text: str, default_zone: tzinfo) -> DateRange:
    """The instants a FHIR date, dateTime or instant (or a search value) covers.

    Raises:
        ValueError: for text that is not a FHIR date.
    """
    return instants(parse_date(text), default_zone)


def wall_or_instants(
    value: DateValue, zone: tzinfo, *, floating: bool | None = None
) -> tuple[DateRange, bool]:
    """How the index stores a date: (wall-clock range, True) when it floats, else (instants, False).

    A date floats when it names no offset (unless `floating` says otherwise): its
    day is the same calendar day in any zone, and the search applies the patient's.
    """
    if floating is None:
        floating = value.offset_ms is None
    return (value.wall, True) if floating else (instants(value, zone), False)


def patient_zone_name(patient: dict[str, Any]) -> str | None:
    """The valid IANA name in a Patient's tz-code extension, if any."""
    extensions = patient.get("extension")
    for extension in extensions if isinstance(extensions, list) else ():
        if isinstance(extension, dict) and extension.get("url") == TIMEZONE_EXTENSION:
            name = extension.get("valueCode")
            if isinstance(name, str) and zone_named(name) is not None:
                return name
    return None


@lru_cache(maxsize=1024)
def zone_named(name: str) -> tzinfo | None:
    """The IANA zone of that name, None when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None

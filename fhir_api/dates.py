"""FHIR dates and date search values as half-open ranges of epoch milliseconds.

A FHIR date has a precision: `2024`, `2024-11`, `2024-11-27`, or a dateTime to
the second (or beyond). As a range it covers its whole precision: `2024-11` is
[2024-11-01T00:00, 2024-12-01T00:00) in the given zone. Times without an offset
(only allowed in search values) are read in the patient's zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ["DateRange", "parse_date_range", "to_ms"]

_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True, slots=True)
class DateRange:
    """[start_ms, end_ms): the instants a date value covers."""

    start_ms: int
    end_ms: int


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of a zone-aware datetime."""
    return int(moment.timestamp() * 1000)


def _zone(text: str | None, default: tzinfo) -> tzinfo:
    if text is None:
        return default
    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    from datetime import timezone

    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_date_range(text: str, default_zone: tzinfo) -> DateRange:
    """The range a FHIR date, dateTime or instant (or a search value) covers.

    Raises:
        ValueError: for text that is not a FHIR date.
    """
    match = _DATE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a FHIR date")
    parts = match.groupdict()
    zone = _zone(parts["zone"], default_zone)
    year = int(parts["year"])
    if parts["month"] is None:
        start = datetime(year, 1, 1, tzinfo=zone)
        end = datetime(year + 1, 1, 1, tzinfo=zone)
    elif parts["day"] is None:
        month = int(parts["month"])
        start = datetime(year, month, 1, tzinfo=zone)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    else:
        day = datetime(year, int(parts["month"]), int(parts["day"]), tzinfo=zone)
        if parts["hour"] is None:
            start, end = day, day + timedelta(days=1)
        else:
            start = day.replace(hour=int(parts["hour"]), minute=int(parts["minute"]))
            if parts["second"] is None:
                end = start + timedelta(minutes=1)
            else:
                start = start.replace(second=int(parts["second"]))
                if parts["fraction"]:
                    start = start.replace(microsecond=int(float(parts["fraction"]) * 1_000_000))
                    end = start + timedelta(milliseconds=1)
                else:
                    end = start + timedelta(seconds=1)
    return DateRange(to_ms(start), to_ms(end))

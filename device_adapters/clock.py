"""Device clocks: Date Time 0x2A08 and Current Time 0x2A2B, decoded and encoded.

Date Time (7 bytes): year uint16 (0 unknown), month, day (0 unknown), hours,
minutes, seconds. It carries no time zone: devices keep the local wall-clock
time of the home. Current Time (10 bytes) adds day of week (1 Monday ... 7
Sunday, 0 unknown), Fractions256 and Adjust Reason (CTS 1.1 section 3.1).
"""

from __future__ import annotations

import struct
from datetime import datetime

from ._fields import DATE_TIME, date_time_at, need
from .readings import AdjustReason, CurrentTime, DateTimeValue
from .uuids import CURRENT_TIME
from .uuids import DATE_TIME as DATE_TIME_UUID
from .uuids import label as _label

__all__ = ["encode_current_time", "encode_date_time", "parse_current_time", "parse_date_time"]

_DT = _label(DATE_TIME_UUID)
_CT = _label(CURRENT_TIME)
_CT_TAIL = struct.Struct("<BBB")  # day of week, fractions256, adjust reason
_ADJUST_REASON_MASK = 0x0F


def parse_date_time(data: bytes) -> DateTimeValue:
    """Decode Date Time 0x2A08; an unset or impossible date gives `device_time=None`.

    Raises:
        MalformedPayload: when fewer than 7 bytes arrive.
    """
    need(data, 0, 7, _DT, "date time")
    device_time = date_time_at(data, 0)
    return DateTimeValue(device_time, device_time is None)


def parse_current_time(data: bytes) -> CurrentTime:
    """Decode Current Time 0x2A2B.

    Raises:
        MalformedPayload: when fewer than 10 bytes arrive.
    """
    need(data, 0, 10, _CT, "current time")
    device_time = date_time_at(data, 0)
    day_of_week, fractions, reason = _CT_TAIL.unpack_from(data, 7)
    return CurrentTime(
        device_time,
        day_of_week if 1 <= day_of_week <= 7 else None,
        fractions,
        AdjustReason(reason & _ADJUST_REASON_MASK),
        device_time is None,
    )


def encode_date_time(wall_clock: datetime) -> bytes:
    """Encode the wall-clock fields of `wall_clock` as Date Time, to set a device clock.

    Pass the home's local time: the device has no notion of a time zone.

    Raises:
        ValueError: for a year outside 1582-9999.
    """
    if not 1582 <= wall_clock.year <= 9999:
        raise ValueError(f"year {wall_clock.year} cannot be sent as a Bluetooth DateTime")
    return DATE_TIME.pack(
        wall_clock.year,
        wall_clock.month,
        wall_clock.day,
        wall_clock.hour,
        wall_clock.minute,
        wall_clock.second,
    )


def encode_current_time(
    wall_clock: datetime,
    adjust_reason: AdjustReason = AdjustReason.EXTERNAL_REFERENCE_TIME_UPDATE,
) -> bytes:
    """Encode Current Time (for a CTS write), with Fractions256 from the microseconds."""
    fractions = wall_clock.microsecond * 256 // 1_000_000
    return encode_date_time(wall_clock) + _CT_TAIL.pack(
        wall_clock.isoweekday(), fractions, int(adjust_reason)
    )

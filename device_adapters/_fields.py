"""Byte-level helpers shared by the parsers: bounds checks and DateTime.

Every length check names the field and its offset, so a `MalformedPayload`
says exactly where a payload went wrong.
"""

from __future__ import annotations

import struct
from datetime import datetime

from .errors import MalformedPayload

__all__ = [
    "DATE_TIME",
    "SINT16",
    "UINT16",
    "UINT24_LOW",
    "UINT32",
    "date_time_at",
    "need",
    "need_head",
]

UINT16 = struct.Struct("<H")
SINT16 = struct.Struct("<h")
UINT32 = struct.Struct("<I")
# A uint24 is read as uint16 + uint8 (struct has no 3-byte format).
UINT24_LOW = struct.Struct("<HB")
# Date Time 0x2A08: year uint16 (0 = unknown), month, day (0 = unknown), hours, minutes, seconds.
DATE_TIME = struct.Struct("<HBBBBB")


def need(data: bytes, offset: int, size: int, characteristic: str, field: str) -> None:
    """Raise `MalformedPayload` unless `size` bytes of `field` follow `offset`."""
    if len(data) < offset + size:
        left = max(0, len(data) - offset)
        raise MalformedPayload(
            characteristic,
            offset,
            data,
            f"{field} needs {size} bytes but {left} remain (payload is {len(data)} bytes)",
        )


def date_time_at(data: bytes, offset: int) -> datetime | None:
    """Decode a 7-byte DateTime at `offset`; None when unset or not a real date.

    The result has no time zone: it is what the device clock said. The caller has
    checked the length.
    """
    year, month, day, hour, minute, second = DATE_TIME.unpack_from(data, offset)
    if year < 1582 or month == 0 or day == 0:  # 0 means "not known" (GSS DateTime)
        return None
    try:
        return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - device time has no zone
    except ValueError:  # month 13, 30 February, hour 24 ...
        return None


def need_head(data: bytes, size: int, characteristic: str, field: str) -> None:
    """Check a flags byte plus the `size - 1` mandatory bytes of `field` after it."""
    if not data:
        raise MalformedPayload(characteristic, 0, data, "flags byte missing (empty payload)")
    need(data, 1, size - 1, characteristic, field)

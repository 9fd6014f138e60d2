"""What emulated devices send: readings encoded per the SIG layouts (device_adapters, inverted)."""

from __future__ import annotations

import struct
from datetime import datetime

__all__ = ["blood_pressure_measurement", "date_time", "plx_spot_check", "sfloat"]

_NAN = 0x07FF


def sfloat(value: float | None, decimals: int = 0) -> bytes:
    """An IEEE 11073 SFLOAT; None is NaN."""
    if value is None:
        return struct.pack("<H", _NAN)
    mantissa = round(value * 10**decimals)
    if not -2048 < mantissa < 2046:
        raise ValueError(f"{value} does not fit an SFLOAT at {decimals} decimals")
    return struct.pack("<H", ((-decimals & 0xF) << 12) | (mantissa & 0x0FFF))


def date_time(moment: datetime | None) -> bytes:
    """A Date Time field; None is the unset clock (all zero)."""
    if moment is None:
        return bytes(7)
    return struct.pack(
        "<HBBBBB", moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second
    )


def blood_pressure_measurement(
    systolic: float | None,
    diastolic: float | None,
    mean: float | None,
    *,
    stamp: datetime | bool | None = False,
    pulse: float | None = None,
    user: int | None = None,
    status: int | None = None,
) -> bytes:
    """Blood Pressure Measurement 0x2A35 in mmHg (`stamp=None` sends an unset clock)."""
    flags = 0
    tail = b""
    if stamp is not False:
        flags |= 0x02
        tail += date_time(stamp if isinstance(stamp, datetime) else None)
    if pulse is not None:
        flags |= 0x04
        tail += sfloat(pulse)
    if user is not None:
        flags |= 0x08
        tail += bytes([user])
    if status is not None:
        flags |= 0x10
        tail += struct.pack("<H", status)
    return bytes([flags]) + sfloat(systolic) + sfloat(diastolic) + sfloat(mean) + tail


def plx_spot_check(
    spo2: float | None,
    pulse: float | None,
    *,
    stamp: datetime | bool | None = False,
    status: int | None = None,
) -> bytes:
    """PLX Spot-check Measurement 0x2A5E (`stamp=None` sends an unset clock)."""
    flags = 0
    tail = b""
    if stamp is not False:
        flags |= 0x01
        tail += date_time(stamp if isinstance(stamp, datetime) else None)
    if status is not None:
        flags |= 0x02
        tail += struct.pack("<H", status)
    return bytes([flags]) + sfloat(spo2) + sfloat(pulse) + tail

"""What emulated devices send: readings encoded per the SIG layouts (device_adapters, inverted)."""

from __future__ import annotations

import struct
from datetime import datetime

__all__ = [
    "blood_pressure_measurement",
    "date_time",
    "heart_rate",
    "plx_continuous",
    "plx_spot_check",
    "sfloat",
    "sleep_epoch",
    "temperature",
    "weight",
]

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


def _float32(value: float | None, decimals: int = 2) -> bytes:
    """An IEEE 11073 FLOAT; None is NaN."""
    if value is None:
        return struct.pack("<I", 0x007FFFFF)
    mantissa = round(value * 10**decimals)
    return struct.pack("<I", ((-decimals & 0xFF) << 24) | (mantissa & 0x00FFFFFF))


def temperature(celsius: float | None, *, stamp: datetime | None, site: int = 1) -> bytes:
    """Temperature Measurement 0x2A1C in Cel with time stamp and type (1 armpit)."""
    return bytes([0x06]) + _float32(celsius) + date_time(stamp) + bytes([site])


def weight(kilograms: float | None, *, stamp: datetime | None, user: int | None = None) -> bytes:
    """Weight Measurement 0x2A9D in kg (0.005 kg steps; None is 'unsuccessful')."""
    raw = 0xFFFF if kilograms is None else round(kilograms * 200)
    flags = 0x02 | (0x04 if user is not None else 0)
    tail = date_time(stamp) + (bytes([user]) if user is not None else b"")
    return bytes([flags]) + struct.pack("<H", raw) + tail


def sleep_epoch(
    sequence: int,
    start: datetime | None,
    duration_s: int,
    stage: int,
    *,
    heart_rate: float | None = None,
    respiration: float | None = None,
    movement: int | None = None,
    clock_not_set: bool = False,
) -> bytes:
    """A HomeVitals open-profile Sleep Epoch Record."""
    flags = 0x08 if clock_not_set else 0
    tail = b""
    if heart_rate is not None:
        flags |= 0x01
        tail += sfloat(heart_rate)
    if respiration is not None:
        flags |= 0x02
        tail += sfloat(respiration, 1)
    if movement is not None:
        flags |= 0x04
        tail += struct.pack("<H", movement)
    return (
        bytes([flags])
        + struct.pack("<H", sequence)
        + date_time(start)
        + struct.pack("<HB", duration_s, stage)
        + tail
    )


def plx_continuous(spo2: float | None, pulse: float | None) -> bytes:
    """PLX Continuous Measurement 0x2A5F (no optional fields)."""
    return bytes([0]) + sfloat(spo2) + sfloat(pulse)


def heart_rate(bpm: int, rr_intervals: tuple[int, ...] = ()) -> bytes:
    """Heart Rate Measurement 0x2A37: uint8 value, contact detected, RR in 1/1024 s."""
    flags = 0x06 | (0x10 if rr_intervals else 0)
    return bytes([flags, bpm]) + b"".join(struct.pack("<H", rr) for rr in rr_intervals)

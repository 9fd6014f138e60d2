"""Test-only encoders: readings back to the bytes a device would send.

They are written from the specifications independently of the parsers (no
shared helper), so a round trip checks the parsers against a second reading of
the spec.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta
from decimal import Decimal

import device_adapters as da
from device_adapters import AbsentReason, Quantity, Unit

_SFLOAT_SPECIAL = {
    AbsentReason.NOT_A_NUMBER: 0x07FF,
    AbsentReason.ERROR: 0x0800,
    AbsentReason.POSITIVE_INFINITY: 0x07FE,
    AbsentReason.NEGATIVE_INFINITY: 0x0802,
}
_FLOAT_SPECIAL = {
    AbsentReason.NOT_A_NUMBER: 0x007FFFFF,
    AbsentReason.ERROR: 0x00800000,
    AbsentReason.POSITIVE_INFINITY: 0x007FFFFE,
    AbsentReason.NEGATIVE_INFINITY: 0x00800002,
}


def _mantissa(q: Quantity) -> int:
    assert q.value is not None
    scaled = Decimal(repr(q.value)).scaleb(-q.exponent)
    mantissa = int(scaled.to_integral_value())
    assert mantissa == scaled, f"{q} is not a whole mantissa at exponent {q.exponent}"
    return mantissa


def sfloat(q: Quantity) -> bytes:
    if q.absent_reason is not None:
        raw = _SFLOAT_SPECIAL[q.absent_reason]
    else:
        raw = ((q.exponent & 0xF) << 12) | (_mantissa(q) & 0x0FFF)
    return struct.pack("<H", raw)


def float32(q: Quantity) -> bytes:
    if q.absent_reason is not None:
        raw = _FLOAT_SPECIAL[q.absent_reason]
    else:
        raw = ((q.exponent & 0xFF) << 24) | (_mantissa(q) & 0x00FFFFFF)
    return struct.pack("<I", raw)


def date_time(t: datetime | None) -> bytes:
    if t is None:
        return bytes(7)  # year 0, month 0, day 0: "not known"
    return struct.pack("<HBBBBB", t.year, t.month, t.day, t.hour, t.minute, t.second)


def _bp_status(
    status: da.BloodPressureStatus | None, pulse_range: da.PulseRateRange | None
) -> bytes:
    assert status is not None
    bits = int(status) | ((0b11 if pulse_range is None else int(pulse_range)) << 3)
    return struct.pack("<H", bits)


def _bp_tail(r: da.BloodPressureMeasurement | da.IntermediateCuffPressure, flags: int) -> bytes:
    out = b""
    if flags & 0x02:
        out += date_time(r.device_time)
    if flags & 0x04:
        assert r.pulse_rate is not None
        out += sfloat(r.pulse_rate)
    if flags & 0x08:
        out += bytes([0xFF if r.user_id is None else r.user_id])
    if flags & 0x10:
        out += _bp_status(r.measurement_status, r.pulse_rate_range)
    return out


def blood_pressure_measurement(r: da.BloodPressureMeasurement, flags: int) -> bytes:
    unit_bit = 1 if r.systolic.unit is Unit.KPA else 0
    flags = (flags & 0x1E) | unit_bit
    head = bytes([flags]) + sfloat(r.systolic) + sfloat(r.diastolic)
    return head + sfloat(r.mean_arterial_pressure) + _bp_tail(r, flags)


def intermediate_cuff_pressure(r: da.IntermediateCuffPressure, flags: int) -> bytes:
    flags = (flags & 0x1E) | (1 if r.cuff_pressure.unit is Unit.KPA else 0)
    return bytes([flags]) + sfloat(r.cuff_pressure) + b"\xff\x07\xff\x07" + _bp_tail(r, flags)


def plx_spot_check(r: da.PlxSpotCheckMeasurement, flags: int) -> bytes:
    out = bytes([flags]) + sfloat(r.spo2) + sfloat(r.pulse_rate)
    if flags & 0x01:
        out += date_time(r.device_time)
    if flags & 0x02:
        out += struct.pack("<H", int(r.measurement_status or 0))
    if flags & 0x04:
        out += int(r.device_sensor_status or 0).to_bytes(3, "little")
    if flags & 0x08:
        assert r.pulse_amplitude_index is not None
        out += sfloat(r.pulse_amplitude_index)
    return out


def plx_continuous(r: da.PlxContinuousMeasurement, flags: int) -> bytes:
    out = bytes([flags]) + sfloat(r.spo2) + sfloat(r.pulse_rate)
    if flags & 0x01:
        assert r.spo2_fast is not None and r.pulse_rate_fast is not None
        out += sfloat(r.spo2_fast) + sfloat(r.pulse_rate_fast)
    if flags & 0x02:
        assert r.spo2_slow is not None and r.pulse_rate_slow is not None
        out += sfloat(r.spo2_slow) + sfloat(r.pulse_rate_slow)
    if flags & 0x04:
        out += struct.pack("<H", int(r.measurement_status or 0))
    if flags & 0x08:
        out += int(r.device_sensor_status or 0).to_bytes(3, "little")
    if flags & 0x10:
        assert r.pulse_amplitude_index is not None
        out += sfloat(r.pulse_amplitude_index)
    return out


def heart_rate(r: da.HeartRateMeasurement, wide: bool) -> bytes:
    contact = {
        da.SensorContact.NOT_SUPPORTED: 0,
        da.SensorContact.NOT_DETECTED: 2,
        da.SensorContact.DETECTED: 3,
    }[r.sensor_contact]
    flags = int(wide) | (contact << 1)
    flags |= 0x08 if r.energy_expended is not None else 0
    flags |= 0x10 if r.rr_intervals else 0
    assert r.heart_rate.value is not None
    value = int(r.heart_rate.value)
    out = bytes([flags]) + (struct.pack("<H", value) if wide else bytes([value]))
    if r.energy_expended is not None:
        assert r.energy_expended.value is not None
        out += struct.pack("<H", int(r.energy_expended.value))
    for rr in r.rr_intervals:
        assert rr.value is not None
        out += struct.pack("<H", round(rr.value * 1024))
    return out


_TEMPERATURE_TYPES = {t: int(t) for t in da.TemperatureType}


def temperature(r: da.TemperatureMeasurement, flags: int) -> bytes:
    flags = (flags & 0x06) | (1 if r.temperature.unit is Unit.FAHRENHEIT else 0)
    out = bytes([flags]) + float32(r.temperature)
    if flags & 0x02:
        out += date_time(r.device_time)
    if flags & 0x04:
        out += bytes([0 if r.temperature_type is None else _TEMPERATURE_TYPES[r.temperature_type]])
    return out


def weight(r: da.WeightMeasurement, flags: int) -> bytes:
    imperial = r.weight.unit is Unit.POUND
    flags = (flags & 0x0E) | int(imperial)
    if r.weight.value is None:
        raw = 0xFFFF
    else:
        raw = round(r.weight.value * (100 if imperial else 200))
    out = bytes([flags]) + struct.pack("<H", raw)
    if flags & 0x02:
        out += date_time(r.device_time)
    if flags & 0x04:
        out += bytes([0xFF if r.user_id is None else r.user_id])
    if flags & 0x08:
        assert r.bmi is not None and r.bmi.value is not None
        assert r.height is not None and r.height.value is not None
        out += struct.pack("<H", round(r.bmi.value * 10))
        out += struct.pack("<H", round(r.height.value * (10 if imperial else 1000)))
    return out


def glucose(r: da.GlucoseMeasurement, flags: int, offset_minutes: int) -> bytes:
    unit_bit = 0x04 if r.concentration is not None and r.concentration.unit is Unit.MOL_PER_L else 0
    flags = (flags & 0x1B) | unit_bit
    base = r.device_time
    if flags & 0x01 and base is not None:
        base -= timedelta(minutes=offset_minutes)
    out = bytes([flags]) + struct.pack("<H", r.sequence_number) + date_time(base)
    if flags & 0x01:
        out += struct.pack("<h", offset_minutes)
    if flags & 0x02:
        assert r.concentration is not None
        kind = 0 if r.sample_type is None else int(r.sample_type)
        where = 0 if r.sample_location is None else int(r.sample_location)
        out += sfloat(r.concentration) + bytes([kind | (where << 4)])
    if flags & 0x08:
        out += struct.pack("<H", int(r.sensor_status or 0))
    return out


_STAGES = {s: int(s) for s in da.SleepStage}


def _sleep_vitals(r: da.SleepLive | da.SleepEpoch) -> tuple[int, bytes]:
    flags, out = 0, b""
    if r.heart_rate is not None:
        flags |= 0x01
        out += sfloat(r.heart_rate)
    if r.respiration_rate is not None:
        flags |= 0x02
        out += sfloat(r.respiration_rate)
    if r.movement is not None and r.movement.value is not None:
        flags |= 0x04
        out += struct.pack("<H", int(r.movement.value))
    return flags, out


def sleep_epoch(r: da.SleepEpoch, clock_not_set: bool) -> bytes:
    flags, tail = _sleep_vitals(r)
    flags |= 0x08 if clock_not_set else 0
    assert r.duration.value is not None
    head = bytes([flags]) + struct.pack("<H", r.sequence_number) + date_time(r.device_time)
    return head + struct.pack("<HB", int(r.duration.value), _STAGES[r.stage]) + tail


def sleep_live(r: da.SleepLive) -> bytes:
    flags, tail = _sleep_vitals(r)
    presence = {None: 0xFF, True: 1, False: 0}[r.in_bed]
    return bytes([flags, presence, _STAGES[r.stage]]) + tail

"""Pulse Oximeter Service 1.0: 0x2A5E Spot-check, 0x2A5F Continuous, 0x2A60 Features.

0x2A5E layout (PLXS 1.0 section 3.1):

    offset  size  field
    0       1     flags: bit0 time stamp, bit1 measurement status, bit2 device and sensor
                  status, bit3 pulse amplitude index, bit4 device clock is not set, 5-7 reserved
    1       2     SpO2 SFLOAT %
    3       2     pulse rate SFLOAT /min
    5       7     time stamp DateTime                if bit0
    +       2     measurement status uint16          if bit1
    +       3     device and sensor status uint24    if bit2
    +       2     pulse amplitude index SFLOAT %     if bit3

0x2A5F layout (section 3.2): flags (bit0 SpO2PR-Fast, bit1 SpO2PR-Slow, bit2 measurement
status, bit3 device and sensor status, bit4 PAI), SpO2 and PR SFLOATs, then the fast pair,
the slow pair, the two status fields and PAI in that order. It has no time stamp.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from ._fields import UINT16, UINT24_LOW, date_time_at, need, need_head
from ._ieee11073 import sfloat_quantity
from .errors import MalformedPayload
from .readings import (
    PlxContinuousMeasurement,
    PlxDeviceSensorStatus,
    PlxFeature,
    PlxFeatures,
    PlxMeasurementStatus,
    PlxSpotCheckMeasurement,
)
from .units import Quantity, Unit
from .uuids import PLX_CONTINUOUS_MEASUREMENT, PLX_FEATURES, PLX_SPOT_CHECK_MEASUREMENT
from .uuids import label as _label

__all__ = [
    "parse_plx_continuous_measurement",
    "parse_plx_features",
    "parse_plx_spot_check_measurement",
]

_SPOT = _label(PLX_SPOT_CHECK_MEASUREMENT)
_CONT = _label(PLX_CONTINUOUS_MEASUREMENT)
_FEAT = _label(PLX_FEATURES)

_HEAD = struct.Struct("<BHH")  # flags, SpO2, pulse rate
_PAIR = struct.Struct("<HH")
_MEASUREMENT_STATUS_MASK = 0xFFE0  # bits 0-4 reserved
_DEVICE_SENSOR_STATUS_MASK = 0x00FFFF  # bits 16-23 reserved
_FEATURE_MASK = 0x00FF


@lru_cache(maxsize=256)
def _measurement_status(raw: int) -> PlxMeasurementStatus:
    return PlxMeasurementStatus(raw & _MEASUREMENT_STATUS_MASK)


@lru_cache(maxsize=256)
def _device_sensor_status(raw: int) -> PlxDeviceSensorStatus:
    return PlxDeviceSensorStatus(raw & _DEVICE_SENSOR_STATUS_MASK)


def _uint24(data: bytes, offset: int) -> int:
    low, high = UINT24_LOW.unpack_from(data, offset)
    return int(low | (high << 16))


def _percent(raw: int, data: bytes, offset: int, name: str, field: str) -> Quantity:
    """An SFLOAT percentage; a number outside 0-100 % is malformed, not a reading."""
    quantity = sfloat_quantity(raw, Unit.PERCENT)
    if quantity.value is not None and not 0.0 <= quantity.value <= 100.0:
        raise MalformedPayload(name, offset, data, f"{field} {quantity.value} % is outside 0-100 %")
    return quantity


def parse_plx_spot_check_measurement(data: bytes) -> PlxSpotCheckMeasurement:
    """Decode PLX Spot-check Measurement 0x2A5E.

    Raises:
        MalformedPayload: when shorter than its flags declare, or SpO2 is outside 0-100 %.
    """
    if len(data) < 5:
        need_head(data, 5, _SPOT, "SpO2 and pulse rate")
    flags, spo2_raw, pulse_raw = _HEAD.unpack_from(data)
    spo2 = _percent(spo2_raw, data, 1, _SPOT, "SpO2")
    pulse_rate = sfloat_quantity(pulse_raw, Unit.PER_MIN)
    offset = 5
    device_time = None
    unreliable = bool(flags & 0x10)  # "Device Clock is Not Set"
    status = None
    sensor = None
    pai = None
    if flags & 0x01:
        need(data, offset, 7, _SPOT, "time stamp")
        device_time = date_time_at(data, offset)
        unreliable = unreliable or device_time is None
        offset += 7
    if flags & 0x02:
        need(data, offset, 2, _SPOT, "measurement status")
        status = _measurement_status(UINT16.unpack_from(data, offset)[0])
        offset += 2
    if flags & 0x04:
        need(data, offset, 3, _SPOT, "device and sensor status")
        sensor = _device_sensor_status(_uint24(data, offset))
        offset += 3
    if flags & 0x08:
        need(data, offset, 2, _SPOT, "pulse amplitude index")
        pai = _percent(UINT16.unpack_from(data, offset)[0], data, offset, _SPOT, "PAI")
    return PlxSpotCheckMeasurement(spo2, pulse_rate, device_time, status, sensor, pai, unreliable)


def parse_plx_continuous_measurement(data: bytes) -> PlxContinuousMeasurement:
    """Decode PLX Continuous Measurement 0x2A5F.

    Raises:
        MalformedPayload: when shorter than its flags declare, or a SpO2 is outside 0-100 %.
    """
    if len(data) < 5:
        need_head(data, 5, _CONT, "SpO2 and pulse rate")
    flags, spo2_raw, pulse_raw = _HEAD.unpack_from(data)
    spo2 = _percent(spo2_raw, data, 1, _CONT, "SpO2")
    pulse_rate = sfloat_quantity(pulse_raw, Unit.PER_MIN)
    offset = 5
    fast: tuple[Quantity | None, Quantity | None] = (None, None)
    slow: tuple[Quantity | None, Quantity | None] = (None, None)
    status = None
    sensor = None
    pai = None
    if flags & 0x01:
        need(data, offset, 4, _CONT, "SpO2PR-Fast")
        s, p = _PAIR.unpack_from(data, offset)
        fast = (_percent(s, data, offset, _CONT, "SpO2 fast"), sfloat_quantity(p, Unit.PER_MIN))
        offset += 4
    if flags & 0x02:
        need(data, offset, 4, _CONT, "SpO2PR-Slow")
        s, p = _PAIR.unpack_from(data, offset)
        slow = (_percent(s, data, offset, _CONT, "SpO2 slow"), sfloat_quantity(p, Unit.PER_MIN))
        offset += 4
    if flags & 0x04:
        need(data, offset, 2, _CONT, "measurement status")
        status = _measurement_status(UINT16.unpack_from(data, offset)[0])
        offset += 2
    if flags & 0x08:
        need(data, offset, 3, _CONT, "device and sensor status")
        sensor = _device_sensor_status(_uint24(data, offset))
        offset += 3
    if flags & 0x10:
        need(data, offset, 2, _CONT, "pulse amplitude index")
        pai = _percent(UINT16.unpack_from(data, offset)[0], data, offset, _CONT, "PAI")
    return PlxContinuousMeasurement(
        spo2, pulse_rate, fast[0], fast[1], slow[0], slow[1], status, sensor, pai
    )


def parse_plx_features(data: bytes) -> PlxFeatures:
    """Decode PLX Features 0x2A60.

    Raises:
        MalformedPayload: when the support fields its feature bits announce are missing.
    """
    need(data, 0, 2, _FEAT, "supported features")
    raw = UINT16.unpack_from(data)[0]
    offset = 2
    status_support = None
    sensor_support = None
    if raw & PlxFeature.MEASUREMENT_STATUS:
        need(data, offset, 2, _FEAT, "measurement status support")
        status_support = _measurement_status(UINT16.unpack_from(data, offset)[0])
        offset += 2
    if raw & PlxFeature.DEVICE_AND_SENSOR_STATUS:
        need(data, offset, 3, _FEAT, "device and sensor status support")
        sensor_support = _device_sensor_status(_uint24(data, offset))
    return PlxFeatures(PlxFeature(raw & _FEATURE_MASK), status_support, sensor_support)

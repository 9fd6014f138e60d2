"""Blood Pressure Service 1.0: 0x2A35 Measurement, 0x2A36 Intermediate Cuff Pressure, 0x2A49.

0x2A35 layout (little-endian; BPS 1.0 section 3.1, GSS `blood_pressure_measurement`):

    offset  size  field
    0       1     flags: bit0 unit (0 mmHg, 1 kPa), bit1 time stamp, bit2 pulse rate,
                  bit3 user id, bit4 measurement status, bits 5-7 reserved
    1       2     systolic SFLOAT          (0x2A36: current cuff pressure)
    3       2     diastolic SFLOAT         (0x2A36: unused, spec says NaN, stacks send 0)
    5       2     mean arterial pressure   (0x2A36: unused)
    7       7     time stamp DateTime      if bit1
    +       2     pulse rate SFLOAT /min   if bit2
    +       1     user id (0xFF unknown)   if bit3
    +       2     measurement status       if bit4
"""

from __future__ import annotations

import struct
from datetime import datetime
from functools import lru_cache

from ._fields import UINT16, date_time_at, need, need_head
from ._ieee11073 import sfloat_quantity
from .readings import (
    BloodPressureFeature,
    BloodPressureFeatures,
    BloodPressureMeasurement,
    BloodPressureStatus,
    IntermediateCuffPressure,
    PulseRateRange,
)
from .units import Quantity, Unit
from .uuids import BLOOD_PRESSURE_FEATURE, BLOOD_PRESSURE_MEASUREMENT, INTERMEDIATE_CUFF_PRESSURE
from .uuids import label as _label

__all__ = [
    "parse_blood_pressure_feature",
    "parse_blood_pressure_measurement",
    "parse_intermediate_cuff_pressure",
]

_BPM = _label(BLOOD_PRESSURE_MEASUREMENT)
_ICP = _label(INTERMEDIATE_CUFF_PRESSURE)
_BPF = _label(BLOOD_PRESSURE_FEATURE)

# flags, three SFLOATs (systolic, diastolic, MAP; or cuff pressure and two unused)
_HEAD = struct.Struct("<BHHH")
_KPA = 0x01
_TIME_STAMP = 0x02
_PULSE_RATE = 0x04
_USER_ID = 0x08
_STATUS = 0x10
_USER_UNKNOWN = 0xFF
_STATUS_FLAGS_MASK = 0b0010_0111  # bits 0, 1, 2, 5; bits 3-4 are the pulse rate range
_FEATURE_MASK = 0x01FF


@lru_cache(maxsize=256)
def _status(raw: int) -> tuple[BloodPressureStatus, PulseRateRange | None]:
    range_bits = (raw >> 3) & 0b11
    pulse_range = None if range_bits == 0b11 else PulseRateRange(range_bits)
    return BloodPressureStatus(raw & _STATUS_FLAGS_MASK), pulse_range


_Optional = tuple[
    datetime | None,
    Quantity | None,
    int | None,
    BloodPressureStatus | None,
    PulseRateRange | None,
    bool,
]


def _optional_fields(data: bytes, flags: int, name: str) -> _Optional:
    """Decode the fields after the three SFLOATs, which 0x2A35 and 0x2A36 share."""
    offset = 7
    device_time = None
    unreliable = False
    pulse_rate = None
    user_id = None
    status = None
    pulse_range = None
    if flags & _TIME_STAMP:
        need(data, offset, 7, name, "time stamp")
        device_time = date_time_at(data, offset)
        unreliable = device_time is None
        offset += 7
    if flags & _PULSE_RATE:
        need(data, offset, 2, name, "pulse rate")
        pulse_rate = sfloat_quantity(UINT16.unpack_from(data, offset)[0], Unit.PER_MIN)
        offset += 2
    if flags & _USER_ID:
        need(data, offset, 1, name, "user id")
        user_id = data[offset]
        if user_id == _USER_UNKNOWN:
            user_id = None
        offset += 1
    if flags & _STATUS:
        need(data, offset, 2, name, "measurement status")
        status, pulse_range = _status(UINT16.unpack_from(data, offset)[0])
    return device_time, pulse_rate, user_id, status, pulse_range, unreliable


def parse_blood_pressure_measurement(data: bytes) -> BloodPressureMeasurement:
    """Decode Blood Pressure Measurement 0x2A35.

    Args:
        data: the indication's value.

    Returns:
        The reading in the device's unit (`systolic_mm_hg` and friends convert).

    Raises:
        MalformedPayload: when the payload is shorter than its flags declare.
    """
    if len(data) < 7:
        need_head(data, 7, _BPM, "systolic, diastolic and mean pressure")
    flags, systolic, diastolic, mean = _HEAD.unpack_from(data)
    unit = Unit.KPA if flags & _KPA else Unit.MM_HG
    if flags & 0x1E:
        device_time, pulse_rate, user_id, status, pulse_range, unreliable = _optional_fields(
            data, flags, _BPM
        )
        return BloodPressureMeasurement(
            sfloat_quantity(systolic, unit),
            sfloat_quantity(diastolic, unit),
            sfloat_quantity(mean, unit),
            device_time,
            pulse_rate,
            user_id,
            status,
            pulse_range,
            unreliable,
        )
    return BloodPressureMeasurement(
        sfloat_quantity(systolic, unit),
        sfloat_quantity(diastolic, unit),
        sfloat_quantity(mean, unit),
    )


def parse_intermediate_cuff_pressure(data: bytes) -> IntermediateCuffPressure:
    """Decode Intermediate Cuff Pressure 0x2A36 (the two unused SFLOATs are skipped).

    Raises:
        MalformedPayload: when the payload is shorter than its flags declare.
    """
    if len(data) < 7:
        need_head(data, 7, _ICP, "cuff pressure and two unused values")
    flags, cuff, _unused_1, _unused_2 = _HEAD.unpack_from(data)
    unit = Unit.KPA if flags & _KPA else Unit.MM_HG
    device_time, pulse_rate, user_id, status, pulse_range, unreliable = _optional_fields(
        data, flags, _ICP
    )
    return IntermediateCuffPressure(
        sfloat_quantity(cuff, unit),
        device_time,
        pulse_rate,
        user_id,
        status,
        pulse_range,
        unreliable,
    )


def parse_blood_pressure_feature(data: bytes) -> BloodPressureFeatures:
    """Decode Blood Pressure Feature 0x2A49 (a uint16 bit field).

    Raises:
        MalformedPayload: when the payload has fewer than 2 bytes.
    """
    need(data, 0, 2, _BPF, "feature bits")
    return BloodPressureFeatures(BloodPressureFeature(UINT16.unpack_from(data)[0] & _FEATURE_MASK))

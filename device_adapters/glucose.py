"""Glucose Measurement 0x2A18 (GLS 1.0 section 3.106).

    offset  size  field
    0       1     flags: bit0 time offset, bit1 concentration + type/location, bit2 unit
                  (0 kg/L, 1 mol/L), bit3 sensor status annunciation, bit4 context follows
    1       2     sequence number uint16
    3       7     base time DateTime
    10      2     time offset sint16 minutes          if bit0
    +       2     concentration SFLOAT                if bit1
    +       1     type (low nibble) and sample location (high nibble)   if bit1
    +       2     sensor status annunciation uint16   if bit3

Real meters send kg/L: 105 mg/dL is SFLOAT 0xB069 = 105e-5 kg/L.
"""

from __future__ import annotations

import struct
from datetime import timedelta

from ._fields import SINT16, UINT16, date_time_at, need, need_head
from ._ieee11073 import sfloat_quantity
from .readings import (
    GlucoseMeasurement,
    GlucoseSampleLocation,
    GlucoseSampleType,
    GlucoseSensorStatus,
)
from .units import Unit
from .uuids import GLUCOSE_MEASUREMENT
from .uuids import label as _label

__all__ = ["parse_glucose_measurement"]

_GM = _label(GLUCOSE_MEASUREMENT)
_TYPES = {int(t): t for t in GlucoseSampleType}
_LOCATIONS = {int(loc): loc for loc in GlucoseSampleLocation}
_CONCENTRATION = struct.Struct("<HB")
_SENSOR_STATUS_MASK = 0x0FFF


def parse_glucose_measurement(data: bytes) -> GlucoseMeasurement:
    """Decode Glucose Measurement 0x2A18.

    Raises:
        MalformedPayload: when shorter than its flags declare.
    """
    need_head(data, 10, _GM, "sequence number and base time")
    flags = data[0]
    sequence = UINT16.unpack_from(data, 1)[0]
    device_time = date_time_at(data, 3)
    offset = 10
    if flags & 0x01:
        need(data, offset, 2, _GM, "time offset")
        minutes = SINT16.unpack_from(data, offset)[0]
        if device_time is not None:
            try:
                device_time += timedelta(minutes=minutes)
            except OverflowError:  # base time at the edge of the calendar
                device_time = None
        offset += 2
    concentration = None
    sample_type = None
    location = None
    if flags & 0x02:
        need(data, offset, 3, _GM, "concentration and type/location")
        raw, type_location = _CONCENTRATION.unpack_from(data, offset)
        concentration = sfloat_quantity(raw, Unit.MOL_PER_L if flags & 0x04 else Unit.KG_PER_L)
        sample_type = _TYPES.get(type_location & 0x0F)
        location = _LOCATIONS.get(type_location >> 4)
        offset += 3
    status = None
    if flags & 0x08:
        need(data, offset, 2, _GM, "sensor status annunciation")
        status = GlucoseSensorStatus(UINT16.unpack_from(data, offset)[0] & _SENSOR_STATUS_MASK)
    return GlucoseMeasurement(
        sequence,
        device_time,
        concentration,
        sample_type,
        location,
        status,
        bool(flags & 0x10),
        device_time is None,
    )

"""Heart Rate Measurement 0x2A37 (HRS 1.0 section 3.1).

    offset  size  field
    0       1     flags: bit0 value format (0 uint8, 1 uint16), bits1-2 sensor contact,
                  bit3 energy expended present, bit4 RR intervals present, 5-7 reserved
    1       1|2   heart rate /min
    +       2     energy expended uint16 kJ        if bit3
    +       2*n   RR intervals uint16, 1/1024 s     if bit4, oldest first, to the end

An odd trailing byte after the RR intervals is ignored (it cannot be an interval).
"""

from __future__ import annotations

import struct
from functools import lru_cache

from ._fields import UINT16, need, need_head
from .readings import HeartRateMeasurement, SensorContact
from .units import Quantity, Unit
from .uuids import HEART_RATE_MEASUREMENT
from .uuids import label as _label

__all__ = ["parse_heart_rate_measurement"]

_HRM = _label(HEART_RATE_MEASUREMENT)
_CONTACT = (
    SensorContact.NOT_SUPPORTED,
    SensorContact.NOT_SUPPORTED,
    SensorContact.NOT_DETECTED,
    SensorContact.DETECTED,
)


@lru_cache(maxsize=1024)
def _rr(raw: int) -> Quantity:
    # 1/1024 s resolution is just under a millisecond: three decimals.
    return Quantity(raw / 1024, Unit.SECOND, -3)


@lru_cache(maxsize=512)
def _per_min(value: int) -> Quantity:
    return Quantity(float(value), Unit.PER_MIN)


def parse_heart_rate_measurement(data: bytes) -> HeartRateMeasurement:
    """Decode Heart Rate Measurement 0x2A37.

    Raises:
        MalformedPayload: when shorter than its flags declare.
    """
    need_head(data, 2, _HRM, "heart rate")
    flags = data[0]
    if flags & 0x01:
        need(data, 1, 2, _HRM, "heart rate (uint16)")
        heart_rate = UINT16.unpack_from(data, 1)[0]
        offset = 3
    else:
        heart_rate = data[1]
        offset = 2
    energy = None
    if flags & 0x08:
        need(data, offset, 2, _HRM, "energy expended")
        energy = Quantity(float(UINT16.unpack_from(data, offset)[0]), Unit.KILOJOULE)
        offset += 2
    rr: tuple[Quantity, ...] = ()
    if flags & 0x10:
        need(data, offset, 2, _HRM, "RR interval")
        count = (len(data) - offset) // 2
        rr = tuple(_rr(v) for v in struct.unpack_from(f"<{count}H", data, offset))
    return HeartRateMeasurement(_per_min(heart_rate), _CONTACT[(flags >> 1) & 0b11], energy, rr)

"""Weight Measurement 0x2A9D (WSS 1.0 section 3.1).

    offset  size  field
    0       1     flags: bit0 unit (0 SI, 1 imperial), bit1 time stamp, bit2 user id,
                  bit3 BMI and height, bits 4-7 reserved
    1       2     weight uint16: 0.005 kg or 0.01 lb; 0xFFFF "measurement unsuccessful"
    3       7     time stamp DateTime          if bit1
    +       1     user id (0xFF unknown)       if bit2
    +       2     BMI uint16, 0.1 kg/m2        if bit3
    +       2     height uint16, 0.001 m or 0.1 in   if bit3

The default resolutions are assumed; a scale whose Weight Scale Feature 0x2A9E
declares others needs a quirk adapter.
"""

from __future__ import annotations

from ._fields import UINT16, date_time_at, need, need_head
from .readings import WeightMeasurement
from .units import AbsentReason, Quantity, Unit
from .uuids import WEIGHT_MEASUREMENT
from .uuids import label as _label

__all__ = ["parse_weight_measurement"]

_WM = _label(WEIGHT_MEASUREMENT)
_UNSUCCESSFUL = 0xFFFF


def parse_weight_measurement(data: bytes) -> WeightMeasurement:
    """Decode Weight Measurement 0x2A9D.

    Raises:
        MalformedPayload: when shorter than its flags declare.
    """
    need_head(data, 3, _WM, "weight")
    flags = data[0]
    imperial = bool(flags & 0x01)
    raw = UINT16.unpack_from(data, 1)[0]
    unit = Unit.POUND if imperial else Unit.KILOGRAM
    if raw == _UNSUCCESSFUL:
        weight = Quantity(None, unit, 0, AbsentReason.ERROR)
    elif imperial:
        weight = Quantity(raw / 100, unit, -2)
    else:
        weight = Quantity(raw / 200, unit, -3)  # 0.005 kg steps
    offset = 3
    device_time = None
    unreliable = False
    user_id = None
    bmi = None
    height = None
    if flags & 0x02:
        need(data, offset, 7, _WM, "time stamp")
        device_time = date_time_at(data, offset)
        unreliable = device_time is None
        offset += 7
    if flags & 0x04:
        need(data, offset, 1, _WM, "user id")
        user_id = None if data[offset] == 0xFF else data[offset]
        offset += 1
    if flags & 0x08:
        need(data, offset, 4, _WM, "BMI and height")
        bmi = Quantity(UINT16.unpack_from(data, offset)[0] / 10, Unit.KG_PER_M2, -1)
        height_raw = UINT16.unpack_from(data, offset + 2)[0]
        height = (
            Quantity(height_raw / 10, Unit.INCH, -1)
            if imperial
            else Quantity(height_raw / 1000, Unit.METRE, -3)
        )
    return WeightMeasurement(weight, device_time, user_id, bmi, height, unreliable)

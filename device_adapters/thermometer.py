"""Temperature Measurement 0x2A1C and Intermediate Temperature 0x2A1E (HTS 1.0 section 3.1).

offset  size  field
0       1     flags: bit0 unit (0 Cel, 1 degF), bit1 time stamp, bit2 temperature type
1       4     temperature FLOAT
5       7     time stamp DateTime         if bit1
+       1     temperature type (0x2A1D)   if bit2; reserved values decode as None
"""

from __future__ import annotations

from ._fields import UINT32, date_time_at, need, need_head
from ._ieee11073 import float_quantity
from .readings import TemperatureMeasurement, TemperatureType
from .units import Unit
from .uuids import INTERMEDIATE_TEMPERATURE, TEMPERATURE_MEASUREMENT
from .uuids import label as _label

__all__ = ["parse_intermediate_temperature", "parse_temperature_measurement"]

_TYPES = {int(t): t for t in TemperatureType}


def _parse(data: bytes, name: str, intermediate: bool) -> TemperatureMeasurement:
    need_head(data, 5, name, "temperature")
    flags = data[0]
    temperature = float_quantity(
        UINT32.unpack_from(data, 1)[0], Unit.FAHRENHEIT if flags & 0x01 else Unit.CELSIUS
    )
    offset = 5
    device_time = None
    unreliable = False
    temperature_type = None
    if flags & 0x02:
        need(data, offset, 7, name, "time stamp")
        device_time = date_time_at(data, offset)
        unreliable = device_time is None
        offset += 7
    if flags & 0x04:
        need(data, offset, 1, name, "temperature type")
        temperature_type = _TYPES.get(data[offset])
    return TemperatureMeasurement(
        temperature, device_time, temperature_type, intermediate, unreliable
    )


_TM = _label(TEMPERATURE_MEASUREMENT)
_IT = _label(INTERMEDIATE_TEMPERATURE)


def parse_temperature_measurement(data: bytes) -> TemperatureMeasurement:
    """Decode Temperature Measurement 0x2A1C.

    Raises:
        MalformedPayload: when shorter than its flags declare.
    """
    return _parse(data, _TM, intermediate=False)


def parse_intermediate_temperature(data: bytes) -> TemperatureMeasurement:
    """Decode Intermediate Temperature 0x2A1E (same layout, not a final reading)."""
    return _parse(data, _IT, intermediate=True)

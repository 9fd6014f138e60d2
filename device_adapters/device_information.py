"""Battery Level 0x2A19 and the Device Information Service 0x180A.

DIS strings are UTF-8 without a terminator; some devices pad with NULs, which
are stripped. System ID 0x2A23 is a 40-bit manufacturer identifier followed by
a 24-bit OUI, both little-endian: the EUI-64 is the eight bytes reversed.
"""

from __future__ import annotations

from functools import lru_cache

from ._fields import need
from .errors import MalformedPayload
from .readings import BatteryLevel, DeviceInformation, DeviceInformationField, SystemId
from .units import Quantity, Unit
from .uuids import BATTERY_LEVEL, SYSTEM_ID, uuid16
from .uuids import label as _label

__all__ = ["parse_battery_level", "parse_device_information", "parse_system_id"]

_BL = _label(BATTERY_LEVEL)
_SID = _label(SYSTEM_ID)


@lru_cache(maxsize=128)
def _battery(level: int) -> BatteryLevel:
    return BatteryLevel(Quantity(float(level), Unit.PERCENT))


def parse_battery_level(data: bytes) -> BatteryLevel:
    """Decode Battery Level 0x2A19.

    Raises:
        MalformedPayload: when empty, or above 100 %.
    """
    need(data, 0, 1, _BL, "battery level")
    if data[0] > 100:
        raise MalformedPayload(_BL, 0, data, f"battery level {data[0]} % is above 100 %")
    return _battery(data[0])


def parse_device_information(field: DeviceInformationField, data: bytes) -> DeviceInformation:
    """Decode one Device Information string.

    Raises:
        MalformedPayload: when the bytes are not UTF-8.
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(
            _label(uuid16(field)), exc.start, data, "string is not valid UTF-8"
        ) from None
    return DeviceInformation(field, text.rstrip("\x00"))


def parse_system_id(data: bytes) -> SystemId:
    """Decode System ID 0x2A23.

    Raises:
        MalformedPayload: when fewer than 8 bytes arrive.
    """
    need(data, 0, 8, _SID, "manufacturer identifier and OUI")
    return SystemId(
        int.from_bytes(data[0:5], "little"),
        int.from_bytes(data[5:8], "little"),
    )

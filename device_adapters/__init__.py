"""Pure decoders from Bluetooth LE health characteristics to typed readings.

`parse(characteristic, data)` is the one entry point. It does no I/O, keeps no
state and uses only the standard library, so the gateway, the tests and any
other program can trust it.

Decoding policy (the same for every characteristic):

- Reserved-for-future-use flag bits are ignored, and bytes after the last
  field the flags declare are ignored: a receiver must keep working with
  newer devices that add fields.
- A payload shorter than its flags declare, or a field outside its defined
  range (battery 101 %, SpO2 above 100 %, an epoch of 0 s), is malformed:
  `MalformedPayload` names the characteristic, the byte offset and the payload.
- Reserved values of enumerations (a temperature type, a glucose sample
  location) decode as None: the measurement is kept.
- IEEE 11073 special values (NaN, NRes, +/-INF, reserved) give a `Quantity`
  with no value and an `absent_reason`, never a fake number.
- An invalid or unset device time stamp (year 0, month 13) does not lose the
  measurement: the reading has `device_time=None` and
  `device_clock_unreliable=True`. A PLX "device clock is not set" flag keeps
  the time stamp as sent and also sets `device_clock_unreliable`.
- A number that cannot be decoded raises `MalformedPayload`; nothing else
  escapes `parse`, whatever the bytes (tested by fuzzing).
"""

from __future__ import annotations

import uuid

from . import clock, racp
from .errors import DeviceAdapterError, MalformedPayload, UnsupportedCharacteristic
from .readings import *  # noqa: F403 - the reading types are the public API
from .readings import Reading
from .readings import __all__ as _readings_all
from .registry import PARSERS
from .units import AbsentReason, Quantity, Unit, convert
from .uuids import normalize_uuid

__all__ = [
    "AbsentReason",
    "DeviceAdapterError",
    "MalformedPayload",
    "Quantity",
    "Reading",
    "Unit",
    "UnsupportedCharacteristic",
    "clock",
    "convert",
    "normalize_uuid",
    "parse",
    "racp",
    *_readings_all,
]


def parse(characteristic: str | int | uuid.UUID, data: bytes | bytearray | memoryview) -> Reading:
    """Decode one characteristic value.

    Args:
        characteristic: the characteristic's UUID as `"2a35"`, `"0x2A35"`, `0x2A35` or the
            full 128-bit string (bleak's `BleakGATTCharacteristic.uuid`).
        data: the value as received (a notification, indication or read).

    Returns:
        The typed, immutable reading for that characteristic.

    Raises:
        MalformedPayload: the bytes do not match the characteristic's layout.
        UnsupportedCharacteristic: no parser exists for that UUID.
    """
    parser = PARSERS.get(normalize_uuid(characteristic))
    if parser is None:
        raise UnsupportedCharacteristic(characteristic)
    return parser(data if isinstance(data, bytes) else bytes(data))

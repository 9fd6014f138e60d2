"""Characteristic UUIDs: the assigned numbers we decode, and UUID normalisation.

Every UUID is normalised to bleak's form, the lower-case 128-bit string, so a
16-bit `0x2A35`, `"2a35"`, `"0x2A35"` and
`"00002a35-0000-1000-8000-00805f9b34fb"` all name the same characteristic.
"""

from __future__ import annotations

import re
import uuid

from .errors import UnsupportedCharacteristic

__all__ = ["NAMES", "label", "normalize_uuid", "uuid16"]

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"


def uuid16(number: int) -> str:
    """The 128-bit form of a 16-bit (or 32-bit) Bluetooth SIG UUID."""
    return f"{number:08x}{_BASE_SUFFIX}"


# Bluetooth SIG assigned numbers (Assigned Numbers, section 3.8 "Characteristics").
BLOOD_PRESSURE_MEASUREMENT = uuid16(0x2A35)
INTERMEDIATE_CUFF_PRESSURE = uuid16(0x2A36)
BLOOD_PRESSURE_FEATURE = uuid16(0x2A49)
PLX_SPOT_CHECK_MEASUREMENT = uuid16(0x2A5E)
PLX_CONTINUOUS_MEASUREMENT = uuid16(0x2A5F)
PLX_FEATURES = uuid16(0x2A60)
RECORD_ACCESS_CONTROL_POINT = uuid16(0x2A52)
CURRENT_TIME = uuid16(0x2A2B)
DATE_TIME = uuid16(0x2A08)
HEART_RATE_MEASUREMENT = uuid16(0x2A37)
TEMPERATURE_MEASUREMENT = uuid16(0x2A1C)
INTERMEDIATE_TEMPERATURE = uuid16(0x2A1E)
WEIGHT_MEASUREMENT = uuid16(0x2A9D)
GLUCOSE_MEASUREMENT = uuid16(0x2A18)
BATTERY_LEVEL = uuid16(0x2A19)
MANUFACTURER_NAME = uuid16(0x2A29)
MODEL_NUMBER = uuid16(0x2A24)
SERIAL_NUMBER = uuid16(0x2A25)
HARDWARE_REVISION = uuid16(0x2A27)
FIRMWARE_REVISION = uuid16(0x2A26)
SOFTWARE_REVISION = uuid16(0x2A28)
SYSTEM_ID = uuid16(0x2A23)

# Services.
BLOOD_PRESSURE_SERVICE = uuid16(0x1810)
PULSE_OXIMETER_SERVICE = uuid16(0x1822)
HEART_RATE_SERVICE = uuid16(0x180D)
HEALTH_THERMOMETER_SERVICE = uuid16(0x1809)
WEIGHT_SCALE_SERVICE = uuid16(0x181D)
GLUCOSE_SERVICE = uuid16(0x1808)
CURRENT_TIME_SERVICE = uuid16(0x1805)
DEVICE_INFORMATION_SERVICE = uuid16(0x180A)
BATTERY_SERVICE = uuid16(0x180F)

# HomeVitals open sleep profile (docs/open-sleep-profile.md): one random base,
# the second-to-first 16 bits numbering the attributes, as Nordic's UART service does.
SLEEP_SERVICE = "725e0001-650c-4bc4-ad17-0eb60f2b1771"
SLEEP_LIVE = "725e0002-650c-4bc4-ad17-0eb60f2b1771"
SLEEP_EPOCH_RECORD = "725e0003-650c-4bc4-ad17-0eb60f2b1771"
SLEEP_FEATURES = "725e0004-650c-4bc4-ad17-0eb60f2b1771"

NAMES: dict[str, str] = {
    BLOOD_PRESSURE_MEASUREMENT: "Blood Pressure Measurement",
    INTERMEDIATE_CUFF_PRESSURE: "Intermediate Cuff Pressure",
    BLOOD_PRESSURE_FEATURE: "Blood Pressure Feature",
    PLX_SPOT_CHECK_MEASUREMENT: "PLX Spot-check Measurement",
    PLX_CONTINUOUS_MEASUREMENT: "PLX Continuous Measurement",
    PLX_FEATURES: "PLX Features",
    RECORD_ACCESS_CONTROL_POINT: "Record Access Control Point",
    CURRENT_TIME: "Current Time",
    DATE_TIME: "Date Time",
    HEART_RATE_MEASUREMENT: "Heart Rate Measurement",
    TEMPERATURE_MEASUREMENT: "Temperature Measurement",
    INTERMEDIATE_TEMPERATURE: "Intermediate Temperature",
    WEIGHT_MEASUREMENT: "Weight Measurement",
    GLUCOSE_MEASUREMENT: "Glucose Measurement",
    BATTERY_LEVEL: "Battery Level",
    MANUFACTURER_NAME: "Manufacturer Name String",
    MODEL_NUMBER: "Model Number String",
    SERIAL_NUMBER: "Serial Number String",
    HARDWARE_REVISION: "Hardware Revision String",
    FIRMWARE_REVISION: "Firmware Revision String",
    SOFTWARE_REVISION: "Software Revision String",
    SYSTEM_ID: "System ID",
    SLEEP_LIVE: "HomeVitals Sleep Live",
    SLEEP_EPOCH_RECORD: "HomeVitals Sleep Epoch Record",
    SLEEP_FEATURES: "HomeVitals Sleep Features",
}


def label(normalized: str) -> str:
    """`"Blood Pressure Measurement (0x2A35)"`: how errors name a characteristic."""
    name = NAMES.get(normalized, "characteristic")
    if normalized.endswith(_BASE_SUFFIX) and normalized.startswith("0000"):
        return f"{name} (0x{normalized[4:8].upper()})"
    return f"{name} ({normalized})"


_HEX = re.compile(r"[0-9a-f]+")
_cache: dict[object, str] = {}


def normalize_uuid(characteristic: str | int | uuid.UUID) -> str:
    """Normalise a characteristic UUID given in any of the usual forms.

    Raises:
        UnsupportedCharacteristic: if the value is not a UUID at all.
    """
    try:
        return _cache[characteristic]
    except (KeyError, TypeError):  # TypeError: an unhashable argument
        pass
    normalized = _normalize(characteristic)
    if len(_cache) < 1024:  # the gateway sees a handful; never grow without bound
        _cache[characteristic] = normalized
    return normalized


def _normalize(characteristic: object) -> str:
    if isinstance(characteristic, uuid.UUID):
        return str(characteristic)
    if isinstance(characteristic, int) and not isinstance(characteristic, bool):
        if 0 <= characteristic <= 0xFFFFFFFF:
            return uuid16(characteristic)
        raise UnsupportedCharacteristic(characteristic)
    if isinstance(characteristic, str):
        text = characteristic.strip().lower()
        if text.startswith("0x"):
            text = text[2:]
        if len(text) in (4, 8) and _HEX.fullmatch(text):
            return uuid16(int(text, 16))
        try:
            return str(uuid.UUID(text))
        except ValueError:
            pass
    raise UnsupportedCharacteristic(characteristic)

"""PHD Device resources for sensors and the PHG Device for the gateway itself.

Layout follows the PHD IG's PhdDevice and PhgDevice profiles: identifiers for
the IEEE EUI-64 system id (SYSID) and the Bluetooth address (BTMAC), type codes
from the IEEE 11073 device specialisations, and versions from Device Information.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import device_adapters as da

from .codes import (
    BLUETOOTH_ADDRESS_SYSTEM,
    CONTINUA_DEVICE_IDENTIFIERS,
    MDC,
    SYSTEM_ID_SYSTEM,
)
from .identifiers import stable_urn

__all__ = ["DeviceKind", "GatewayIdentity", "SensorIdentity", "gateway_device", "sensor_device"]


class DeviceKind(StrEnum):
    """The kinds of sensor a home gateway reads."""

    BLOOD_PRESSURE = "blood-pressure"
    PULSE_OXIMETER = "pulse-oximeter"
    THERMOMETER = "thermometer"
    WEIGHT_SCALE = "weight-scale"
    GLUCOSE_METER = "glucose-meter"
    HEART_RATE = "heart-rate"
    SLEEP = "sleep"


# MDC_DEV_SPEC_PROFILE_* = 528384 + (IEEE 11073-104xx specialisation - 10400). The BP and
# oximeter codes appear in PHD IG examples; the others follow the same rule.
_SPECIALIZATION: dict[DeviceKind, tuple[str, str, str]] = {
    DeviceKind.BLOOD_PRESSURE: ("528391", "MDC_DEV_SPEC_PROFILE_BPM", "Blood pressure monitor"),
    DeviceKind.PULSE_OXIMETER: ("528388", "MDC_DEV_SPEC_PROFILE_PULS_OXIM", "Pulse oximeter"),
    DeviceKind.THERMOMETER: ("528392", "MDC_DEV_SPEC_PROFILE_TEMP", "Thermometer"),
    DeviceKind.WEIGHT_SCALE: ("528399", "MDC_DEV_SPEC_PROFILE_SCALE", "Weight scale"),
    DeviceKind.GLUCOSE_METER: ("528401", "MDC_DEV_SPEC_PROFILE_GLUCOSE", "Glucose meter"),
    DeviceKind.HEART_RATE: ("528425", "MDC_DEV_SPEC_PROFILE_HF_CARDIO", "Heart rate monitor"),
}
_VERSIONS = (
    ("firmware", "531976", "MDC_ID_PROD_SPEC_FW", "Firmware revision"),
    ("software", "531975", "MDC_ID_PROD_SPEC_SW", "Software revision"),
    ("hardware", "531974", "MDC_ID_PROD_SPEC_HW", "Hardware revision"),
)


_DIS_FIELDS = {
    da.DeviceInformationField.MANUFACTURER_NAME: "manufacturer",
    da.DeviceInformationField.MODEL_NUMBER: "model",
    da.DeviceInformationField.SERIAL_NUMBER: "serial",
    da.DeviceInformationField.FIRMWARE_REVISION: "firmware",
    da.DeviceInformationField.SOFTWARE_REVISION: "software",
    da.DeviceInformationField.HARDWARE_REVISION: "hardware",
}


def _dashed(hex_digits: str) -> str:
    return "-".join(hex_digits[i : i + 2] for i in range(0, len(hex_digits), 2))


def _hex(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch in "0123456789ABCDEF")


def _identifier(code: str, display: str, system: str, value: str) -> dict[str, Any]:
    return {
        "type": {
            "coding": [{"system": CONTINUA_DEVICE_IDENTIFIERS, "code": code, "display": display}]
        },
        "system": system,
        "value": value,
    }


@dataclass(frozen=True, slots=True)
class SensorIdentity:
    """What the gateway knows of a sensor (Device Information Service and its address).

    Attributes:
        bluetooth_address: `AA:BB:CC:DD:EE:FF` as bleak reports it.
        kind: what it measures.
        system_id: EUI-64 as 16 hex digits (System ID 0x2A23), if the device has one.
    """

    bluetooth_address: str
    kind: DeviceKind
    system_id: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    software: str | None = None
    hardware: str | None = None

    def __post_init__(self) -> None:
        digits = _hex(self.bluetooth_address)
        if len(digits) != 12:
            raise ValueError(f"not a Bluetooth address: {self.bluetooth_address!r}")
        # One spelling, so the same sensor is always the same key (frozen: set once here).
        canonical = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
        object.__setattr__(self, "bluetooth_address", canonical)
        if self.system_id is not None and len(_hex(self.system_id)) != 16:
            raise ValueError(f"not an EUI-64: {self.system_id!r}")

    @classmethod
    def from_readings(
        cls,
        bluetooth_address: str,
        kind: DeviceKind,
        readings: Iterable[da.DeviceInformation | da.SystemId],
    ) -> SensorIdentity:
        """Build the identity from what the Device Information Service returned."""
        fields: dict[str, str] = {}
        for reading in readings:
            if isinstance(reading, da.SystemId):
                fields["system_id"] = reading.eui64
            else:
                fields[_DIS_FIELDS[reading.field]] = reading.value
        return cls(bluetooth_address, kind, **fields)

    @property
    def key(self) -> str:
        """The PHD identifier's device part: EUI-64 (16 hex) or else the address (12 hex)."""
        return _hex(self.system_id) if self.system_id else _hex(self.bluetooth_address)

    @property
    def reference(self) -> str:
        """The stable urn:uuid the Device entry and every Observation use."""
        return stable_urn("Device", self.key)

    @property
    def search(self) -> tuple[str, str]:
        """(system, value) of the identifier a conditional create searches by."""
        if self.system_id:
            return SYSTEM_ID_SYSTEM, _dashed(_hex(self.system_id))
        return BLUETOOTH_ADDRESS_SYSTEM, _dashed(_hex(self.bluetooth_address))


@dataclass(frozen=True, slots=True)
class GatewayIdentity:
    """The home gateway (PHG): its EUI-64 and software version."""

    system_id: str
    software_version: str
    name: str = "HomeVitals home gateway"

    def __post_init__(self) -> None:
        if len(_hex(self.system_id)) != 16:
            raise ValueError(f"not an EUI-64: {self.system_id!r}")

    @property
    def key(self) -> str:
        """16 upper-case hex digits."""
        return _hex(self.system_id)

    @property
    def reference(self) -> str:
        """The stable urn:uuid of the gateway's Device entry."""
        return stable_urn("Device", self.key)

    @property
    def search(self) -> tuple[str, str]:
        """(system, value) of the gateway's SYSID identifier."""
        return SYSTEM_ID_SYSTEM, _dashed(self.key)


def sensor_device(sensor: SensorIdentity) -> dict[str, Any]:
    """The PhdDevice resource for a sensor."""
    identifiers = []
    if sensor.system_id:
        identifiers.append(
            _identifier(
                "SYSID",
                "IEEE 11073 System Identifier",
                SYSTEM_ID_SYSTEM,
                _dashed(_hex(sensor.system_id)),
            )
        )
    identifiers.append(
        _identifier(
            "BTMAC",
            "Bluetooth MAC address",
            BLUETOOTH_ADDRESS_SYSTEM,
            _dashed(_hex(sensor.bluetooth_address)),
        )
    )
    device: dict[str, Any] = {
        "resourceType": "Device",
        "meta": {"profile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdDevice"]},
        "identifier": identifiers,
    }
    if sensor.manufacturer:
        device["manufacturer"] = sensor.manufacturer
    if sensor.serial:
        device["serialNumber"] = sensor.serial
    if sensor.model:
        device["modelNumber"] = sensor.model
    specialization = _SPECIALIZATION.get(sensor.kind)
    if specialization:
        code, mnemonic, text = specialization
        device["type"] = {
            "coding": [{"system": MDC, "code": code, "display": mnemonic}],
            "text": text,
        }
        device["specialization"] = [
            {
                "systemType": {
                    "coding": [{"system": MDC, "code": code, "display": mnemonic}],
                    "text": text,
                }
            }
        ]
    else:
        device["type"] = {"text": "Sleep sensor (HomeVitals open sleep profile)"}
    versions = [
        {
            "type": {"coding": [{"system": MDC, "code": code, "display": mnemonic}], "text": text},
            "value": value,
        }
        for attribute, code, mnemonic, text in _VERSIONS
        if (value := getattr(sensor, attribute))
    ]
    if versions:
        device["version"] = versions
    return device


def gateway_device(gateway: GatewayIdentity) -> dict[str, Any]:
    """The PhgDevice resource for the home gateway."""
    return {
        "resourceType": "Device",
        "meta": {"profile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhgDevice"]},
        "identifier": [
            _identifier(
                "SYSID", "IEEE 11073 System Identifier", SYSTEM_ID_SYSTEM, _dashed(gateway.key)
            )
        ],
        "manufacturer": "HomeVitals",
        "deviceName": [{"name": gateway.name, "type": "user-friendly-name"}],
        "type": {
            "coding": [{"system": MDC, "code": "531981", "display": "MDC_MOC_VMS_MDS_AHD"}],
            "text": "Personal Health Gateway",
        },
        "version": [
            {
                "type": {
                    "coding": [{"system": MDC, "code": "531975", "display": "MDC_ID_PROD_SPEC_SW"}]
                },
                "value": gateway.software_version,
            }
        ],
    }

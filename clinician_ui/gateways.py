"""The gateways page's rows from FHIR Devices (pure: no I/O, no clock, no language).

A home gateway is the PhgDevice its heartbeat replaces (`gateway/heartbeat.py`
`status_device`); its state, backlog and low batteries are read by
`summary.gateway_status`, the same reading the patient list's gateway column uses.
This module adds what only this page shows: each sensor the heartbeat reports (its
last contact and battery), joined to the sensor's own PhdDevice (by its Bluetooth
address) for its type, and the patients whose readings name the gateway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir_api.codes import codings

from .summary import (
    BATTERY_LOW_PERCENT,
    Gateway,
    GatewayState,
    first_quantity,
    gateway_status,
    status_properties,
)

__all__ = [
    "KIND_NAMES",
    "GatewayRow",
    "Sensor",
    "gateway_rows",
    "gateway_sensors",
    "is_gateway",
    "sensor_types",
]

MDC = "urn:iso:std:iso:11073:10101"
PHG_TYPE = "531981"  # MDC_MOC_VMS_MDS_AHD: a personal health gateway
# The heartbeat's sensor kinds (gateway.mapping.devices.DeviceKind) and the page's words
# for them (msgids): a nurse without the sensor's Device in reach still reads "cuff".
DEVICE_KIND_SYSTEM = "http://homevitals.org/fhir/CodeSystem/device-kind"
KIND_NAMES = {
    "blood-pressure": "Blood pressure cuff",
    "pulse-oximeter": "Pulse oximeter",
    "thermometer": "Thermometer",
    "weight-scale": "Weight scale",
    "glucose-meter": "Glucose meter",
    "heart-rate": "Heart rate monitor",
    "sleep": "Bed sleep sensor",
}


@dataclass(frozen=True, slots=True)
class Sensor:
    """One device the gateway talks to, as its last heartbeat reports it."""

    address: str
    kind: str | None  # the sensor Device's type text, when that Device is in reach
    contact_ms: int | None  # its last contact with the gateway (None: never)
    battery: float | None  # percent
    reported_kind: str | None = None  # a KIND_NAMES key, as the gateway's heartbeat says

    @property
    def battery_low(self) -> bool:
        """Under `BATTERY_LOW_PERCENT`: the page says so in words, not colour alone."""
        return self.battery is not None and self.battery < BATTERY_LOW_PERCENT


@dataclass(frozen=True, slots=True)
class GatewayRow:
    """One home gateway: its state, what waits to be sent, its patients and sensors."""

    id: str
    name: str
    status: Gateway
    queue: int | None  # readings waiting to be sent (None: not reported)
    oldest_unsent_s: float | None
    patients: tuple[tuple[str, str], ...]  # (Patient id, name), sorted by name
    sensors: tuple[Sensor, ...]


def is_gateway(device: Mapping[str, Any]) -> bool:
    """A gateway's Device: typed as a PHG, or carrying the heartbeat's status."""
    if (MDC, PHG_TYPE) in codings(device.get("type")):
        return True
    return bool(status_properties(device))


def _key(address: str) -> str:
    """An address compared without its separators or case (D0:00:… and d0-00-… match)."""
    return "".join(c for c in address.upper() if c.isalnum())


def sensor_types(devices: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The type text of each sensor Device, by its identifiers' normalised values."""
    found: dict[str, str] = {}
    for device in devices:
        kind = (device.get("type") or {}).get("text")
        if not isinstance(kind, str):
            continue
        for identifier in device.get("identifier", ()):
            value = identifier.get("value") if isinstance(identifier, dict) else None
            if isinstance(value, str) and value:
                found[_key(value)] = kind
    return found


def _instant_ms(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def gateway_sensors(
    device: Mapping[str, Any], kinds: Mapping[str, str] | None = None
) -> tuple[Sensor, ...]:
    """The sensors a gateway's Device reports, typed from `kinds` (`sensor_types`) if given."""
    kinds = kinds or {}
    status = status_properties(device)
    contact: dict[str, int | None] = {}
    reported: dict[str, str] = {}
    for prop in status.get("device-last-contact", ()):
        text = ((prop.get("valueCode") or [{}])[0] or {}).get("text")
        if isinstance(text, str) and " " in text:
            address, when = text.rsplit(" ", 1)
            contact[address] = None if when == "never" else _instant_ms(when)
            for concept in (prop.get("valueCode") or [])[1:]:
                for system, code in codings(concept):
                    if system == DEVICE_KIND_SYSTEM and code in KIND_NAMES:
                        reported[address] = code
    battery: dict[str, float | None] = {}
    for prop in status.get("device-battery", ()):
        named = ((prop.get("valueCode") or [{}])[0] or {}).get("text")
        if isinstance(named, str):
            battery[named] = first_quantity(prop)
    return tuple(
        Sensor(
            address,
            kinds.get(_key(address)),
            contact.get(address),
            battery.get(address),
            reported.get(address),
        )
        for address in sorted(contact.keys() | battery.keys())
    )


def _order(row: GatewayRow) -> tuple[int, str, str]:
    """Offline first, then unknown, then online; by name within each."""
    rank = {GatewayState.OFFLINE: 0, GatewayState.UNKNOWN: 1, GatewayState.ONLINE: 2}
    return (rank[row.status.state], row.name, row.id)


def gateway_rows(
    devices: Sequence[Mapping[str, Any]],
    patients: Mapping[str, Sequence[tuple[str, str]]],
    now_ms: int,
) -> list[GatewayRow]:
    """The rows of the gateways among `devices` (every Device in the caller's reach).

    `patients` maps "Device/id" to the (id, name) of the patients whose readings name
    that gateway. The other Devices (sensors) only lend their type to the sensors.
    """
    kinds = sensor_types(d for d in devices if not is_gateway(d))
    rows = []
    for device in devices:
        if not is_gateway(device):
            continue
        status = gateway_status(device, now_ms)
        properties = status_properties(device)
        queue = next((first_quantity(p) for p in properties.get("queue-depth", ())), None)
        oldest = next((first_quantity(p) for p in properties.get("oldest-unsent", ())), None)
        device_id = str(device.get("id", ""))
        rows.append(
            GatewayRow(
                id=device_id,
                name=status.name or device_id,
                status=status,
                queue=None if queue is None else int(queue),
                oldest_unsent_s=oldest,
                patients=tuple(
                    sorted(patients.get(f"Device/{device_id}", ()), key=lambda p: (p[1], p[0]))
                ),
                sensors=gateway_sensors(device, kinds),
            )
        )
    return sorted(rows, key=_order)

"""The heartbeat: the gateway's status as properties of its own (PHG) Device resource.

Every few minutes the gateway replaces its Device on the server with one that
carries its status, so the server always holds the latest one (and the history
every earlier one): software version, uptime, Bluetooth adapter state, queue
depth, age of the oldest unsent reading, rejected and quarantined counts, and
each device's last contact and battery level. The clinician view and the alerts
read it from there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .mapping import GatewayIdentity, gateway_device
from .mapping.codes import GATEWAY_STATUS_SYSTEM

__all__ = ["status_device"]


def _property(code: str, display: str, **value: Any) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": GATEWAY_STATUS_SYSTEM, "code": code, "display": display}]},
        **value,
    }


def _quantity(number: float, unit: str) -> dict[str, Any]:
    return {
        "value": round(number, 1),
        "unit": unit,
        "system": "http://unitsofmeasure.org",
        "code": unit,
    }


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def status_device(identity: GatewayIdentity, status: dict[str, Any]) -> dict[str, Any]:
    """The PhgDevice with the status (from `Gateway.status()`) as `property` entries."""
    device = gateway_device(identity)
    properties = [
        _property("uptime", "Uptime", valueQuantity=[_quantity(status["uptime_s"], "s")]),
        _property("bluetooth", "Bluetooth adapter", valueCode=[{"text": status["bluetooth"]}]),
        _property(
            "queue-depth",
            "Readings waiting",
            valueQuantity=[_quantity(status["queue_depth"], "{reading}")],
        ),
        _property(
            "rejected",
            "Readings refused",
            valueQuantity=[_quantity(status["rejected"], "{reading}")],
        ),
        _property(
            "quarantined",
            "Payloads quarantined",
            valueQuantity=[_quantity(status["quarantined"], "{payload}")],
        ),
        _property(
            "last-upload",
            "Last contact with the server",
            valueCode=[{"text": _when(status["last_upload_contact"])}],
        ),
    ]
    if status["oldest_unsent_age_s"] is not None:
        properties.append(
            _property(
                "oldest-unsent",
                "Oldest unsent reading",
                valueQuantity=[_quantity(status["oldest_unsent_age_s"], "s")],
            )
        )
    for address, device_status in sorted(status["devices"].items()):
        properties.append(
            _property(
                "device-last-contact",
                "Device last contact",
                valueCode=[{"text": f"{address} {_when(device_status['last_contact'])}"}],
            )
        )
        if device_status.get("battery") is not None:
            properties.append(
                _property(
                    "device-battery",
                    f"Battery of {address}",
                    valueQuantity=[_quantity(device_status["battery"], "%")],
                    valueCode=[{"text": address}],
                )
            )
    device["property"] = properties
    return device

"""The heartbeat: the gateway's status as properties of its own (PHG) Device resource.

The gateway replaces its Device on the server with one that carries its status:
software version, uptime, Bluetooth adapter state, storage state (a fault, values
held in memory, a damaged outbox set aside), queue depth, age of the oldest unsent
reading, rejected and quarantined counts, the outbox's size, and each device's last
contact, kind (so the clinic can say "cuff" where it sees no sensor Device) and
battery level. The clinic reads it through FHIR (`GET Device?identifier=…`);
`meta.lastUpdated` is the gateway's last report.

Bounded growth (issue 9): the server keeps every version of a resource, so a Device
replaced every five minutes grew by about 105,000 versions a year per home. The
status is still looked at every `heartbeat_interval` (5 min), but the Device is
replaced only when `HeartbeatPolicy` says so:

- at once when the status changes materially (`material()`): Bluetooth state,
  storage state, software version, rejected or quarantined counts, a backlog older
  than an hour appearing or clearing, a device added, a battery crossing a 10 % step;
- otherwise once per `keepalive` (6 hours by default), which refreshes uptime,
  queue depth and each device's last contact.

Growth per home and year: 365 * 24 / 6 = 1,460 keep-alive versions, plus one per
material change (a few a week in a quiet home: a battery step, a server outage
starting and ending), so about 1,500-2,000 versions instead of 105,000. A gateway
that is silent for longer than the keep-alive (plus a margin) is down, or cannot
reach the server. No server change is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from .errors import UploadError
from .mapping import GatewayIdentity, gateway_device
from .mapping.bundle import token_query
from .mapping.codes import DEVICE_KIND_SYSTEM, GATEWAY_STATUS_SYSTEM

__all__ = ["HeartbeatPolicy", "material", "put_status", "status_device"]

_BACKLOG_LATE_S = 3600.0  # unsent readings older than this are worth telling at once


def material(status: dict[str, Any]) -> dict[str, Any]:
    """The part of a status whose change is worth a new version of the Device at once."""
    oldest = status.get("oldest_unsent_age_s")
    return {
        "software_version": status.get("software_version"),
        "bluetooth": status.get("bluetooth"),
        "storage": "ok" if status.get("storage", "ok") == "ok" else "fault",
        "damaged_outbox": status.get("damaged_outbox"),
        "backlog_late": oldest is not None and oldest > _BACKLOG_LATE_S,
        "rejected": status.get("rejected"),
        "quarantined": status.get("quarantined"),
        "waiting_for_server": bool(status.get("waiting_for_server")),
        "devices": {
            address: None if d.get("battery") is None else int(d["battery"]) // 10
            for address, d in sorted(status.get("devices", {}).items())
        },
    }


@dataclass
class HeartbeatPolicy:
    """When to replace the gateway's Device: on a material change, or once per `keepalive` s.

    Pure: the heartbeat loop asks `due(status, now)` and reports `sent(status, now)`.
    """

    keepalive: float = 6 * 3600.0
    last_material: dict[str, Any] | None = None
    last_sent: float | None = None

    def due(self, status: dict[str, Any], now: float) -> bool:
        """Is a heartbeat worth sending now?"""
        if self.last_sent is None or self.last_material is None:
            return True
        return material(status) != self.last_material or now - self.last_sent >= self.keepalive

    def sent(self, status: dict[str, Any], now: float) -> None:
        """The server took this status."""
        self.last_material = material(status)
        self.last_sent = now


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
        _property("storage", "Storage", valueCode=[{"text": status.get("storage", "ok")}]),
        _property(
            "last-upload",
            "Last contact with the server",
            valueCode=[{"text": _when(status["last_upload_contact"])}],
        ),
    ]
    counted = (
        ("queue-depth", "Readings waiting", "queue_depth", "{reading}"),
        ("rejected", "Readings refused", "rejected", "{reading}"),
        (
            "waiting-for-server",
            "Readings for a Patient or Device the server does not hold yet",
            "waiting_for_server",
            "{reading}",
        ),
        ("quarantined", "Payloads quarantined", "quarantined", "{payload}"),
        ("held", "Readings held in memory (storage fault)", "held_values", "{reading}"),
        ("outbox-rows", "Rows in the outbox", "outbox_rows", "{row}"),
        ("outbox-size", "Size of the outbox", "outbox_bytes", "By"),
    )
    for code, display, key, unit in counted:
        if status.get(key) is not None:  # unknown while the outbox cannot be read
            properties.append(
                _property(code, display, valueQuantity=[_quantity(status[key], unit)])
            )
    if status.get("damaged_outbox"):
        properties.append(
            _property(
                "damaged-outbox",
                "Damaged outbox set aside",
                valueCode=[{"text": status["damaged_outbox"]}],
            )
        )
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
                valueCode=[
                    {"text": f"{address} {_when(device_status['last_contact'])}"},
                    # A second concept, so readers of the first (address and time) are unchanged.
                    *(
                        [{"coding": [{"system": DEVICE_KIND_SYSTEM, "code": kind}]}]
                        if (kind := device_status.get("kind"))
                        else []
                    ),
                ],
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


async def put_status(
    client: httpx.AsyncClient, device: dict[str, Any], system: str, value: str
) -> None:
    """Replace the gateway's Device on the server (found by its identifier), or create it.

    Args:
        client: an authenticated client on the FHIR base URL.
        device: the Device from `status_device`.
        system: the gateway identifier's system.
        value: the gateway identifier's value.

    Raises:
        UploadError: the server could not be reached or did not take the Device.
    """
    query = token_query("identifier", system, value)
    try:
        found = await client.get("Device?" + query)
        if found.status_code != 200:
            raise UploadError(f"heartbeat: searching the Device answered HTTP {found.status_code}")
        entries = found.json().get("entry", [])
        if entries:
            device_id = entries[0]["resource"]["id"]
            response = await client.put(f"Device/{device_id}", json={**device, "id": device_id})
        else:
            response = await client.post("Device", json=device, headers={"If-None-Exist": query})
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise UploadError(f"heartbeat: {exc}") from exc
    if response.status_code not in (200, 201):
        raise UploadError(f"heartbeat: HTTP {response.status_code}")

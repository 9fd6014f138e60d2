"""Unassigned readings as the /unassigned page lists them, and the assignment (pure).

A gateway uploads a reading whose device (or user slot) is bound to no patient with
the device as its subject (PHD IG; `gateway.mapping.observations`). Staff see those
of the gateways serving their patients and assign each to the right patient: the
Observation rewritten with `subject` Patient/<id>. The patient's zone is unknown
until then, so times are shown in the zone the caller passes (the server's).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from .charts import Reading, reading_of

__all__ = [
    "KIND_NAMES",
    "UnassignedRow",
    "assigned",
    "device_label",
    "subject_device",
    "unassigned_rows",
]

# msgids of the catalogs (the page translates them).
KIND_NAMES = {"bp": "Blood pressure", "pulse": "Pulse", "spo2": "SpO2"}
_UNITS = {"bp": "mmHg", "pulse": "/min", "spo2": "%"}


@dataclass(frozen=True, slots=True)
class UnassignedRow:
    """One unassigned reading: its id, version (for If-Match), device and values."""

    id: str
    version: str
    device: str
    reading: Reading | None  # None: a reading the charts do not show (still assignable)
    code: str  # the Observation's code text, for a reading with no chartable values

    @property
    def kind(self) -> str:
        return self.reading.kind if self.reading else ""

    @property
    def value_text(self) -> str:
        """`152/96 mmHg`, `72 /min`, `97 %`; empty when not a chartable reading."""
        if self.reading is None:
            return ""
        numbers = "/".join(f"{value:g}" for value in self.reading.values)
        return f"{numbers} {_UNITS[self.reading.kind]}"


def device_label(device: Mapping[str, Any] | None, reference: str) -> str:
    """How a person names a device: its name, else model and serial, else its reference."""
    if not device:
        return reference
    for entry in device.get("deviceName", ()):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"]:
            return str(entry["name"])
    parts = [device.get("manufacturer"), device.get("modelNumber"), device.get("serialNumber")]
    text = " ".join(p for p in parts if isinstance(p, str) and p)
    if text:
        return text
    for identifier in device.get("identifier", ()):
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            return str(identifier["value"])
    return reference


def _code_text(resource: Mapping[str, Any]) -> str:
    concept = resource.get("code")
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in concept.get("coding", ()):
        if isinstance(coding, dict):
            text = coding.get("display") or coding.get("code")
            if isinstance(text, str):
                return text
    return ""


def subject_device(resource: Mapping[str, Any]) -> str | None:
    """`Device/<id>` when the Observation's subject is a Device (unassigned), else None."""
    subject = resource.get("subject")
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if isinstance(reference, str) and reference.startswith("Device/"):
        return reference
    return None


def unassigned_rows(
    observations: Iterable[tuple[Mapping[str, Any], str]],
    devices: Mapping[str, Mapping[str, Any]],
    zone: tzinfo,
) -> list[UnassignedRow]:
    """The rows of (Observation, version id) pairs whose subject is a Device, newest first.

    `devices` maps "Device/<id>" to the Device (those in reach); readings without a
    time sort last (a device with no clock still has readings to assign).
    """
    rows = []
    for resource, version in observations:
        device = subject_device(resource)
        if device is None:
            continue
        rows.append(
            UnassignedRow(
                id=str(resource.get("id", "")),
                version=version,
                device=device_label(devices.get(device), device),
                reading=reading_of(resource, zone),
                code=_code_text(resource),
            )
        )
    rows.sort(key=lambda r: r.reading.at.timestamp() if r.reading else float("-inf"), reverse=True)
    return rows


def assigned(resource: Mapping[str, Any], patient_id: str) -> dict[str, Any]:
    """The Observation with `patient_id` as subject; the device stays named as `device`
    (the PHD IG's place for the measuring device) when the reading did not name one."""
    content = copy.deepcopy(dict(resource))
    device = subject_device(content)
    content["subject"] = {"reference": f"Patient/{patient_id}"}
    if device is not None and not content.get("device"):
        content["device"] = {"reference": device}
    return content

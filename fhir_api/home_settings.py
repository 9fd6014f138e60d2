"""Settings from the clinic for a patient's home gateway (pure; issue 14).

Where they live: on the Patient, as one extension `home-settings`. They are the
patient's own (their language, their measurement times, whether they want their
values read aloud), staff who may update the patient (Patient.u: time zone, targets)
are the ones who keep them, and the Patient's history and audit trail record each
change. Not on the gateway's Device: the gateway replaces that with every heartbeat.

What the gateway reads: `GET /fhir/Device/$gateway-settings`, a `Parameters` the
server computes from the settings of the patients its token is bound to (one home,
one speaker: the first patient by id who sets a voice option decides it; each
patient's reminder times and read-aloud choice are their own). Its ETag lets the
gateway poll cheaply (If-None-Match, 304).

Extension shape::

    {"url": HOME_SETTINGS, "extension": [
        {"url": "language", "valueCode": "ja"},            # ja | en
        {"url": "speech", "valueBoolean": true},
        {"url": "volume", "valueInteger": 70},             # 0..100
        {"url": "quietHours", "valueString": "21:00-07:00"},
        {"url": "readValuesAloud", "valueBoolean": false},
        {"url": "reminder", "extension": [                 # one per kind of device
            {"url": "kind", "valueCode": "blood-pressure"},
            {"url": "time", "valueTime": "07:00:00"},
            {"url": "time", "valueTime": "19:00:00"}]},
        {"url": "device", "extension": [                   # one per device (user slot)
            {"url": "address", "valueString": "AA:BB:CC:DD:EE:01"},
            {"url": "kind", "valueCode": "blood-pressure"},
            {"url": "slot", "valueInteger": 2}]}]}         # absent: the whole device

Which devices of the home read for whom (the bindings) live here too, as "this
patient's readings come from device <address> (user slot <n>)": staff who may update
the patient (Patient.u) are the ones who may bind a device to them, a binding can only
ever name the Patient it sits on (so never a patient outside the home: the gateway
reads only its own patients), and each change is in the Patient's history. Not on
the Device resources the gateway creates: it replaces them with every heartbeat.
When two of a home's patients claim the same device and slot, the first by id holds
it (`gateway_parameters`), as for the voice options.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "DEVICE_KINDS",
    "HOME_SETTINGS",
    "LANGUAGES",
    "DeviceBinding",
    "HomeSettings",
    "Reminder",
    "gateway_parameters",
    "normal_address",
    "parameters_etag",
    "settings_of",
    "settings_problems",
    "with_settings",
]

HOME_SETTINGS = "http://homevitals.org/fhir/StructureDefinition/home-settings"
LANGUAGES = ("ja", "en")
# The kinds of sensor a gateway reminds about (the gateway's DeviceKind values).
DEVICE_KINDS = (
    "blood-pressure",
    "pulse-oximeter",
    "thermometer",
    "weight-scale",
    "glucose-meter",
    "heart-rate",
    "sleep",
)
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
# A Bluetooth address as the gateway knows it (BlueZ: a MAC; macOS: a UUID).
_ADDRESS = re.compile(
    r"^([0-9A-F]{2}[:-]){5}[0-9A-F]{2}$|^[0-9A-F]{8}-([0-9A-F]{4}-){3}[0-9A-F]{12}$", re.IGNORECASE
)
_QUIET = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")


@dataclass(frozen=True, slots=True)
class Reminder:
    """Measurement times ("07:00") for one kind of device."""

    kind: str
    times: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    """A device of the home whose readings (from one user slot, or all) are this patient's."""

    address: str
    kind: str
    slot: int | None = None


def normal_address(address: str) -> str:
    """One spelling per address, as gateway/bindings.py compares them."""
    return address.upper().replace("-", ":") if len(address) == 17 else address.upper()


@dataclass(frozen=True, slots=True)
class HomeSettings:
    """One patient's settings; None means "not set here" (the gateway keeps its own)."""

    language: str | None = None
    speech: bool | None = None
    volume: int | None = None
    quiet_hours: str | None = None
    read_values_aloud: bool = False
    reminders: tuple[Reminder, ...] = field(default_factory=tuple)
    devices: tuple[DeviceBinding, ...] = field(default_factory=tuple)


def _sub(extension: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [
        e for e in extension.get("extension", ()) if isinstance(e, dict) and e.get("url") == url
    ]


def _value(extension: dict[str, Any], url: str, key: str) -> Any:
    found = _sub(extension, url)
    return found[0].get(key) if found else None


def _own(patient: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e
        for e in patient.get("extension", ())
        if isinstance(e, dict) and e.get("url") == HOME_SETTINGS
    ]


def settings_problems(patient: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """What is wrong with a Patient's home-settings extension (a validation rule: 400)."""
    found = _own(patient)
    issues: list[tuple[str, str]] = []
    if len(found) > 1:
        issues.append(("a Patient has one home-settings extension", f"{path}.extension"))
    for extension in found:
        where = f"{path}.extension('{HOME_SETTINGS}')"
        known = {"language", "speech", "volume", "quietHours", "readValuesAloud"}
        known |= {"reminder", "device"}
        for inner in extension.get("extension", ()):
            if isinstance(inner, dict) and inner.get("url") not in known:
                issues.append((f"home-settings has no setting {inner.get('url')!r}", where))
        for url in known - {"reminder", "device"}:
            if len(_sub(extension, url)) > 1:
                issues.append((f"home-settings sets {url} once", f"{where}.{url}"))
        language = _value(extension, "language", "valueCode")
        if language is not None and language not in LANGUAGES:
            issues.append((f"language {language!r} is not one of {', '.join(LANGUAGES)}", where))
        volume = _value(extension, "volume", "valueInteger")
        if volume is not None and not 0 <= volume <= 100:
            issues.append((f"volume {volume} is not between 0 and 100", f"{where}.volume"))
        quiet = _value(extension, "quietHours", "valueString")
        if quiet is not None and not _QUIET.match(str(quiet)):
            issues.append((f"quietHours {quiet!r} is not HH:MM-HH:MM", f"{where}.quietHours"))
        kinds: set[str] = set()
        for reminder in _sub(extension, "reminder"):
            kind = _value(reminder, "kind", "valueCode")
            if kind not in DEVICE_KINDS:
                issues.append((f"a reminder's kind {kind!r} is not a kind of device", where))
            elif kind in kinds:
                issues.append((f"one reminder per kind of device ({kind} twice)", where))
            kinds.add(str(kind))
            for time in _sub(reminder, "time"):
                text = str(time.get("valueTime", ""))
                if not text.endswith(":00") or not _CLOCK.match(text[:5]):
                    issues.append((f"a reminder time {text!r} is not on the minute", where))
        issues += _device_problems(extension, f"{where}.device")
    return issues


def _device_problems(extension: dict[str, Any], where: str) -> list[tuple[str, str]]:
    issues: list[tuple[str, str]] = []
    seen: set[tuple[str, int | None]] = set()
    for device in _sub(extension, "device"):
        for inner in device.get("extension", ()):
            if isinstance(inner, dict) and inner.get("url") not in {"address", "kind", "slot"}:
                issues.append((f"a device binding has no field {inner.get('url')!r}", where))
        for url in ("address", "kind", "slot"):
            if len(_sub(device, url)) > 1:
                issues.append((f"a device binding has one {url}", where))
        address = _value(device, "address", "valueString")
        kind = _value(device, "kind", "valueCode")
        slot = _value(device, "slot", "valueInteger")
        if not isinstance(address, str) or not _ADDRESS.match(address):
            issues.append((f"a device address {address!r} is not a Bluetooth address", where))
            continue
        if kind not in DEVICE_KINDS:
            issues.append((f"a device's kind {kind!r} is not a kind of device", where))
        if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int) or slot < 1):
            issues.append((f"a user slot {slot!r} is not a number from 1", where))
            continue
        key = (normal_address(address), slot)
        if key in seen:
            issues.append((f"device {address} slot {slot} is bound twice", where))
        seen.add(key)
    return issues


def settings_of(patient: dict[str, Any]) -> HomeSettings | None:
    """The settings a (validated) Patient carries, or None."""
    found = _own(patient)
    if not found:
        return None
    extension = found[0]
    reminders = tuple(
        Reminder(
            str(_value(r, "kind", "valueCode")),
            tuple(sorted(str(t["valueTime"])[:5] for t in _sub(r, "time"))),
        )
        for r in _sub(extension, "reminder")
    )
    return HomeSettings(
        language=_value(extension, "language", "valueCode"),
        speech=_value(extension, "speech", "valueBoolean"),
        volume=_value(extension, "volume", "valueInteger"),
        quiet_hours=_value(extension, "quietHours", "valueString"),
        read_values_aloud=bool(_value(extension, "readValuesAloud", "valueBoolean")),
        reminders=tuple(r for r in reminders if r.times),
        devices=tuple(
            DeviceBinding(
                normal_address(str(_value(d, "address", "valueString"))),
                str(_value(d, "kind", "valueCode")),
                _value(d, "slot", "valueInteger"),
            )
            for d in _sub(extension, "device")
        ),
    )


def _extension(settings: HomeSettings) -> dict[str, Any]:
    inner: list[dict[str, Any]] = []
    for url, key, value in (
        ("language", "valueCode", settings.language),
        ("speech", "valueBoolean", settings.speech),
        ("volume", "valueInteger", settings.volume),
        ("quietHours", "valueString", settings.quiet_hours),
        ("readValuesAloud", "valueBoolean", settings.read_values_aloud),
    ):
        if value is not None:
            inner.append({"url": url, key: value})
    for reminder in settings.reminders:
        if reminder.times:
            inner.append(
                {
                    "url": "reminder",
                    "extension": [
                        {"url": "kind", "valueCode": reminder.kind},
                        *({"url": "time", "valueTime": f"{t}:00"} for t in reminder.times),
                    ],
                }
            )
    for device in settings.devices:
        parts: list[dict[str, Any]] = [
            {"url": "address", "valueString": device.address},
            {"url": "kind", "valueCode": device.kind},
        ]
        if device.slot is not None:
            parts.append({"url": "slot", "valueInteger": device.slot})
        inner.append({"url": "device", "extension": parts})
    return {"url": HOME_SETTINGS, "extension": inner}


def with_settings(patient: dict[str, Any], settings: HomeSettings) -> dict[str, Any]:
    """A copy of `patient` carrying `settings` (replacing any it had)."""
    others = [e for e in patient.get("extension", ()) if e not in _own(patient)]
    return {**patient, "extension": [*others, _extension(settings)]}


def gateway_parameters(patients: Sequence[tuple[str, HomeSettings | None]]) -> dict[str, Any]:
    """The `Parameters` a home gateway reads: its patients' settings merged for one home.

    Voice options (language, speech, volume, quiet hours) are the home's: the first
    patient by id who sets each decides it. Read-aloud and reminders stay per patient.
    Device bindings: one patient per device and slot, the first by id who claims it.
    """
    chosen: dict[str, Any] = {}
    devices: dict[tuple[str, int | None], dict[str, Any]] = {}
    read_for: list[str] = []
    reminders: list[dict[str, Any]] = []
    for patient_id, settings in sorted(patients, key=lambda p: p[0]):
        if settings is None:
            continue
        for name, value in (
            ("language", settings.language),
            ("speech", settings.speech),
            ("volume", settings.volume),
            ("quietHours", settings.quiet_hours),
        ):
            if value is not None:
                chosen.setdefault(name, value)
        if settings.read_values_aloud:
            read_for.append(patient_id)
        for reminder in settings.reminders:
            reminders.append(
                {
                    "name": "reminder",
                    "part": [
                        {"name": "patient", "valueString": patient_id},
                        {"name": "kind", "valueCode": reminder.kind},
                        *({"name": "time", "valueTime": f"{t}:00"} for t in reminder.times),
                    ],
                }
            )
        for device in settings.devices:
            parts: list[dict[str, Any]] = [
                {"name": "address", "valueString": device.address},
                {"name": "kind", "valueCode": device.kind},
                {"name": "patient", "valueString": patient_id},
            ]
            if device.slot is not None:
                parts.append({"name": "slot", "valueInteger": device.slot})
            devices.setdefault((device.address, device.slot), {"name": "device", "part": parts})
    keys = {"language": "valueCode", "speech": "valueBoolean", "volume": "valueInteger"}
    parameter: list[dict[str, Any]] = [
        {"name": name, keys.get(name, "valueString"): value} for name, value in chosen.items()
    ]
    parameter += [{"name": "readValuesFor", "valueString": p} for p in read_for]
    parameter += reminders
    parameter += list(devices.values())
    return {"resourceType": "Parameters", "parameter": parameter}


def parameters_etag(parameters: dict[str, Any]) -> str:
    """A weak ETag of the computed settings: equal settings, equal tag."""
    digest = hashlib.sha256(orjson.dumps(parameters, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f'W/"{digest[:32]}"'

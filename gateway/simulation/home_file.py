"""A simulated home described in a JSON file, for `homevitals gateway run --simulate`.

    {"devices": [{"kind": "blood-pressure", "address": "D0:00:00:00:10:01",
                  "resend": true, "readings": [[128, 84, 70, 1, "2026-11-27T07:02:00"], ...]},
                 {"kind": "pulse-oximeter", "address": "D0:00:00:00:1A:01",
                  "readings": [[97, 68, "2026-11-27T07:10:00"], ...]},
                 {"kind": "sleep", "address": "D0:00:00:00:1B:01",
                  "readings": [[1, 2, "2026-11-27T23:00:00", 600, 54], ...]}]}

A cuff's reading is systolic, diastolic, pulse, user slot and the device-clock time
(a thermometer's: Celsius and time; a scale's: kilograms and time), then `true` once
the device has had it confirmed. An oximeter's record is SpO2, pulse and time. A
sleep sensor's epoch is its sequence number, stage (1 awake, 2 light, 3 deep, 4 REM),
start, length in seconds and heart rate.

The file is the devices' memory, not only their starting point. It is read at
start-up and written back (whole, by an atomic rename) at the moment a device's
memory changes, as a real device writes its flash: a cuff marks a reading sent when
the gateway's confirmation of its indication arrives, and then sends it no more
(unless `resend`); an oximeter erases its records when the gateway deletes them
(RACP), a sleep sensor the epochs up to the sequence number the gateway names. So
the home outlives the gateway's process, and a reading that a killed gateway had
taken over without committing it is gone, as it would be at home. A test may add
readings while no gateway runs (measuring goes on between crashes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .bus import VirtualBus
from .peripherals import (
    BloodPressureCuff,
    EmulatedPeripheral,
    IndicatingDevice,
    PulseOximeter,
    SleepSensor,
    Thermometer,
    WeightScale,
)

__all__ = ["start_home"]

_Snapshot = Callable[[], list[list[Any]]]


class _HomeFile:
    """The file a home's devices keep their memory in."""

    def __init__(self, path: Path, document: dict[str, Any]) -> None:
        self.path = path
        self.document = document
        self._snapshots: list[tuple[dict[str, Any], _Snapshot]] = []

    def keep(self, spec: dict[str, Any], snapshot: _Snapshot) -> None:
        """Write `snapshot()` as `spec`'s readings whenever the home is saved."""
        self._snapshots.append((spec, snapshot))

    def save(self) -> None:
        """Write every device's memory; a kill leaves the old file or the new, never half."""
        for spec, snapshot in self._snapshots:
            spec["readings"] = snapshot()
        temporary = self.path.with_name(self.path.name + ".saving")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(self.document, file)
        os.replace(temporary, self.path)


def _indicating(device: IndicatingDevice, entries: list[list[Any]], width: int) -> _Snapshot:
    """A cuff's, thermometer's or scale's readings, each flagged once it is confirmed."""
    pairs = list(zip(device.memory, entries, strict=True))
    return lambda: [[*entry[:width], *([True] if record.sent else [])] for record, entry in pairs]


def _erasable(device: PulseOximeter, entries: list[list[Any]]) -> _Snapshot:
    """An oximeter's records that the gateway has not deleted yet."""
    pairs = list(zip(device.memory, entries, strict=True))
    return lambda: [entry for payload, entry in pairs if any(payload is m for m in device.memory)]


def _sequenced(device: SleepSensor, entries: list[list[Any]]) -> _Snapshot:
    """A sleep sensor's epochs that the gateway has not deleted yet."""

    def snapshot() -> list[list[Any]]:
        kept = {sequence for sequence, _ in device.memory}
        return [entry for entry in entries if entry[0] in kept]

    return snapshot


def _sent(entry: list[Any], width: int) -> bool:
    return len(entry) > width and entry[width] is True


def _build(spec: dict[str, Any], home: _HomeFile) -> EmulatedPeripheral:
    entries: list[list[Any]] = spec.get("readings", [])
    if spec["kind"] == "blood-pressure":
        cuff = BloodPressureCuff(spec["address"], name=spec.get("name", "BP Cuff"))
        cuff.resend_sent = bool(spec.get("resend", False))
        for systolic, diastolic, pulse, user, when, *_ in entries:
            cuff.measure(systolic, diastolic, pulse, user=user, when=datetime.fromisoformat(when))
        for record, entry in zip(cuff.memory, entries, strict=True):
            record.sent = _sent(entry, 5)
        home.keep(spec, _indicating(cuff, entries, 5))
        return cuff
    if spec["kind"] in ("thermometer", "weight-scale"):
        device: Thermometer | WeightScale
        if spec["kind"] == "thermometer":
            device = Thermometer(spec["address"], spec.get("name", "Thermometer"))
        else:
            device = WeightScale(spec["address"], spec.get("name", "Scale"))
        for value, when, *_ in entries:
            device.measure(value, when=datetime.fromisoformat(when))
        for record, entry in zip(device.memory, entries, strict=True):
            record.sent = _sent(entry, 2)
        home.keep(spec, _indicating(device, entries, 2))
        return device
    if spec["kind"] == "pulse-oximeter":
        oximeter = PulseOximeter(spec["address"], spec.get("name", "Oximeter"))
        for spo2, pulse, when in entries:
            oximeter.measure(spo2, pulse, when=datetime.fromisoformat(when))
        home.keep(spec, _erasable(oximeter, entries))
        return oximeter
    if spec["kind"] == "sleep":
        sensor = SleepSensor(spec["address"], spec.get("name", "Sleep Sensor"))
        for sequence, stage, start, seconds, heart_rate in entries:
            sensor.store_epoch(
                sequence,
                datetime.fromisoformat(start),
                stage,
                epoch_s=seconds,
                heart_rate=heart_rate,
            )
        home.keep(spec, _sequenced(sensor, entries))
        return sensor
    raise ValueError(f"the home file cannot emulate a {spec['kind']!r} yet")


async def start_home(path: Path, bus: VirtualBus) -> list[EmulatedPeripheral]:
    """Build and start the emulated devices the file describes; they save it as they change."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    home = _HomeFile(path, document)
    devices: list[EmulatedPeripheral] = []
    for spec in document.get("devices", []):
        device = _build(spec, home)
        device.on_memory_change = home.save
        await device.start(bus)
        devices.append(device)
    return devices

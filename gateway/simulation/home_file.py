"""A simulated home described in a JSON file, for `homevitals gateway run --simulate`.

    {"devices": [{"kind": "blood-pressure", "address": "D0:00:00:00:10:01",
                  "resend": true, "readings": [[128, 84, 70, 1, "2026-11-27T07:02:00"], ...]}]}

Each reading is systolic, diastolic, pulse, user slot and the device-clock time.
The file is read at start-up, so a test can add readings between restarts.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .bus import VirtualBus
from .peripherals import BloodPressureCuff, EmulatedPeripheral, Thermometer, WeightScale

__all__ = ["start_home"]


async def start_home(path: Path, bus: VirtualBus) -> list[EmulatedPeripheral]:
    """Build and start the emulated devices the file describes."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    devices: list[EmulatedPeripheral] = []
    for spec in document.get("devices", []):
        device: EmulatedPeripheral
        if spec["kind"] == "blood-pressure":
            cuff = BloodPressureCuff(spec["address"], name=spec.get("name", "BP Cuff"))
            cuff.resend_sent = bool(spec.get("resend", False))
            for systolic, diastolic, pulse, user, when in spec.get("readings", []):
                cuff.measure(
                    systolic, diastolic, pulse, user=user, when=datetime.fromisoformat(when)
                )
            device = cuff
        elif spec["kind"] == "thermometer":
            thermometer = Thermometer(spec["address"], spec.get("name", "Thermometer"))
            for celsius, when in spec.get("readings", []):
                thermometer.measure(celsius, when=datetime.fromisoformat(when))
            device = thermometer
        elif spec["kind"] == "weight-scale":
            scale = WeightScale(spec["address"], spec.get("name", "Scale"))
            for kilograms, when in spec.get("readings", []):
                scale.measure(kilograms, when=datetime.fromisoformat(when))
            device = scale
        else:
            raise ValueError(f"the home file cannot emulate a {spec['kind']!r} yet")
        await device.start(bus)
        devices.append(device)
    return devices

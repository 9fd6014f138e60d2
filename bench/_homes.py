"""Uploads from many homes, as a city's gateways send them (for ingest.py and load.py).

Every home has its own gateway, its own patient and its own devices (a cuff, an
oximeter, a thermometer, a scale, each with its own address and EUI-64), and
its readings have their own values and times, so the server's element memo sees
what it sees in the field: the codes, categories and units repeat, the devices,
subjects, identifiers and values mostly do not. Bundles are built by the
gateway's own mapper, with conditional creates, as the gateway sends them.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from device_adapters import (
    BloodPressureMeasurement,
    PlxSpotCheckMeasurement,
    Quantity,
    TemperatureMeasurement,
    Unit,
    WeightMeasurement,
)
from gateway.mapping import (
    GatewayIdentity,
    MappingContext,
    PatientLink,
    SensorIdentity,
    map_reading,
    transaction_bundle,
    upload_entries,
)
from gateway.mapping.devices import DeviceKind

KINDS = (
    DeviceKind.BLOOD_PRESSURE,
    DeviceKind.PULSE_OXIMETER,
    DeviceKind.THERMOMETER,
    DeviceKind.WEIGHT_SCALE,
)
# The LOINC codes the readings above produce, for searches and $stats.
CODES = ("85354-9", "8480-6", "8462-4", "8867-4", "59408-5", "2708-6", "8310-5", "29463-7")


@dataclass(frozen=True)
class Home:
    """One home: its gateway, its patient (a logical id) and its devices."""

    index: int
    gateway: GatewayIdentity
    patient_id: str
    sensors: tuple[SensorIdentity, ...]

    @property
    def patient(self) -> PatientLink:
        return PatientLink(logical_id=self.patient_id)


def make_homes(count: int, prefix: str = "home") -> list[Home]:
    """`count` homes with distinct gateways, patients and devices."""
    homes = []
    for n in range(count):
        sensors = tuple(
            SensorIdentity(
                ":".join(f"{b:02X}" for b in (0xD0, k, n >> 16 & 255, n >> 8 & 255, n & 255, 1)),
                kind,
                system_id=f"{0xFEEDA000 + k:08X}{n:08X}",
                manufacturer="Bench",
                model=f"{kind.value}-{n % 7}",
            )
            for k, kind in enumerate(KINDS)
        )
        homes.append(
            Home(
                n,
                GatewayIdentity(f"B827EB{n:010X}", f"1.{n % 3}"),
                f"{prefix}-{n:05d}",
                sensors,
            )
        )
    return homes


def patient_resource(home: Home) -> dict[str, object]:
    """The Patient a home's readings refer to (PUT before the uploads)."""
    return {
        "resourceType": "Patient",
        "id": home.patient_id,
        "name": [{"family": f"Home{home.index}", "given": ["Bench"]}],
        "birthDate": f"{1930 + home.index % 60}-0{1 + home.index % 9}-1{home.index % 10}",
    }


def _reading(kind: DeviceKind, rng: random.Random, when: datetime) -> object:
    if kind is DeviceKind.BLOOD_PRESSURE:
        systolic = rng.randint(100, 170)
        diastolic = rng.randint(60, 100)
        return BloodPressureMeasurement(
            Quantity(float(systolic), Unit.MM_HG),
            Quantity(float(diastolic), Unit.MM_HG),
            Quantity(float((systolic + 2 * diastolic) // 3), Unit.MM_HG),
            device_time=when,
            pulse_rate=Quantity(float(rng.randint(50, 100)), Unit.PER_MIN),
        )
    if kind is DeviceKind.PULSE_OXIMETER:
        return PlxSpotCheckMeasurement(
            Quantity(float(rng.randint(90, 100)), Unit.PERCENT),
            Quantity(float(rng.randint(50, 110)), Unit.PER_MIN),
            device_time=when,
        )
    if kind is DeviceKind.THERMOMETER:
        return TemperatureMeasurement(
            Quantity(round(rng.uniform(35.8, 38.5), 1), Unit.CELSIUS), device_time=when
        )
    return WeightMeasurement(
        Quantity(round(rng.uniform(45, 110) / 0.005) * 0.005, Unit.KILOGRAM), device_time=when
    )


def home_upload(
    home: Home, readings: int, rng: random.Random, start: datetime
) -> tuple[bytes, list[bytes]]:
    """A transaction Bundle of `readings` readings of one of `home`'s devices, and their
    Observations' JSON (for the bare-validation yardstick)."""
    sensor = rng.choice(home.sensors)
    resources = []
    when = start
    for _ in range(readings):
        when += timedelta(minutes=rng.randint(5, 600), seconds=rng.randint(0, 59))
        received = when.replace(tzinfo=UTC) - timedelta(hours=9) + timedelta(seconds=20)
        ctx = MappingContext(sensor, home.gateway, home.patient, received)
        resources.extend(map_reading(_reading(sensor.kind, rng, when), ctx))  # type: ignore[arg-type]
    entries = upload_entries(resources, sensor, home.gateway, home.patient)
    return (
        json.dumps(transaction_bundle(entries)).encode(),
        [json.dumps(r).encode() for r in resources],
    )

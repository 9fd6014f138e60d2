"""The representative readings behind `tests/fixtures/fhir/*.json`, the gateway-server contract.

Each case starts from Bluetooth bytes, goes through `device_adapters.parse` and
the mapper, and ends as the transaction Bundle the uploader sends. The gateway's
tests check that the mapper still produces exactly these files; the server's
tests upload them. A change to either side is a deliberate change to both:
regenerate with `python -m tests.gateway.fixture_cases` and review the diff.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import device_adapters as da
from device_adapters import uuids
from gateway.mapping import (
    ClockSample,
    GatewayIdentity,
    MappingContext,
    PatientLink,
    SensorIdentity,
    map_reading,
    map_sleep_night,
    nights_from_epochs,
    transaction_bundle,
    upload_entries,
)
from gateway.mapping.devices import DeviceKind
from gateway.mapping.sleep_samples import map_epoch_samples

from ..device_adapters import captures

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"

GATEWAY = GatewayIdentity("B827EBFFFE4A6C01", "0.1.0", "Tanaka home gateway")
CUFF = SensorIdentity(
    "D0:00:00:00:00:02",
    DeviceKind.BLOOD_PRESSURE,
    system_id="FEEDABEEDEAD77C3",
    manufacturer="Example Medical",
    model="BP-100",
    serial="5140001",
    firmware="1.2.0",
)
OXIMETER = SensorIdentity(
    "D0:00:00:00:00:03",
    DeviceKind.PULSE_OXIMETER,
    manufacturer="Example Medical",
    model="OX-20",
    serial="OX20-0042",
)
THERMOMETER = SensorIdentity("D0:00:00:00:00:04", DeviceKind.THERMOMETER, model="TH-1")
SCALE = SensorIdentity("D0:00:00:00:00:05", DeviceKind.WEIGHT_SCALE, model="SC-3")
GLUCOMETER = SensorIdentity("D0:00:00:00:00:06", DeviceKind.GLUCOSE_METER, model="GL-7")
HEART_MONITOR = SensorIdentity("D0:00:00:00:00:07", DeviceKind.HEART_RATE, model="HR-5")
SLEEP_SENSOR = SensorIdentity("D0:00:00:00:00:08", DeviceKind.SLEEP, model="SL-1")

TANAKA = PatientLink(logical_id="tanaka-hanako")
BY_IDENTIFIER = PatientLink(
    identifier_system="urn:oid:1.2.392.100495.20.3.51.1", identifier_value="00012345"
)

RECEIVED = datetime(2024, 11, 27, 1, 31, 5, 250000, tzinfo=UTC)  # 10:31:05 in Tokyo
CLOCK_IN_STEP = ClockSample(
    datetime(2024, 11, 27, 10, 30, 0), datetime(2024, 11, 27, 1, 30, 0, tzinfo=UTC)
)
CLOCK_TWO_MINUTES_SLOW = ClockSample(
    datetime(2024, 11, 27, 10, 28, 0), datetime(2024, 11, 27, 1, 30, 0, tzinfo=UTC)
)

# SYNTHETIC: 36.8 Cel (FLOAT 0xFF000170) in the armpit, 2024-11-27 07:10:00.
TEMPERATURE_ARMPIT = bytes.fromhex("06700100ffe8070b1b070a0001")
# SYNTHETIC: 122/80 MAP 96 mmHg, 2024-11-27 10:30:00, pulse 72, user 1, irregular pulse.
BPM_IRREGULAR = bytes.fromhex("1e7a0050006000e8070b1b0a1e004800010400")


def sleep_epoch_payload(
    sequence: int, start: datetime, stage: da.SleepStage, hr: int, rr: int, seconds: int = 300
) -> bytes:
    """An open-profile Sleep Epoch Record (5 minutes unless told) with heart and breathing rate."""
    stamp = struct.pack("<HBBBBB", start.year, start.month, start.day, start.hour, start.minute, 0)
    return (
        bytes([0x03])
        + struct.pack("<H", sequence)
        + stamp
        + struct.pack("<HB", seconds, stage)
        + struct.pack("<HH", hr, rr)
    )


# SYNTHETIC: a short night, 23:00 to 01:00 in 5-minute epochs.
NIGHT_STAGES = (
    [da.SleepStage.AWAKE] * 3
    + [da.SleepStage.LIGHT] * 6
    + [da.SleepStage.DEEP] * 8
    + [da.SleepStage.REM] * 4
    + [da.SleepStage.LIGHT] * 2
    + [da.SleepStage.AWAKE]
)
NIGHT = [
    sleep_epoch_payload(
        100 + i,
        datetime(2024, 11, 26, 23, 0) + i * timedelta(minutes=5),
        stage,
        58 - (i % 5),
        14,
    )
    for i, stage in enumerate(NIGHT_STAGES)
]


@dataclass(frozen=True)
class Case:
    """One fixture: readings from one sensor in one connection."""

    sensor: SensorIdentity
    patient: PatientLink | None
    payloads: tuple[tuple[str, bytes], ...]
    clock: ClockSample | None = None
    night: bool = False
    received_at: datetime = RECEIVED
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def context(self) -> MappingContext:
        return MappingContext(self.sensor, GATEWAY, self.patient, self.received_at, self.clock)

    def observations(self) -> list[dict[str, Any]]:
        ctx = self.context()
        readings = [da.parse(uuid, payload) for uuid, payload in self.payloads]
        if self.night:
            # A session's epochs as the gateway sends them since issue 15: one SampledData
            # per signal (heart rate, breathing rate, stage), then the night's summary.
            epochs = [r for r in readings if isinstance(r, da.SleepEpoch)]
            return [
                *map_epoch_samples(epochs, ctx),
                *(o for night in nights_from_epochs(epochs) for o in map_sleep_night(night, ctx)),
            ]
        return [o for r in readings for o in map_reading(r, ctx)]

    def bundle(self) -> dict[str, Any]:
        return transaction_bundle(
            upload_entries(self.observations(), self.sensor, GATEWAY, self.patient)
        )


BPM = "2a35"
CASES: dict[str, Case] = {
    "bp-drifted-clock-irregular-pulse": Case(
        CUFF,
        TANAKA,
        ((BPM, BPM_IRREGULAR),),
        CLOCK_TWO_MINUTES_SLOW,
        note="device clock 2 min slow",
    ),
    "bp-clock-in-step": Case(CUFF, TANAKA, ((BPM, captures.BPM_TYPICAL),), CLOCK_IN_STEP),
    "bp-kpa": Case(CUFF, TANAKA, ((BPM, captures.BPM_NORDIC_KPA),), note="no time stamp"),
    "bp-nan-systolic": Case(CUFF, TANAKA, ((BPM, captures.BPM_SPECIAL_VALUES),)),
    "bp-unset-clock": Case(
        CUFF,
        TANAKA,
        ((BPM, captures.BPM_NORDIC_FULL),),
        note="year 0",
        received_at=RECEIVED + timedelta(minutes=1),
    ),
    "bp-unassigned": Case(CUFF, None, ((BPM, captures.BPM_TYPICAL),), CLOCK_IN_STEP),
    "bp-patient-by-identifier": Case(CUFF, BY_IDENTIFIER, ((BPM, captures.BPM_TYPICAL),)),
    "spo2-spot-stored-low-perfusion": Case(
        OXIMETER, TANAKA, (("2a5e", captures.PLX_SPOT_FULL),), CLOCK_IN_STEP
    ),
    "spo2-clock-not-set": Case(OXIMETER, TANAKA, (("2a5e", captures.PLX_SPOT_CLOCK_NOT_SET),)),
    "spo2-continuous": Case(OXIMETER, TANAKA, (("2a5f", captures.PLX_CONTINUOUS),)),
    "body-temperature": Case(THERMOMETER, TANAKA, (("2a1c", TEMPERATURE_ARMPIT),)),
    "body-weight-bmi-height": Case(SCALE, TANAKA, (("2a9d", captures.WEIGHT_SI),)),
    "glucose": Case(GLUCOMETER, TANAKA, (("2a18", captures.GLUCOSE_105_MG_DL),)),
    "heart-rate": Case(HEART_MONITOR, TANAKA, (("2a37", captures.HEART_RATE_FULL),)),
    "battery-level": Case(OXIMETER, TANAKA, (("2a19", b"\x5a"),)),
    # One epoch, one Observation per signal: what other senders send (and the gateway for
    # an epoch without a device time); the server keeps taking it (issue 15).
    "sleep-epoch": Case(SLEEP_SENSOR, TANAKA, ((uuids.SLEEP_EPOCH_RECORD, captures.SLEEP_EPOCH),)),
    "sleep-night": Case(
        SLEEP_SENSOR, TANAKA, tuple((uuids.SLEEP_EPOCH_RECORD, p) for p in NIGHT), night=True
    ),
}


def path_for(name: str) -> Path:
    """Where a case's Bundle is stored."""
    return FIXTURES / f"bundle-{name}.json"


def dump(document: dict[str, Any]) -> str:
    """The canonical text of a fixture (sorted keys keep diffs readable)."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_all() -> None:
    """Regenerate every fixture file (a deliberate change of the contract)."""
    for name, case in CASES.items():
        path_for(name).write_text(dump(case.bundle()), encoding="utf-8")


if __name__ == "__main__":
    write_all()

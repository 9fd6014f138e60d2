"""An emulated home: cuffs with months of history, for the demo and the tests.

The history goes into each device's memory, so it reaches the server the way
a real backlog would: through Bluetooth, the gateway, the outbox and HTTP.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .peripherals import BloodPressureCuff, DeviceClock, PulseOximeter, SleepSensor

__all__ = [
    "DemoPatient",
    "backfill_blood_pressure",
    "demo_cuff",
    "demo_oximeter",
    "demo_patients",
    "demo_sleep_sensor",
]


@dataclass(frozen=True)
class DemoPatient:
    """A demo patient and the shape of their blood pressure."""

    family: str
    given: str
    identifier: str
    systolic: float
    diastolic: float
    pulse: float
    cuff_address: str
    high_days: tuple[int, ...] = field(default=())  # days ago with a hypertensive reading
    # Measured until this many days ago, then stopped (0: still measuring): the demo's
    # "patient who stopped measuring", whose no-reading alert opens after 3 days.
    stopped_days_ago: int = 0


def demo_patients() -> list[DemoPatient]:
    """Three people living at home in Japan (fictional)."""
    return [
        DemoPatient("田中", "花子", "DEMO-0001", 128, 78, 68, "D0:00:00:00:10:01", (3, 17, 40)),
        DemoPatient(
            "鈴木", "一郎", "DEMO-0002", 142, 88, 74, "D0:00:00:00:10:02", (1, 2, 9, 25, 61)
        ),
        DemoPatient(
            "佐藤", "和子", "DEMO-0003", 118, 72, 80, "D0:00:00:00:10:03", (), stopped_days_ago=4
        ),
    ]


def backfill_blood_pressure(
    cuff: BloodPressureCuff, patient: DemoPatient, *, days: int, zone: ZoneInfo, seed: int = 1
) -> int:
    """Morning and evening readings for `days` days into the cuff's memory; returns how many."""
    rng = random.Random(f"{seed}-{patient.identifier}")  # noqa: S311 - demo data
    today = datetime.now(zone).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    count = 0
    for ago in range(days, patient.stopped_days_ago, -1):
        day = today - timedelta(days=ago)
        for hour, bump in ((7, 6.0), (20, -4.0)):
            when = day + timedelta(hours=hour, minutes=rng.randrange(0, 40))
            systolic = patient.systolic + bump + rng.gauss(0, 6)
            diastolic = patient.diastolic + bump / 2 + rng.gauss(0, 4)
            if ago in patient.high_days and hour == 7:
                systolic += 38
                diastolic += 18
            cuff.measure(
                round(systolic),
                round(diastolic),
                round(patient.pulse + rng.gauss(0, 5)),
                user=1,
                when=when,
            )
            count += 1
    return count


def demo_cuff(patient: DemoPatient, zone: ZoneInfo) -> BloodPressureCuff:
    """A cuff whose clock runs a little slow, as real ones do."""
    return BloodPressureCuff(
        patient.cuff_address,
        name=f"BP Cuff {patient.identifier[-2:]}",
        clock=DeviceClock(zone, drift=timedelta(seconds=-95)),
        model="BP-DEMO",
        serial=patient.identifier,
    )


def demo_oximeter(
    patient: DemoPatient, zone: ZoneInfo, *, days: int, seed: int = 2
) -> PulseOximeter:
    """An oximeter with a morning spot check a day in memory (a few low ones)."""
    rng = random.Random(f"{seed}-{patient.identifier}")  # noqa: S311 - demo data
    oximeter = PulseOximeter(
        patient.cuff_address[:-2] + "A" + patient.cuff_address[-1],
        name=f"Oximeter {patient.identifier[-2:]}",
        clock=DeviceClock(zone),
        model="OX-DEMO",
        serial=patient.identifier,
    )
    today = datetime.now(zone).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    for ago in range(days, patient.stopped_days_ago, -1):
        when = today - timedelta(days=ago) + timedelta(hours=7, minutes=rng.randrange(10, 50))
        spo2 = min(100, round(96 + rng.gauss(0, 1.2)))
        if ago in patient.high_days:
            spo2 -= 5  # the bad days come together
        oximeter.measure(spo2, round(patient.pulse + rng.gauss(0, 4)), when=when)
    return oximeter


def demo_sleep_sensor(
    patient: DemoPatient, zone: ZoneInfo, *, nights: int, seed: int = 3
) -> SleepSensor:
    """A bedside sensor with `nights` nights in 10-minute epochs."""
    rng = random.Random(f"{seed}-{patient.identifier}")  # noqa: S311 - demo data
    sensor = SleepSensor(
        patient.cuff_address[:-2] + "B" + patient.cuff_address[-1], clock=DeviceClock(zone)
    )
    today = datetime.now(zone).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    for ago in range(nights, 0, -1):
        start = today - timedelta(days=ago) + timedelta(hours=22, minutes=rng.randrange(0, 60))
        stages = [1, 1] + [rng.choice([2, 2, 3, 3, 4, 2, 5]) for _ in range(44)] + [1, 1]
        sensor.record_night(start, stages, epoch_s=600, heart_rate=52 + rng.randrange(0, 8))
    return sensor

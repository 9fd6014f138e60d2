"""The default limits that flag a reading as out of range (pure; a clinician confirms them).

Home blood pressure: 135/85 mmHg is the JSH 2019 threshold of home hypertension, and
180/110 the level that wants a call today. SpO2 below 90 % is low (below 88 % for a
patient whose target is 88-92 %, e.g. with chronic hypercapnia); a pulse below 50 or
above 100 /min is out of range. Per-patient settings (a later part of issue 12) will
override these; the patient list and the patient page both read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DEFAULT", "DEFAULTS", "Level", "Thresholds"]

DEFAULTS: dict[str, float] = {
    "systolic": 135.0,  # mmHg, at or above: high (home)
    "diastolic": 85.0,
    "systolic_urgent": 180.0,  # at or above: urgent
    "diastolic_urgent": 110.0,
    "spo2_low": 90.0,  # %, below: low
    "spo2_low_target_88_92": 88.0,  # below: low, for a patient with an 88-92 % target
    "pulse_low": 50.0,  # /min, below: low
    "pulse_high": 100.0,  # above: high
}


class Level(StrEnum):
    """How far out of range a value is (its flag); in range has no level."""

    LOW = "low"
    HIGH = "high"
    URGENT = "urgent"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The limits for one patient."""

    systolic: float = DEFAULTS["systolic"]
    diastolic: float = DEFAULTS["diastolic"]
    systolic_urgent: float = DEFAULTS["systolic_urgent"]
    diastolic_urgent: float = DEFAULTS["diastolic_urgent"]
    spo2_low: float = DEFAULTS["spo2_low"]
    pulse_low: float = DEFAULTS["pulse_low"]
    pulse_high: float = DEFAULTS["pulse_high"]

    def blood_pressure(self, systolic: float | None, diastolic: float | None) -> Level | None:
        """Urgent, high or None (a low home blood pressure is not flagged here)."""
        sys_, dia = systolic or 0.0, diastolic or 0.0
        if sys_ >= self.systolic_urgent or dia >= self.diastolic_urgent:
            return Level.URGENT
        if sys_ >= self.systolic or dia >= self.diastolic:
            return Level.HIGH
        return None

    def spo2(self, percent: float) -> Level | None:
        """Low, or None."""
        return Level.LOW if percent < self.spo2_low else None

    def pulse(self, per_minute: float) -> Level | None:
        """Low, high, or None."""
        if per_minute < self.pulse_low:
            return Level.LOW
        if per_minute > self.pulse_high:
            return Level.HIGH
        return None


DEFAULT = Thresholds()

"""UCUM units, the one place where values are converted, and plausible ranges.

Every value a parser returns is a `Quantity` that carries its unit, so a value
can never be read in the wrong unit (compare Tidepool's `Units` + `Value`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "PLAUSIBLE_RANGES",
    "AbsentReason",
    "Quantity",
    "Unit",
    "UnitConversionError",
    "convert",
]


class Unit(StrEnum):
    """UCUM codes (https://ucum.org) of every unit a parser can return."""

    MM_HG = "mm[Hg]"
    KPA = "kPa"
    PER_MIN = "/min"
    PERCENT = "%"
    CELSIUS = "Cel"
    FAHRENHEIT = "[degF]"
    KILOGRAM = "kg"
    POUND = "[lb_av]"
    METRE = "m"
    CENTIMETRE = "cm"
    INCH = "[in_i]"
    KG_PER_M2 = "kg/m2"
    KG_PER_L = "kg/L"
    MOL_PER_L = "mol/L"
    MG_PER_DL = "mg/dL"
    MMOL_PER_L = "mmol/L"
    KILOJOULE = "kJ"
    SECOND = "s"
    MINUTE = "min"
    COUNT = "{count}"


class AbsentReason(StrEnum):
    """Why a value is missing; the names are FHIR `data-absent-reason` codes.

    IEEE 11073-20601 special values map as in the HL7 PHD IG
    (MderFLOATsandSFLOATs): NaN -> not-a-number, NRes and the reserved value
    -> error, +/-INF -> positive-/negative-infinity.
    """

    NOT_A_NUMBER = "not-a-number"
    POSITIVE_INFINITY = "positive-infinity"
    NEGATIVE_INFINITY = "negative-infinity"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Quantity:
    """A measured value with its UCUM unit.

    `value` is None exactly when `absent_reason` says why. `exponent` is the
    decimal resolution the device reported (SFLOAT 0x F014 is 2.0: exponent -1),
    so 36.50 Cel is not shown as 36.5.
    """

    value: float | None
    unit: Unit
    exponent: int = 0
    absent_reason: AbsentReason | None = None

    @property
    def decimals(self) -> int:
        """Digits after the decimal point the device's resolution justifies."""
        return max(0, -self.exponent)

    def to(self, unit: Unit) -> Quantity:
        """Return this quantity in `unit`, rounded to the same decimal places.

        Raises:
            UnitConversionError: when the units measure different things.
        """
        if unit is self.unit:
            return self
        if self.value is None:
            _check_convertible(self.unit, unit)
            return Quantity(None, unit, self.exponent, self.absent_reason)
        converted = convert(self.value, self.unit, unit)
        return Quantity(round(converted, self.decimals), unit, self.exponent)


class UnitConversionError(ValueError):
    """Two units that measure different things."""


# Affine conversions to one base unit per dimension: base = value * scale + offset.
_TO_BASE: dict[Unit, tuple[str, float, float]] = {
    Unit.MM_HG: ("pressure", 1.0, 0.0),
    Unit.KPA: ("pressure", 1000.0 / 133.322387415, 0.0),  # 1 mmHg = 133.322387415 Pa
    Unit.CELSIUS: ("temperature", 1.0, 0.0),
    Unit.FAHRENHEIT: ("temperature", 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    Unit.KILOGRAM: ("mass", 1.0, 0.0),
    Unit.POUND: ("mass", 0.45359237, 0.0),
    Unit.METRE: ("length", 1.0, 0.0),
    Unit.CENTIMETRE: ("length", 0.01, 0.0),
    Unit.INCH: ("length", 0.0254, 0.0),
    # Glucose: mass concentration; mol/L uses the molar mass of glucose, 180.156 g/mol.
    Unit.MG_PER_DL: ("glucose", 1.0, 0.0),
    Unit.KG_PER_L: ("glucose", 100_000.0, 0.0),
    Unit.MMOL_PER_L: ("glucose", 18.0156, 0.0),
    Unit.MOL_PER_L: ("glucose", 18_015.6, 0.0),
    Unit.SECOND: ("time", 1.0, 0.0),
    Unit.MINUTE: ("time", 60.0, 0.0),
}


def _check_convertible(source: Unit, target: Unit) -> None:
    """Raise `UnitConversionError` unless `source` converts to `target`."""
    a, b = _TO_BASE.get(source), _TO_BASE.get(target)
    if a is None or b is None or a[0] != b[0]:
        raise UnitConversionError(f"cannot convert {source} to {target}")


def convert(value: float, source: Unit, target: Unit) -> float:
    """Convert `value` from `source` to `target` (the only conversion in HomeVitals)."""
    if source is target:
        return value
    _check_convertible(source, target)
    _, scale_a, offset_a = _TO_BASE[source]
    _, scale_b, offset_b = _TO_BASE[target]
    base = value * scale_a + offset_a
    result = (base - offset_b) / scale_b
    if not math.isfinite(result):
        raise UnitConversionError(f"{value} {source} has no finite value in {target}")
    return result


# Ranges a real measurement of a living person falls in, per canonical unit.
# Used by test factories and, later, by plausibility checks; parsers do not
# reject implausible but well-formed values (that is a clinical judgement).
PLAUSIBLE_RANGES: dict[str, tuple[float, float, Unit]] = {
    "systolic": (60.0, 260.0, Unit.MM_HG),
    "diastolic": (30.0, 160.0, Unit.MM_HG),
    "mean_arterial_pressure": (40.0, 200.0, Unit.MM_HG),
    "pulse_rate": (30.0, 220.0, Unit.PER_MIN),
    "spo2": (70.0, 100.0, Unit.PERCENT),
    "respiration_rate": (4.0, 60.0, Unit.PER_MIN),
    "body_temperature": (33.0, 42.5, Unit.CELSIUS),
    "body_weight": (20.0, 250.0, Unit.KILOGRAM),
    "glucose": (20.0, 600.0, Unit.MG_PER_DL),
}

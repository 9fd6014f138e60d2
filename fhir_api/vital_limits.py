"""A patient's vital-sign limits: the clinic defaults and the patient's own (pure; issue 12).

The limits flag readings on the patient list, the patient page and the printed
summary, and are the alerts' thresholds (`fhir_api/alerts/defaults.limit_rules`): one set
of numbers for flags and alerts. They travel on the FHIR Patient, so other
systems see them and one place (the FHIR service) enforces who may change them:

    Patient.extension[url=VITAL_LIMITS_EXTENSION]
        .extension[url="systolic-high"].valueQuantity  {value: 140, code: "mm[Hg]", ...}
        .extension[url="spo2-scale"].valueCode         "target-88-92"

A sub-extension that is absent means the clinic default. `with_limits` writes only
those that differ from the default, so a later change of a default reaches every
patient who never chose otherwise.

Defaults and their sources (a clinician confirms them):
- 135/85 mmHg: home hypertension (JSH 2019); 180/110 the level that wants a call today.
- target 125/75 mmHg: the JSH 2019 home target below 75 years (135/85 from 75 on).
- SpO2 below 90 %: low; below 88 % on the NEWS2 scale 2 (a target of 88-92 %, e.g.
  chronic hypercapnia), chosen with `spo2-scale` = `target-88-92`.
- pulse below 50 or above 100 /min.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

__all__ = [
    "DEFAULT",
    "DEFAULTS",
    "FIELDS",
    "SPO2_LOW_TARGET_88_92",
    "VITAL_LIMITS_EXTENSION",
    "Level",
    "LimitField",
    "Limits",
    "Problem",
    "Spo2Scale",
    "chosen_of",
    "extension_problems",
    "limits_of",
    "problems",
    "with_limits",
]

VITAL_LIMITS_EXTENSION = "http://homevitals.org/fhir/StructureDefinition/vital-limits"
UCUM = "http://unitsofmeasure.org"
SPO2_SCALE = "spo2-scale"
SPO2_LOW_TARGET_88_92 = 88.0


class Level(StrEnum):
    """How far out of range a value is (its flag); in range has no level."""

    LOW = "low"
    HIGH = "high"
    URGENT = "urgent"


class Spo2Scale(StrEnum):
    """Which SpO2 scale the patient is judged on (NEWS2 scale 1 or 2)."""

    STANDARD = "standard"
    TARGET_88_92 = "target-88-92"


@dataclass(frozen=True, slots=True)
class LimitField:
    """One numeric limit: its sub-extension, its UCUM unit and the values a form accepts.

    The range keeps out typing slips (a systolic of 0 or 400), not clinical choices.
    """

    url: str
    unit: str
    low: float
    high: float


# Attribute of `Limits` -> its sub-extension. A table, so the validator, the reader, the
# writer and the settings form cannot disagree.
FIELDS: dict[str, LimitField] = {
    "systolic": LimitField("systolic-high", "mm[Hg]", 90, 250),
    "diastolic": LimitField("diastolic-high", "mm[Hg]", 50, 150),
    "systolic_urgent": LimitField("systolic-urgent", "mm[Hg]", 100, 300),
    "diastolic_urgent": LimitField("diastolic-urgent", "mm[Hg]", 60, 200),
    "target_systolic": LimitField("systolic-target", "mm[Hg]", 90, 200),
    "target_diastolic": LimitField("diastolic-target", "mm[Hg]", 50, 130),
    "spo2_low": LimitField("spo2-low", "%", 70, 99),
    "pulse_low": LimitField("pulse-low", "/min", 20, 120),
    "pulse_high": LimitField("pulse-high", "/min", 50, 250),
}
_BY_URL = {spec.url: name for name, spec in FIELDS.items()}


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits for one patient (the clinic defaults unless told otherwise)."""

    systolic: float = 135.0  # mmHg, at or above: high (home)
    diastolic: float = 85.0
    systolic_urgent: float = 180.0  # at or above: urgent
    diastolic_urgent: float = 110.0
    target_systolic: float = 125.0  # the patient's goal: at or below
    target_diastolic: float = 75.0
    spo2_low: float = 90.0  # %, below: low
    pulse_low: float = 50.0  # /min, below: low
    pulse_high: float = 100.0  # above: high
    spo2_scale: Spo2Scale = Spo2Scale.STANDARD

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

    def numbers(self) -> dict[str, float]:
        """The numeric limits by attribute name (whole numbers as ints: 135, not 135.0)."""
        return {name: _plain(getattr(self, name)) for name in FIELDS}

    @staticmethod
    def default_for(name: str, scale: Spo2Scale = Spo2Scale.STANDARD) -> float:
        """The clinic default of a numeric limit (SpO2 low depends on the scale)."""
        if name == "spo2_low" and scale is Spo2Scale.TARGET_88_92:
            return SPO2_LOW_TARGET_88_92
        value: float = getattr(DEFAULT, name)
        return value


DEFAULT = Limits()
# The defaults as the charts' threshold names use them (and the 88-92 % scale's SpO2 low).
DEFAULTS: dict[str, float] = {
    **{f.name: getattr(DEFAULT, f.name) for f in fields(Limits) if f.name in FIELDS},
    "spo2_low_target_88_92": SPO2_LOW_TARGET_88_92,
}


def _plain(value: float) -> float:
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a set of limits is refused: the attribute, an English text with {fields}, values.

    The settings page translates `text` and fills it in; the FHIR API sends it in English.
    """

    name: str
    text: str
    values: Mapping[str, float]

    def message(self) -> str:
        """The text filled in (English)."""
        return self.filled(self.text)

    def filled(self, text: str) -> str:
        """`text` (the text, or its translation) filled in with the values."""
        return text.format(**{k: _plain(v) for k, v in self.values.items()})


# (lower attribute, upper attribute, text): the lower must stay below the upper.
_ORDER = (
    ("systolic", "systolic_urgent", "Must be below the urgent level ({upper})."),
    ("diastolic", "diastolic_urgent", "Must be below the urgent level ({upper})."),
    ("pulse_low", "pulse_high", "Must be below the upper pulse limit ({upper})."),
    ("target_diastolic", "target_systolic", "Must be below the systolic target ({upper})."),
    ("target_systolic", "systolic_urgent", "Must be below the urgent level ({upper})."),
    ("target_diastolic", "diastolic_urgent", "Must be below the urgent level ({upper})."),
)


def problems(chosen: Mapping[str, float], scale: Spo2Scale = Spo2Scale.STANDARD) -> list[Problem]:
    """What is wrong with the patient's choices `chosen` (attribute -> value; absent: default).

    Each value must be a finite number in its field's range, and the limits must keep
    their order over the effective values (a high at or above the urgent level would
    never flag "high"; a pulse low at or above the high would flag every reading).
    """
    found: list[Problem] = []
    for name, value in chosen.items():
        spec = FIELDS[name]
        if not math.isfinite(value) or not spec.low <= value <= spec.high:
            found.append(
                Problem(
                    name,
                    "Enter a value from {low} to {high}.",
                    {"low": spec.low, "high": spec.high},
                )
            )
    if found:
        return found
    effective = {name: chosen.get(name, Limits.default_for(name, scale)) for name in FIELDS}
    for lower, upper, text in _ORDER:
        if effective[lower] >= effective[upper]:
            found.append(Problem(lower, text, {"upper": effective[upper]}))
    return found


def extension_problems(extension: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    """(message, element path) for each fault of one vital-limits extension."""
    issues: list[tuple[str, str]] = []
    if any(key.startswith("value") for key in extension):
        issues.append(("vital-limits has sub-extensions, not a value", where))
    parts = extension.get("extension")
    if not isinstance(parts, list) or not parts:
        return [*issues, ("vital-limits needs at least one sub-extension", where)]
    chosen: dict[str, float] = {}
    scale = Spo2Scale.STANDARD
    paths: dict[str, str] = {}  # attribute -> the element path of its value
    seen: set[str] = set()
    for index, part in enumerate(parts):
        at = f"{where}.extension[{index}]"
        url = part.get("url") if isinstance(part, dict) else None
        if not isinstance(part, dict) or not isinstance(url, str):
            issues.append(("a vital-limits sub-extension needs a url", at))
            continue
        values = [key for key in part if key.startswith("value")]
        if url in seen:
            issues.append((f"vital-limits has {url!r} more than once", at))
            continue
        seen.add(url)
        if url == SPO2_SCALE:
            code = part.get("valueCode")
            if values != ["valueCode"] or code not in {s.value for s in Spo2Scale}:
                issues.append((f"{SPO2_SCALE} takes a valueCode: standard or target-88-92", at))
            else:
                scale = Spo2Scale(code)
            continue
        name = _BY_URL.get(url)
        if name is None:
            known = ", ".join([*_BY_URL, SPO2_SCALE])
            issues.append((f"{url!r} is not a vital-limits sub-extension ({known})", at))
            continue
        spec = FIELDS[name]
        quantity = part.get("valueQuantity")
        value = quantity.get("value") if isinstance(quantity, dict) else None
        if values != ["valueQuantity"] or not isinstance(quantity, dict):
            issues.append((f"{url} takes a valueQuantity in {spec.unit}", at))
        elif isinstance(value, bool) or not isinstance(value, int | float):
            issues.append((f"{url} needs a number", f"{at}.valueQuantity.value"))
        elif quantity.get("code") != spec.unit or quantity.get("system", UCUM) != UCUM:
            issues.append(
                (f"{url} is in {spec.unit} (UCUM code {spec.unit!r})", f"{at}.valueQuantity.code")
            )
        elif "comparator" in quantity:
            issues.append((f"{url} is a value, without a comparator", f"{at}.valueQuantity"))
        else:
            chosen[name] = float(value)
            paths[name] = f"{at}.valueQuantity.value"
    if issues:
        return issues
    for problem in problems(chosen, scale):
        at = paths.get(problem.name, where)
        issues.append((f"{FIELDS[problem.name].url}: {problem.message()}", at))
    return issues


def _parts(patient: Mapping[str, Any]) -> list[dict[str, Any]]:
    for extension in patient.get("extension", ()):
        if isinstance(extension, dict) and extension.get("url") == VITAL_LIMITS_EXTENSION:
            parts = extension.get("extension")
            return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
    return []


def limits_of(patient: Mapping[str, Any]) -> Limits:
    """The patient's limits: their own where set, else the clinic default.

    Lenient: anything the validator would refuse (stored before it existed) is a default.
    """
    scale = Spo2Scale.STANDARD
    chosen: dict[str, float] = {}
    for part in _parts(patient):
        url = part.get("url")
        if url == SPO2_SCALE and part.get("valueCode") in {s.value for s in Spo2Scale}:
            scale = Spo2Scale(part["valueCode"])
        elif isinstance(url, str) and (name := _BY_URL.get(url)) is not None:
            quantity = part.get("valueQuantity")
            value = quantity.get("value") if isinstance(quantity, dict) else None
            unit = quantity.get("code") if isinstance(quantity, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                if unit == FIELDS[name].unit:
                    chosen[name] = float(value)
    if problems(chosen, scale):
        chosen = {}
    effective = {name: chosen.get(name, Limits.default_for(name, scale)) for name in FIELDS}
    return Limits(**effective, spo2_scale=scale)


def chosen_of(patient: Mapping[str, Any]) -> tuple[dict[str, float], Spo2Scale]:
    """The limits the patient has of their own (attribute -> value) and their SpO2 scale."""
    limits = limits_of(patient)
    own = {part.get("url") for part in _parts(patient)}
    chosen = {name: getattr(limits, name) for name, spec in FIELDS.items() if spec.url in own}
    return chosen, limits.spo2_scale


def with_limits(
    patient: Mapping[str, Any], chosen: Mapping[str, float], scale: Spo2Scale
) -> dict[str, Any]:
    """A copy of `patient` with these limits: only those that differ from the default.

    With nothing to write, the vital-limits extension goes; other extensions stay as
    they are, in their order.
    """
    parts: list[dict[str, Any]] = []
    if scale is not Spo2Scale.STANDARD:
        parts.append({"url": SPO2_SCALE, "valueCode": scale.value})
    for name, spec in FIELDS.items():
        value = chosen.get(name)
        if value is None or value == Limits.default_for(name, scale):
            continue
        parts.append(
            {
                "url": spec.url,
                "valueQuantity": {
                    "value": _plain(value),
                    "unit": spec.unit.replace("mm[Hg]", "mmHg"),
                    "system": UCUM,
                    "code": spec.unit,
                },
            }
        )
    extensions = [
        e
        for e in patient.get("extension", ())
        if not (isinstance(e, dict) and e.get("url") == VITAL_LIMITS_EXTENSION)
    ]
    if parts:
        extensions.append({"url": VITAL_LIMITS_EXTENSION, "extension": parts})
    updated = {k: v for k, v in patient.items() if k != "extension" or extensions}
    if extensions:
        updated["extension"] = extensions
    return updated

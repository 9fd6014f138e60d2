"""A patient's rules: the clinic defaults with the patient's overrides (pure).

The overrides are a plain dataclass (`Overrides`), or a mapping with the names of
the Patient's vital-limits extension (`Overrides.from_mapping`: `systolic-high`,
`spo2-scale`...), so the settings page's model and the rules stay two small modules
joined in one place. A changed limit keeps the default's recovery margin, so the
hysteresis moves with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta, tzinfo
from typing import Any

from fhir_api.dates import zone_named

from . import defaults
from .model import Kind, Rule

__all__ = [
    "GATEWAY_OFFLINE",
    "SPO2_SCALES",
    "Overrides",
    "Rules",
    "no_reading_condition",
    "rules_for",
]

SPO2_SCALES = ("standard", "target-88-92")
GATEWAY_OFFLINE = "gateway-offline"  # the condition of a gateway's alert


def no_reading_condition(kind: Kind) -> str:
    """The condition of "no reading of this kind for too long" (e.g. no-reading-systolic)."""
    return f"no-reading-{kind.value}"


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything the core needs to decide for one patient."""

    thresholds: tuple[Rule, ...] = defaults.RULES
    no_reading: dict[Kind, timedelta] = field(default_factory=lambda: dict(defaults.NO_READING))
    gateway_offline: timedelta = defaults.GATEWAY_OFFLINE
    escalate_after: timedelta = defaults.ESCALATE_AFTER
    occasion_window: timedelta = defaults.OCCASION_WINDOW
    gateway_grace: timedelta = defaults.GATEWAY_GRACE
    escalation_levels: int = defaults.ESCALATION_LEVELS
    zone: str = "UTC"  # the patient's: "N days over" counts the patient's days

    @property
    def tz(self) -> tzinfo:
        """The patient's zone (UTC for a name that is not one)."""
        return zone_named(self.zone) or UTC

    def rule(self, condition: str) -> Rule | None:
        """The threshold rule of that condition, if the patient has it."""
        return next((r for r in self.thresholds if r.id == condition), None)


@dataclass(frozen=True, slots=True)
class Overrides:
    """One patient's changes to the defaults; None keeps the clinic default.

    `no_reading` replaces the default table (an empty mapping turns the rule off);
    `disabled` turns conditions off by id (e.g. "bp-high" for a patient whose blood
    pressure is managed elsewhere).
    """

    systolic_high: float | None = None
    diastolic_high: float | None = None
    systolic_urgent: float | None = None
    diastolic_urgent: float | None = None
    spo2_low: float | None = None  # the warning level of the patient's scale
    spo2_urgent: float | None = None
    pulse_low: float | None = None
    pulse_high: float | None = None
    spo2_scale: str | None = None  # "standard" or "target-88-92" (NEWS2 scale 2)
    weight_gain_kg: float | None = None
    no_reading: Mapping[Kind, timedelta] | None = None
    disabled: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Overrides:
        """From the extension's names (`systolic-high`...); unknown names raise ValueError."""
        known = {f.replace("_", "-"): f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown alert overrides: {', '.join(unknown)}")
        return cls(**{known[name]: value for name, value in values.items()})


# (override field, condition, kind) for each single-value limit.
_LIMITS: tuple[tuple[str, str, Kind], ...] = (
    ("systolic_high", "bp-high", Kind.SYSTOLIC),
    ("diastolic_high", "bp-high", Kind.DIASTOLIC),
    ("systolic_urgent", "bp-urgent", Kind.SYSTOLIC),
    ("diastolic_urgent", "bp-urgent", Kind.DIASTOLIC),
    ("spo2_low", "spo2-low", Kind.SPO2),
    ("spo2_urgent", "spo2-urgent", Kind.SPO2),
    ("pulse_low", "pulse-low", Kind.PULSE),
    ("pulse_high", "pulse-high", Kind.PULSE),
    ("weight_gain_kg", "weight-gain", Kind.WEIGHT),
)


def _with_limit(rule: Rule, kind: Kind, limit: float) -> Rule:
    return replace(rule, limits={**rule.limits, kind: float(limit)})


def _scale(name: str | None) -> Iterable[Rule]:
    if name not in (None, *SPO2_SCALES):
        raise ValueError(f"unknown SpO2 scale {name!r}: one of {', '.join(SPO2_SCALES)}")
    return defaults.SPO2_SCALE_2 if name == "target-88-92" else defaults.SPO2_SCALE_1


def rules_for(overrides: Overrides | None = None, *, zone: str | None = None) -> Rules:
    """The clinic defaults with one patient's overrides, in the patient's zone.

    Raises:
        ValueError: an unknown SpO2 scale.
    """
    overrides = overrides or Overrides()
    scale = {r.id: r for r in _scale(overrides.spo2_scale)}
    by_id = {r.id: scale.get(r.id, r) for r in defaults.RULES}
    for name, condition, kind in _LIMITS:
        value = getattr(overrides, name)
        if value is not None:
            by_id[condition] = _with_limit(by_id[condition], kind, value)
    thresholds = tuple(r for r in by_id.values() if r.id not in overrides.disabled)
    no_reading = (
        dict(defaults.NO_READING) if overrides.no_reading is None else dict(overrides.no_reading)
    )
    return Rules(thresholds, no_reading, zone=zone or "UTC")

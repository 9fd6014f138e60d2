"""A patient's rules: their vital-sign limits, the clinic defaults and overrides (pure).

The thresholds of blood pressure, SpO2 and pulse are the patient's vital-sign limits
(`fhir_api/vital_limits.Limits`, read from the Patient's vital-limits extension with
`limits_of`): the numbers that flag a reading on the pages are the numbers that alert
(`defaults.limit_rules`). What the limits do not hold, a patient may change through
`Overrides` (the weight-gain limit, the no-reading table, rules turned off). A changed
limit keeps the default's recovery margin, so the hysteresis moves with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta, tzinfo
from typing import Any

from fhir_api.dates import zone_named
from fhir_api.vital_limits import DEFAULT as DEFAULT_LIMITS
from fhir_api.vital_limits import Limits

from . import defaults
from .model import Kind, Rule

__all__ = [
    "GATEWAY_OFFLINE",
    "Overrides",
    "Rules",
    "no_reading_condition",
    "rules_for",
]

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
    """One patient's changes to what the vital-sign limits do not set; None keeps the
    clinic default.

    `limits` moves the limit of a one-kind rule of the alerts' own (e.g.
    {"temperature-high": 38.5}); the recovery margin stays the default's.
    `no_reading` replaces the default table (an empty mapping turns the rule off);
    `disabled` turns conditions off by id (e.g. "bp-high" for a patient whose blood
    pressure is managed elsewhere).
    """

    weight_gain_kg: float | None = None
    limits: Mapping[str, float] = field(default_factory=dict)
    no_reading: Mapping[Kind, timedelta] | None = None
    disabled: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Overrides:
        """From hyphenated names (`weight-gain-kg`...); unknown names raise ValueError."""
        known = {f.replace("_", "-"): f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown alert overrides: {', '.join(unknown)}")
        return cls(**{known[name]: value for name, value in values.items()})


def rules_for(
    overrides: Overrides | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    zone: str | None = None,
) -> Rules:
    """The rules of a patient with these vital-sign limits and overrides, in their zone."""
    overrides = overrides or Overrides()
    by_id = {r.id: r for r in defaults.limit_rules(limits)}
    if overrides.weight_gain_kg is not None:
        gain = by_id["weight-gain"]
        by_id["weight-gain"] = replace(
            gain, limits={**gain.limits, Kind.WEIGHT: float(overrides.weight_gain_kg)}
        )
    for rule_id, value in overrides.limits.items():
        rule = by_id[rule_id]
        (kind,) = rule.kinds
        by_id[rule_id] = replace(rule, limits={kind: float(value)})
    thresholds = tuple(r for r in by_id.values() if r.id not in overrides.disabled)
    no_reading = (
        dict(defaults.NO_READING) if overrides.no_reading is None else dict(overrides.no_reading)
    )
    return Rules(thresholds, no_reading, zone=zone or "UTC")

"""The alert-rules form on `/patients/{id}/alerts/settings`: what it shows and reads.

Pure: no I/O. `rows_of` gives the form's rows (the patient's value beside the clinic
default) from the Patient or from a refused submission, so typing is not lost;
`read_form` turns a submission into the patient's `AlertRules` or into messages next
to the fields. The rules and their ranges are the model's (`fhir_api.alert_rules`),
the same the FHIR API enforces. An empty field means "use the clinic default".
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fhir_api.alert_rules import (
    NO_READING_RANGE,
    THRESHOLDS,
    TURNABLE_OFF,
    WEIGHT_GAIN_RANGE,
    AlertRules,
    alert_rules_of,
    default_limit,
    order_problems,
)
from fhir_api.alerts import defaults
from fhir_api.alerts.model import Kind

__all__ = [
    "LIMIT_LABELS",
    "NO_READING_KINDS",
    "OFF_CHOICES",
    "TEXTS",
    "RuleRow",
    "RulesForm",
    "form_of",
    "read_form",
]

# The kinds a clinician sets a no-reading time for (label msgids), blood pressure first.
NO_READING_KINDS: tuple[tuple[Kind, str], ...] = (
    (Kind.SYSTOLIC, "No blood pressure for (days)"),
    (Kind.SPO2, "No SpO2 for (days)"),
    (Kind.PULSE, "No pulse for (days)"),
    (Kind.TEMPERATURE, "No temperature for (days)"),
    (Kind.WEIGHT, "No weight for (days)"),
)
# The rules a clinician may turn off here: the warning threshold rules and "no blood
# pressure" (the other no-reading rules are off unless a time is set).
OFF_CHOICES: tuple[str, ...] = (
    *(code for code in TURNABLE_OFF if not code.startswith("no-reading-")),
    "no-reading-systolic",
)
# The moved limits (THRESHOLDS' rule ids), their label msgids and the unit shown.
LIMIT_LABELS: dict[str, tuple[str, str]] = {
    "temperature-high": ("Fever: at or above (°C)", "°C"),
    "temperature-low": ("Low temperature: at or below (°C)", "°C"),
    "respiration-high": ("Fast breathing: at or above (/min)", "/min"),
    "respiration-very-high": ("Very fast breathing: at or above (/min)", "/min"),
    "respiration-low": ("Slow breathing: at or below (/min)", "/min"),
}
WEIGHT_FIELD = "weight_gain"
TEXTS = {
    "weight": "Enter a gain from 0.5 to 10 kg, or leave it empty for the clinic default.",
    "days": "Enter a number of days from 0.1 to 90 (0.5 is 12 hours), or leave it empty.",
    "off": "Urgent rules cannot be turned off here; please choose from the list.",
    "default_off": "Off",
    "label_weight": "Weight gain over 3 days (kg)",
    "limit": "Enter a value from {low} to {high}, or leave it empty for the clinic default.",
    "order": "Must be below the higher limit of the same kind (temperature or breathing).",
}
_DAY = timedelta(days=1)
_SHORTEST_DAYS = 0.1  # the form's (2.4 hours); the model accepts from 1 hour


def _plain(value: float) -> str:
    return f"{value:g}"


def _number(text: str) -> float | None:
    """A typed number (full-width digits and a comma for a point accepted), or None."""
    text = unicodedata.normalize("NFKC", text).strip().replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One row: its field name, label msgid, typed value, clinic default and message
    (a msgid, filled in with `error_values` once translated)."""

    name: str
    label: str
    value: str
    default: str
    unit: str
    error: str | None = None
    error_values: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RulesForm:
    """The form as shown: its rows, the rules ticked off, the version it was made from."""

    rows: list[RuleRow]
    off: frozenset[str]
    version: str
    errors: dict[str, str] = field(default_factory=dict)


def _default_gain() -> float:
    return next(r for r in defaults.RULES if r.id == "weight-gain").limits[Kind.WEIGHT]


def _default_days(kind: Kind) -> str:
    length = defaults.NO_READING.get(kind)
    return _plain(length / _DAY) if length is not None else ""


def _rows(values: Mapping[str, str], errors: Mapping[str, str]) -> list[RuleRow]:
    rows = [
        RuleRow(
            WEIGHT_FIELD,
            TEXTS["label_weight"],
            values.get(WEIGHT_FIELD, ""),
            _plain(_default_gain()),
            "kg",
            errors.get(WEIGHT_FIELD),
        )
    ]
    for rule_id, (label, unit) in LIMIT_LABELS.items():
        name = _limit_field(rule_id)
        _code, lowest, highest = THRESHOLDS[rule_id]
        rows.append(
            RuleRow(
                name,
                label,
                values.get(name, ""),
                _plain(default_limit(rule_id)),
                unit,
                errors.get(name),
                {"low": _plain(lowest), "high": _plain(highest)},
            )
        )
    for kind, label in NO_READING_KINDS:
        name = f"no_reading_{kind.value}"
        rows.append(
            RuleRow(name, label, values.get(name, ""), _default_days(kind), "d", errors.get(name))
        )
    return rows


def _limit_field(rule_id: str) -> str:
    return "limit_" + rule_id.replace("-", "_")


def form_of(patient: Mapping[str, Any], version: str) -> RulesForm:
    """The form filled from the Patient's own rules (empty fields: the defaults)."""
    own = alert_rules_of(patient)
    values: dict[str, str] = {}
    if own.weight_gain_kg is not None:
        values[WEIGHT_FIELD] = _plain(own.weight_gain_kg)
    for rule_id, value in own.limits.items():
        values[_limit_field(rule_id)] = _plain(value)
    for kind, length in own.no_reading.items():
        values[f"no_reading_{kind.value}"] = _plain(round(length / _DAY, 4))
    return RulesForm(_rows(values, {}), own.off, version)


def read_form(values: Mapping[str, str], off: Sequence[str]) -> tuple[RulesForm, AlertRules | None]:
    """The form as typed and, when every field is sound, the patient's rules."""
    typed = {name: values.get(name, "").strip()[:20] for name in (WEIGHT_FIELD,)}
    typed |= {
        f"no_reading_{k.value}": values.get(f"no_reading_{k.value}", "").strip()[:20]
        for k, _ in NO_READING_KINDS
    }
    errors: dict[str, str] = {}
    gain: float | None = None
    if typed[WEIGHT_FIELD]:
        gain = _number(typed[WEIGHT_FIELD])
        low, high = WEIGHT_GAIN_RANGE
        if gain is None or not low <= gain <= high:
            errors[WEIGHT_FIELD] = TEXTS["weight"]
    typed |= {_limit_field(r): values.get(_limit_field(r), "").strip()[:20] for r in LIMIT_LABELS}
    limits: dict[str, float] = {}
    for rule_id in LIMIT_LABELS:
        name = _limit_field(rule_id)
        if not typed[name]:
            continue
        value = _number(typed[name])
        _unit, lowest, highest = THRESHOLDS[rule_id]
        if value is None or not lowest <= value <= highest:
            errors[name] = TEXTS["limit"]  # the row fills in its range once translated
        else:
            limits[rule_id] = value
    if not errors:
        for rule_id, _text in order_problems(limits):
            errors[_limit_field(rule_id)] = TEXTS["order"]
    no_reading: dict[Kind, timedelta] = {}
    longest_days = NO_READING_RANGE[1] / _DAY
    for kind, _label in NO_READING_KINDS:
        name = f"no_reading_{kind.value}"
        if not typed[name]:
            continue
        days = _number(typed[name])
        if days is None or not _SHORTEST_DAYS <= days <= longest_days:
            errors[name] = TEXTS["days"]
        else:
            no_reading[kind] = timedelta(days=days)
    chosen = frozenset(off)
    if not chosen <= set(OFF_CHOICES):
        errors["off"] = TEXTS["off"]
    version = values.get("version", "")[:20]
    form = RulesForm(_rows(typed, errors), chosen & set(OFF_CHOICES), version, errors)
    if errors:
        return form, None
    # an empty BP field keeps the default; other kinds without a time stay off
    return form, AlertRules(gain, no_reading, chosen, limits)

"""A patient's own alert rules beyond the vital-sign limits (pure; issue 13).

The vital-sign limits (`fhir_api.vital_limits`) set the blood pressure, SpO2 and pulse
thresholds. What they do not cover a clinician changes here, per patient: the
weight gain that alerts (heart failure), how long without a reading of a kind is worth
asking about, and which warning rules are off for this patient. They travel on the
FHIR Patient like the limits, so one place (the FHIR service) enforces who may change
them and the alert worker reads them in the transaction it already reads the Patient:

    Patient.extension[url=ALERT_RULES_EXTENSION]
        .extension[url="weight-gain"].valueQuantity         {value: 1.5, code: "kg"}
        .extension[url="temperature-high"].valueQuantity    {value: 38.5, code: "Cel"}
        .extension[url="no-reading-systolic"].valueDuration {value: 1, code: "d"}
        .extension[url="rule-off"].valueCode                "temperature-high"  (repeats)

A sub-extension that is absent means the clinic default (`fhir_api.alerts.defaults`),
so a later change of a default reaches every patient who never chose otherwise.

Decisions (a clinician confirms them):
- urgent rules (bp-urgent, spo2-urgent, pulse-urgent-*) cannot be turned off: a
  reading that asks for a call today must never be silent by a per-patient setting
  made months ago; a silence (with a reason and an end) pauses them instead.
- a no-reading time is from 1 hour to 90 days (0 would fire at once, more than a
  season is no longer "stopped measuring"); "rule-off" with `no-reading-<kind>` turns
  the default no-reading rule of that kind off.
- a weight gain from 0.5 to 10 kg over the rule's 3 days.
- temperature and respiration limits within `THRESHOLDS`' ranges, keeping their order
  over the effective values (a low at or above the high would fire on every reading).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .alerts import defaults
from .alerts.model import Kind, Severity
from .alerts.rules import Overrides, no_reading_condition

__all__ = [
    "ALERT_RULES_EXTENSION",
    "NO_READING_RANGE",
    "RULE_OFF",
    "THRESHOLDS",
    "TURNABLE_OFF",
    "WEIGHT_GAIN",
    "WEIGHT_GAIN_RANGE",
    "AlertRules",
    "alert_rules_of",
    "default_limit",
    "extension_problems",
    "order_problems",
    "with_alert_rules",
]

ALERT_RULES_EXTENSION = "http://homevitals.org/fhir/StructureDefinition/alert-rules"
UCUM = "http://unitsofmeasure.org"
WEIGHT_GAIN = "weight-gain"
RULE_OFF = "rule-off"
WEIGHT_GAIN_RANGE = (0.5, 10.0)  # kg over the rule's days
NO_READING_RANGE = (timedelta(hours=1), timedelta(days=90))
# The one-kind limits a patient may move: rule id -> (UCUM unit, lowest, highest).
THRESHOLDS: dict[str, tuple[str, float, float]] = {
    "temperature-high": ("Cel", 37.0, 40.0),
    "temperature-low": ("Cel", 33.0, 36.5),
    "respiration-high": ("/min", 12.0, 40.0),
    "respiration-very-high": ("/min", 15.0, 50.0),
    "respiration-low": ("/min", 4.0, 16.0),
}
# (lower, upper): the lower limit must stay below the upper (effective values).
_ORDER = (
    ("temperature-low", "temperature-high"),
    ("respiration-low", "respiration-high"),
    ("respiration-high", "respiration-very-high"),
)
# UCUM duration codes a no-reading time may be written in, and their length.
_DURATION_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1)}
_NO_READING_URLS = {no_reading_condition(kind): kind for kind in Kind}
# The warning rules a patient may have off (urgent ones never), and each no-reading rule.
TURNABLE_OFF: tuple[str, ...] = (
    *(r.id for r in defaults.RULES if r.severity is not Severity.URGENT),
    *_NO_READING_URLS,
)


@dataclass(frozen=True, slots=True)
class AlertRules:
    """What the patient has of their own (nothing: the clinic defaults)."""

    weight_gain_kg: float | None = None
    no_reading: Mapping[Kind, timedelta] = field(default_factory=dict)
    off: frozenset[str] = frozenset()
    limits: Mapping[str, float] = field(default_factory=dict)  # THRESHOLDS' rule id -> value

    def overrides(self) -> Overrides:
        """The core's overrides: the default no-reading table with the patient's own
        times on top, less the kinds turned off."""
        table = {**defaults.NO_READING, **self.no_reading}
        table = {k: t for k, t in table.items() if no_reading_condition(k) not in self.off}
        return Overrides(
            weight_gain_kg=self.weight_gain_kg,
            limits=dict(self.limits),
            no_reading=table,
            disabled=frozenset(self.off),
        )


# THRESHOLDS' clinic defaults, looked up once: every evaluation of a patient checks the
# order of that patient's limits over them (`alert_rules_of`).
_DEFAULT_LIMITS: dict[str, float] = {
    rule.id: value
    for rule in defaults.RULES
    if rule.id in THRESHOLDS
    for value in rule.limits.values()
}


def default_limit(rule_id: str) -> float:
    """The clinic default of one of THRESHOLDS' rules."""
    return _DEFAULT_LIMITS[rule_id]


def order_problems(limits: Mapping[str, float]) -> list[tuple[str, str]]:
    """(rule id, English text) for each limit at or above the one it must stay below."""
    effective = {**_DEFAULT_LIMITS, **limits}
    return [
        (lower, f"{lower} must be below {upper} ({effective[upper]:g})")
        for lower, upper in _ORDER
        if effective[lower] >= effective[upper]
    ]


def _duration_of(value: Any) -> timedelta | None:
    if not isinstance(value, dict):
        return None
    number, unit = value.get("value"), value.get("code")
    if (
        isinstance(number, bool)
        or not isinstance(number, int | float)
        or unit not in _DURATION_UNITS
    ):
        return None
    if not math.isfinite(number) or value.get("system", UCUM) != UCUM:
        return None
    return _DURATION_UNITS[str(unit)] * float(number)


def _part_problem(url: str, part: Mapping[str, Any], at: str) -> tuple[str, str] | None:
    """The fault of one sub-extension (None: it is sound)."""
    values = [key for key in part if key.startswith("value")]
    if url == RULE_OFF:
        code = part.get("valueCode")
        if values != ["valueCode"] or not isinstance(code, str):
            return (f"{RULE_OFF} takes a valueCode", at)
        if code not in TURNABLE_OFF:
            urgent = any(r.id == code for r in defaults.RULES)
            why = "an urgent rule cannot be turned off" if urgent else "not a rule"
            return (f"{RULE_OFF} {code!r}: {why} ({', '.join(TURNABLE_OFF)})", f"{at}.valueCode")
        return None
    if url in THRESHOLDS:
        unit, low, high = THRESHOLDS[url]
        quantity = part.get("valueQuantity")
        if values != ["valueQuantity"] or not isinstance(quantity, dict):
            return (f"{url} takes a valueQuantity in {unit}", at)
        number = quantity.get("value")
        if isinstance(number, bool) or not isinstance(number, int | float):
            return (f"{url} needs a number", f"{at}.valueQuantity.value")
        if quantity.get("code") != unit or quantity.get("system", UCUM) != UCUM:
            return (f"{url} is in {unit} (UCUM code {unit!r})", f"{at}.valueQuantity.code")
        if not math.isfinite(number) or not low <= number <= high:
            return (f"{url}: enter a value from {low:g} to {high:g}", f"{at}.valueQuantity.value")
        return None
    if url == WEIGHT_GAIN:
        quantity = part.get("valueQuantity")
        if values != ["valueQuantity"] or not isinstance(quantity, dict):
            return (f"{WEIGHT_GAIN} takes a valueQuantity in kg", at)
        number = quantity.get("value")
        if isinstance(number, bool) or not isinstance(number, int | float):
            return (f"{WEIGHT_GAIN} needs a number", f"{at}.valueQuantity.value")
        if quantity.get("code") != "kg" or quantity.get("system", UCUM) != UCUM:
            return (f"{WEIGHT_GAIN} is in kg (UCUM code 'kg')", f"{at}.valueQuantity.code")
        low, high = WEIGHT_GAIN_RANGE
        if not math.isfinite(number) or not low <= number <= high:
            return (
                f"{WEIGHT_GAIN}: enter a value from {low} to {high} kg",
                f"{at}.valueQuantity.value",
            )
        return None
    # a no-reading time
    duration = part.get("valueDuration")
    if values != ["valueDuration"] or not isinstance(duration, dict):
        return (f"{url} takes a valueDuration in h or d", at)
    length = _duration_of(duration)
    if length is None:
        return (f"{url} is a number of hours (UCUM 'h') or days ('d')", f"{at}.valueDuration")
    shortest, longest = NO_READING_RANGE
    if not shortest <= length <= longest:
        return (f"{url}: enter a time from 1 hour to 90 days", f"{at}.valueDuration.value")
    return None


def extension_problems(extension: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    """(message, element path) for each fault of one alert-rules extension."""
    issues: list[tuple[str, str]] = []
    if any(key.startswith("value") for key in extension):
        issues.append(("alert-rules has sub-extensions, not a value", where))
    parts = extension.get("extension")
    if not isinstance(parts, list) or not parts:
        return [*issues, ("alert-rules needs at least one sub-extension", where)]
    seen: set[str] = set()
    limits: dict[str, float] = {}
    paths: dict[str, str] = {}
    for index, part in enumerate(parts):
        at = f"{where}.extension[{index}]"
        url = part.get("url") if isinstance(part, dict) else None
        if not isinstance(part, dict) or not isinstance(url, str):
            issues.append(("an alert-rules sub-extension needs a url", at))
            continue
        if url not in {WEIGHT_GAIN, RULE_OFF, *THRESHOLDS, *_NO_READING_URLS}:
            known = ", ".join([WEIGHT_GAIN, *THRESHOLDS, RULE_OFF, *_NO_READING_URLS])
            issues.append((f"{url!r} is not an alert-rules sub-extension ({known})", at))
            continue
        key = f"{url}={part.get('valueCode')}" if url == RULE_OFF else url
        if key in seen:
            issues.append((f"alert-rules has {key!r} more than once", at))
            continue
        seen.add(key)
        problem = _part_problem(url, part, at)
        if problem is not None:
            issues.append(problem)
        elif url in THRESHOLDS:
            limits[url] = float(part["valueQuantity"]["value"])
            paths[url] = f"{at}.valueQuantity.value"
    if not issues:
        issues += [(text, paths.get(name, where)) for name, text in order_problems(limits)]
    return issues


def _parts(patient: Mapping[str, Any]) -> list[dict[str, Any]]:
    for extension in patient.get("extension", ()):
        if isinstance(extension, dict) and extension.get("url") == ALERT_RULES_EXTENSION:
            parts = extension.get("extension")
            return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
    return []


def alert_rules_of(patient: Mapping[str, Any]) -> AlertRules:
    """The patient's own alert rules. Lenient: a part the validator would refuse (stored
    before it existed) is the default."""
    gain: float | None = None
    no_reading: dict[Kind, timedelta] = {}
    off: set[str] = set()
    limits: dict[str, float] = {}
    for index, part in enumerate(_parts(patient)):
        url = str(part.get("url"))
        if url not in {WEIGHT_GAIN, RULE_OFF, *THRESHOLDS, *_NO_READING_URLS}:
            continue
        if _part_problem(url, part, str(index)) is not None:
            continue
        if url == WEIGHT_GAIN:
            gain = float(part["valueQuantity"]["value"])
        elif url == RULE_OFF:
            off.add(str(part["valueCode"]))
        elif url in THRESHOLDS:
            limits[url] = float(part["valueQuantity"]["value"])
        else:
            length = _duration_of(part["valueDuration"])
            if length is not None:
                no_reading[_NO_READING_URLS[url]] = length
    if order_problems(limits):
        limits = {}
    return AlertRules(gain, no_reading, frozenset(off), limits)


def _plain(value: float) -> float:
    return int(value) if float(value).is_integer() else value


def _duration(length: timedelta) -> dict[str, Any]:
    """Whole days in d, anything else in h (the form offers both)."""
    if length % timedelta(days=1) == timedelta(0):
        value, code = length / timedelta(days=1), "d"
    else:
        value, code = length / timedelta(hours=1), "h"
    return {"value": _plain(value), "unit": code, "system": UCUM, "code": code}


def with_alert_rules(patient: Mapping[str, Any], rules: AlertRules) -> dict[str, Any]:
    """A copy of `patient` with these alert rules: only what differs from the default.

    With nothing to write the alert-rules extension goes; other extensions stay as
    they are, in their order.
    """
    parts: list[dict[str, Any]] = []
    default_gain = defaults.RULES[[r.id for r in defaults.RULES].index("weight-gain")]
    if (
        rules.weight_gain_kg is not None
        and rules.weight_gain_kg != default_gain.limits[Kind.WEIGHT]
    ):
        quantity = {
            "value": _plain(rules.weight_gain_kg),
            "unit": "kg",
            "system": UCUM,
            "code": "kg",
        }
        parts.append({"url": WEIGHT_GAIN, "valueQuantity": quantity})
    for rule_id, (unit, _low, _high) in THRESHOLDS.items():
        value = rules.limits.get(rule_id)
        if value is not None and value != default_limit(rule_id):
            quantity = {"value": _plain(value), "unit": unit, "system": UCUM, "code": unit}
            parts.append({"url": rule_id, "valueQuantity": quantity})
    for kind in Kind:
        length = rules.no_reading.get(kind)
        if length is not None and length != defaults.NO_READING.get(kind):
            parts.append({"url": no_reading_condition(kind), "valueDuration": _duration(length)})
    parts += [{"url": RULE_OFF, "valueCode": code} for code in TURNABLE_OFF if code in rules.off]
    extensions = [
        e
        for e in patient.get("extension", ())
        if not (isinstance(e, dict) and e.get("url") == ALERT_RULES_EXTENSION)
    ]
    if parts:
        extensions.append({"url": ALERT_RULES_EXTENSION, "extension": parts})
    updated = {k: v for k, v in patient.items() if k != "extension"}
    if extensions:
        updated["extension"] = extensions
    return updated

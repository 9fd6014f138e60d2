"""The alert core's value types (pure): readings in, alerts and changes out.

Everything here is a frozen dataclass of plain values, so the decisions in
`evaluate`, `schedule`, `lifecycle` and `notify` are functions of their arguments, and
a patient's whole state turns into JSON types and back (`state_to_json`,
`state_from_json`) for the queue to keep in one row. Times are aware datetimes; the
core never reads a clock: the caller passes `now`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

__all__ = [
    "UNITS",
    "Acknowledgement",
    "Alert",
    "Change",
    "ChangeKind",
    "Direction",
    "GatewayState",
    "Kind",
    "Outcome",
    "PatientState",
    "Point",
    "Reading",
    "Resolution",
    "Rule",
    "Sampling",
    "Severity",
    "Status",
    "alert_from_json",
    "alert_to_json",
    "change_from_json",
    "change_to_json",
    "gateways_from_json",
    "gateways_to_json",
    "state_from_json",
    "state_to_json",
]


class Kind(StrEnum):
    """What a reading measures; one LOINC code (or panel component) each."""

    SYSTOLIC = "systolic"
    DIASTOLIC = "diastolic"
    PULSE = "pulse"
    SPO2 = "spo2"
    TEMPERATURE = "temperature"
    RESPIRATION = "respiration"
    WEIGHT = "weight"


# The one unit the core compares each kind in (UCUM); `observations.readings_of`
# converts into it through the series' conversion table.
UNITS: dict[Kind, str] = {
    Kind.SYSTOLIC: "mm[Hg]",
    Kind.DIASTOLIC: "mm[Hg]",
    Kind.PULSE: "/min",
    Kind.SPO2: "%",
    Kind.TEMPERATURE: "Cel",
    Kind.RESPIRATION: "/min",
    Kind.WEIGHT: "kg",
}


class Severity(StrEnum):
    """How soon someone must look: urgent ignores quiet hours and digests, and escalates."""

    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Order for sorting and for the worst of a group (urgent highest)."""
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.URGENT: 2}


class Status(StrEnum):
    """An alert's lifecycle: open, then acknowledged, then resolved."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ChangeKind(StrEnum):
    """What happened to an alert; each becomes an audit record and maybe a notification."""

    OPENED = "opened"
    UPDATED = "updated"  # more readings beyond the limit: count, last and worst values
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"  # urgent and not acknowledged in time: the next in the chain
    RESOLVED = "resolved"


class Direction(StrEnum):
    """Which side of a limit is out of range: at or above it, or at or below it."""

    ABOVE = "above"
    BELOW = "below"


class Sampling(StrEnum):
    """What a rule compares with its limits.

    READING: each Observation's values. OCCASION: the mean of one sitting's readings
    (JSH 2019: two home readings per occasion, averaged). GAIN: the rise of a value
    over the lowest of the previous `gain_days` (weight in heart failure).
    """

    READING = "reading"
    OCCASION = "occasion"
    GAIN = "gain"


@dataclass(frozen=True, slots=True)
class Rule:
    """One threshold condition; its `id` is the condition an alert is kept under.

    A sample is out of range when any of its kinds is at or beyond its limit (beyond
    it, when `strict`: the flags' "SpO2 below 90", "pulse above 100"), and
    recovered when every kind it has is back past `limit -/+ margin` (hysteresis).
    Firing needs `consecutive` out-of-range samples in a row, or, when `days` > 0,
    out-of-range samples on `days` different local days within `window_days`.
    An open alert resolves on one recovered sample, or after `resolve_after` settled
    samples in a row (past half the margin).
    """

    id: str
    kinds: tuple[Kind, ...]
    direction: Direction
    limits: dict[Kind, float]
    margins: dict[Kind, float]
    severity: Severity = Severity.WARNING
    sampling: Sampling = Sampling.READING
    consecutive: int = 1
    days: int = 0
    window_days: int = 7
    resolve_after: int = 3
    per_occasion: int = 2
    gain_days: int = 3
    strict: bool = False

    def out_of_range(self, values: Mapping[Kind, float]) -> bool:
        """At or beyond the limit in any kind (beyond it only, when `strict`)."""
        present = [(values[k], limit) for k, limit in self.limits.items() if k in values]
        if self.direction is Direction.ABOVE:
            if self.strict:
                return any(value > limit for value, limit in present)
            return any(value >= limit for value, limit in present)
        if self.strict:
            return any(value < limit for value, limit in present)
        return any(value <= limit for value, limit in present)

    def recovered(self, values: Mapping[Kind, float]) -> bool:
        """Back past the recovery threshold in every kind the sample has."""
        present = [k for k in self.limits if k in values]
        if not present:
            return False
        if self.direction is Direction.ABOVE:
            return all(values[k] < self.limits[k] - self.margins.get(k, 0.0) for k in present)
        return all(values[k] > self.limits[k] + self.margins.get(k, 0.0) for k in present)

    def settled(self, values: Mapping[Kind, float]) -> bool:
        """Past half the recovery margin in every kind: counts toward `resolve_after`.

        Half, not zero: a value wavering around the limit never makes `resolve_after`
        quiet samples in a row, so a noisy cuff cannot open and resolve by turns.
        """
        halved = {k: m / 2 for k, m in self.margins.items()}
        return Rule.recovered(replace(self, margins=halved), values)

    def excess(self, values: Mapping[Kind, float]) -> float:
        """How far beyond the limit, relative to it (to pick the worst sample)."""
        sign = 1.0 if self.direction is Direction.ABOVE else -1.0
        found = [
            sign * (values[k] - limit) / abs(limit or 1.0)
            for k, limit in self.limits.items()
            if k in values
        ]
        return max(found, default=float("-inf"))


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value of one patient, as the rules see it.

    `value` is in `UNITS[kind]`. `occasion` groups the readings of one sitting (JSH:
    two blood-pressure readings averaged); None lets the core group readings taken
    within a few minutes of each other.
    """

    patient: str
    kind: Kind
    value: float
    unit: str
    at: datetime
    observation: str
    device: str | None = None
    gateway: str | None = None
    occasion: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"reading {self.observation}: a time without a zone")


@dataclass(frozen=True, slots=True)
class Point:
    """A reading as the state keeps it (the patient and kind are the state's keys)."""

    observation: str
    at: datetime
    value: float
    occasion: str | None = None


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Someone has seen the alert and is on it."""

    by: str
    at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class Resolution:
    """Why an alert ended: `by` None means the rule saw the values recover."""

    at: datetime
    by: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """One condition of one patient (or one gateway), open until resolved.

    `opened_at` is when the core opened it (the evaluation's `now`); `first_at`
    and `last_at` are the times of the first and newest readings beyond the limit.
    `last` and `worst` map each kind to its value in that sample.
    """

    id: str
    condition: str
    severity: Severity
    opened_at: datetime
    patient: str | None = None
    gateway: str | None = None
    status: Status = Status.OPEN
    first_at: datetime | None = None
    last_at: datetime | None = None
    last: dict[Kind, float] = field(default_factory=dict)
    worst: dict[Kind, float] = field(default_factory=dict)
    count: int = 0
    observations: tuple[str, ...] = ()
    acknowledged: Acknowledgement | None = None
    resolved: Resolution | None = None
    escalation: int = 0  # 0: the first in the chain; n: the n-th escalation
    escalated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """An alert's state change, with the alert as it is after the change.

    `occasion` names the sitting whose readings caused it, so the notifications of
    one occasion make one message per recipient. `inhibited_by` names the open urgent
    alert on the same values that makes this warning's message redundant (recorded,
    not sent: Alertmanager's inhibition).
    """

    kind: ChangeKind
    alert: Alert
    at: datetime
    occasion: str | None = None
    by: str | None = None
    note: str = ""
    inhibited_by: str | None = None


@dataclass(frozen=True, slots=True)
class PatientState:
    """What the core remembers of one patient between evaluations (one queue row).

    `points`: the recent readings of each kind (newest `HISTORY_POINTS` within
    `HISTORY_DAYS`), enough for every confirmation and recovery rule. `alerts`: the
    open or acknowledged alert of each condition. `resolved_at`: per condition, the
    time of the newest reading when its last alert resolved; readings up to then never
    confirm a new one. Treat it as immutable: the core returns a new state.
    """

    patient: str
    points: dict[Kind, tuple[Point, ...]] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)
    resolved_at: dict[str, datetime] = field(default_factory=dict)
    last_seen: dict[Kind, datetime] = field(default_factory=dict)
    gateway: str | None = None
    sequence: int = 0  # the number of alerts opened so far: numbers their ids
    pending: datetime | None = None  # when a sitting with too few readings closes


@dataclass(frozen=True, slots=True)
class GatewayState:
    """The clinic's gateway-offline alerts (open or acknowledged), by gateway id."""

    alerts: dict[str, Alert] = field(default_factory=dict)
    recovered_at: dict[str, datetime] = field(default_factory=dict)
    sequence: int = 0


S = TypeVar("S", PatientState, GatewayState)


@dataclass(frozen=True, slots=True)
class Outcome(Generic[S]):
    """A state after a decision, and the changes that led there (in order)."""

    state: S
    changes: tuple[Change, ...] = ()


_ALERT = TypeAdapter(Alert)
_CHANGE = TypeAdapter(Change)
_PATIENT = TypeAdapter(PatientState)
_GATEWAYS = TypeAdapter(GatewayState)


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """The alert as JSON types (ISO times, enum values)."""
    result: dict[str, Any] = _ALERT.dump_python(alert, mode="json")
    return result


def alert_from_json(data: Mapping[str, Any]) -> Alert:
    """The inverse of `alert_to_json`."""
    return _ALERT.validate_python(data)


def change_to_json(change: Change) -> dict[str, Any]:
    """A change as JSON types (for its audit record)."""
    result: dict[str, Any] = _CHANGE.dump_python(change, mode="json")
    return result


def change_from_json(data: Mapping[str, Any]) -> Change:
    """The inverse of `change_to_json`."""
    return _CHANGE.validate_python(data)


def state_to_json(state: PatientState) -> dict[str, Any]:
    """A patient's state as JSON types, for the queue's row."""
    result: dict[str, Any] = _PATIENT.dump_python(state, mode="json")
    return result


def state_from_json(data: Mapping[str, Any]) -> PatientState:
    """The inverse of `state_to_json`."""
    return _PATIENT.validate_python(data)


def gateways_to_json(state: GatewayState) -> dict[str, Any]:
    """The gateway alerts' state as JSON types."""
    result: dict[str, Any] = _GATEWAYS.dump_python(state, mode="json")
    return result


def gateways_from_json(data: Mapping[str, Any]) -> GatewayState:
    """The inverse of `gateways_to_json`."""
    return _GATEWAYS.validate_python(data)

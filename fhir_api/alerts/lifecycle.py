"""An alert's lifecycle (pure): open -> acknowledged -> resolved, and its escalations.

Each transition returns the alert after it and the `Change` that records it; the
queue turns every change into an AuditEvent (and some into notifications). The
rules call `opened`, `updated`, `resolved_by_rule` and `escalated`; people call
`acknowledge` and `resolve` (through the API), which refuse a transition that is not
allowed with `TransitionError`, so the API can answer 404 or 409, never 500.

Errors:
    LifecycleError (ValueError)
    +-- AlertNotFound      no open alert with that id
    +-- TransitionError    e.g. acknowledging an alert twice
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from .model import (
    Acknowledgement,
    Alert,
    Change,
    ChangeKind,
    GatewayState,
    Kind,
    Outcome,
    PatientState,
    Resolution,
    Severity,
    Status,
)

__all__ = [
    "MAX_OBSERVATIONS",
    "AlertNotFound",
    "LifecycleError",
    "TransitionError",
    "acknowledge",
    "acknowledged",
    "escalated",
    "opened",
    "resolve",
    "resolved",
    "updated",
]

S = TypeVar("S", PatientState, GatewayState)

MAX_OBSERVATIONS = 100  # an alert keeps the newest ids; `count` keeps counting


class LifecycleError(ValueError):
    """A person asked for something the alert's state does not allow."""


class AlertNotFound(LifecycleError):
    """No open or acknowledged alert has that id."""


class TransitionError(LifecycleError):
    """The alert is not in a state that allows the change."""


def opened(
    alert_id: str,
    condition: str,
    severity: Severity,
    now: datetime,
    *,
    patient: str | None = None,
    gateway: str | None = None,
    occasion: str | None = None,
) -> tuple[Alert, Change]:
    """A new open alert, before any evidence is added (`updated` adds it)."""
    alert = Alert(alert_id, condition, severity, now, patient=patient, gateway=gateway)
    return alert, Change(ChangeKind.OPENED, alert, now, occasion)


def updated(
    alert: Alert,
    *,
    at: datetime,
    values: dict[Kind, float],
    worse: bool,
    observations: tuple[str, ...],
) -> Alert:
    """The alert with one more sample beyond its limit (its count, last and worst values).

    `observations` are the sample's new ids; a sample whose readings the alert already
    holds (an occasion mean that moved) changes the values but not the count.
    """
    new = tuple(o for o in observations if o not in alert.observations)
    newest = alert.last_at is None or at >= alert.last_at
    return replace(
        alert,
        first_at=at if alert.first_at is None or at < alert.first_at else alert.first_at,
        last_at=at if newest else alert.last_at,
        last=dict(values) if newest else alert.last,
        worst=dict(values) if worse or not alert.worst else alert.worst,
        count=alert.count + len(new),
        observations=(*alert.observations, *new)[-MAX_OBSERVATIONS:],
    )


def resolved(
    alert: Alert, now: datetime, *, by: str | None = None, note: str = ""
) -> tuple[Alert, Change]:
    """Resolved by the rule (`by` None) or by hand."""
    if alert.status is Status.RESOLVED:
        raise TransitionError(f"alert {alert.id} is already resolved")
    done = replace(alert, status=Status.RESOLVED, resolved=Resolution(now, by, note))
    return done, Change(ChangeKind.RESOLVED, done, now, by=by, note=note)


def acknowledged(alert: Alert, now: datetime, *, by: str, note: str = "") -> tuple[Alert, Change]:
    """Someone has seen it: escalation stops; the alert stays until it resolves."""
    if alert.status is not Status.OPEN:
        raise TransitionError(f"alert {alert.id} is {alert.status}, not open")
    if not by:
        raise TransitionError("an acknowledgement needs the person who made it")
    done = replace(alert, status=Status.ACKNOWLEDGED, acknowledged=Acknowledgement(by, now, note))
    return done, Change(ChangeKind.ACKNOWLEDGED, done, now, by=by, note=note)


def escalated(alert: Alert, now: datetime) -> tuple[Alert, Change]:
    """Sent on to the next person in the chain: nobody acknowledged it in time."""
    done = replace(alert, escalation=alert.escalation + 1, escalated_at=now)
    return done, Change(ChangeKind.ESCALATED, done, now)


# --- people's changes, on a state -------------------------------------------------------


def _find(alerts: dict[str, Alert], alert_id: str) -> tuple[str, Alert]:
    for key, alert in alerts.items():
        if alert.id == alert_id:
            return key, alert
    raise AlertNotFound(f"no open alert {alert_id}")


def acknowledge(state: S, alert_id: str, *, by: str, note: str, now: datetime) -> Outcome[S]:
    """Acknowledge an open alert of a patient (or a gateway).

    Raises:
        AlertNotFound: no open or acknowledged alert with that id.
        TransitionError: it is already acknowledged.
    """
    key, alert = _find(state.alerts, alert_id)
    done, change = acknowledged(alert, now, by=by, note=note)
    return Outcome(replace(state, alerts={**state.alerts, key: done}), (change,))


def resolve(state: S, alert_id: str, *, by: str, note: str, now: datetime) -> Outcome[S]:
    """Resolve an alert by hand, with a note saying why.

    Readings up to the newest one already received cannot reopen it: the rule starts
    counting again from there, as after a resolution by the rule.

    Raises:
        AlertNotFound: no open or acknowledged alert with that id.
        TransitionError: no person, or no note.
    """
    key, alert = _find(state.alerts, alert_id)
    if not by or not note.strip():
        raise TransitionError("resolving by hand needs the person and a note")
    _, change = resolved(alert, now, by=by, note=note)
    alerts = {k: a for k, a in state.alerts.items() if k != key}
    if isinstance(state, PatientState):
        newest = max(
            (p.at for points in state.points.values() for p in points), default=alert.last_at
        )
        marks = dict(state.resolved_at)
        if newest is not None:
            marks[key] = newest
        return Outcome(replace(state, alerts=alerts, resolved_at=marks), (change,))
    recovered = {**state.recovered_at, key: now}
    return Outcome(replace(state, alerts=alerts, recovered_at=recovered), (change,))

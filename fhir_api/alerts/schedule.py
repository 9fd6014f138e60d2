"""The time-based rules (pure): `scan(states, gateways, rules, now, gateway_state)`.

What no arriving reading can trigger: a patient who stopped measuring (no reading
of a kind for `Rules.no_reading`), a gateway that stopped reporting (its heartbeat older
than `Rules.gateway_offline`), an urgent alert nobody acknowledged (escalation), and a
sitting that ended with one reading (judged once it is over).

A gateway offline suppresses the no-reading alerts of its patients: the cause is the
gateway, and one alert about it says so. While it is offline, and for
`Rules.gateway_grace` after it returns (it first uploads what it held), no no-reading
alert opens for a patient whose newest reading came through it; one already open
stays open. A no-reading alert resolved by hand stays quiet until the patient's next
reading; a gateway-offline alert resolved by hand, until the gateway reports again.

`next_due(state, rules)` is when a patient's state must next be scanned: the queue
keeps it in an indexed column and scans only the states that are due (healthchecks'
`alert_after`), so a scan never reads every patient.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from .evaluate import _judge_all
from .lifecycle import escalated, opened, resolved
from .model import (
    Alert,
    Change,
    ChangeKind,
    GatewayState,
    Kind,
    PatientState,
    Sampling,
    Severity,
    Status,
)
from .rules import GATEWAY_OFFLINE, Rules, no_reading_condition

__all__ = ["ScanOutcome", "next_due", "offline_gateways", "scan", "scan_gateways", "scan_patient"]


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """The patients' states that changed (by patient id), the gateways', and the changes."""

    states: dict[str, PatientState] = field(default_factory=dict)
    gateways: GatewayState = field(default_factory=GatewayState)
    changes: tuple[Change, ...] = ()


def offline_gateways(
    gateways: Mapping[str, datetime | None], rules: Rules, now: datetime
) -> set[str]:
    """The gateways whose last heartbeat is older than the limit (never heard of: unknown)."""
    return {
        gateway
        for gateway, last in gateways.items()
        if last is not None and now - last > rules.gateway_offline
    }


def scan_gateways(
    state: GatewayState, gateways: Mapping[str, datetime | None], rules: Rules, now: datetime
) -> tuple[GatewayState, list[Change]]:
    """Open a gateway-offline alert per silent gateway; resolve it when it reports again."""
    offline = offline_gateways(gateways, rules, now)
    alerts, recovered, sequence = dict(state.alerts), dict(state.recovered_at), state.sequence
    changes: list[Change] = []
    for gateway in sorted(offline - alerts.keys()):
        last = gateways[gateway]
        mark = recovered.get(gateway)
        if last is not None and mark is not None and last < mark:
            continue  # resolved by hand: quiet until it reports again
        sequence += 1
        alert, _ = opened(
            f"gateway/{gateway}/{sequence}", GATEWAY_OFFLINE, Severity.WARNING, now, gateway=gateway
        )
        alert = replace(alert, first_at=last, last_at=last)
        alerts[gateway] = alert
        changes.append(Change(ChangeKind.OPENED, alert, now))
    for gateway in sorted(alerts.keys() & gateways.keys() - offline):
        _, change = resolved(alerts.pop(gateway), now)
        recovered[gateway] = gateways[gateway] or now  # its first heartbeat back
        changes.append(change)
    if not changes:
        return state, []
    return GatewayState(alerts, recovered, sequence), changes


def _no_reading(
    state: PatientState, rules: Rules, now: datetime, gateways: GatewayState
) -> tuple[PatientState, list[Change]]:
    changes: list[Change] = []
    for kind, limit in rules.no_reading.items():
        condition = no_reading_condition(kind)
        last = state.last_seen.get(kind)
        if condition in state.alerts or last is None or now - last < limit:
            continue
        mark = state.resolved_at.get(condition)
        if mark is not None and mark >= last:
            continue  # resolved by hand: quiet until the next reading
        gateway = state.gateway
        if gateway is not None:
            if gateway in gateways.alerts:
                continue  # suppressed: the gateway's own alert names the cause
            back = gateways.recovered_at.get(gateway)
            if back is not None and now < back + rules.gateway_grace:
                continue
        sequence = state.sequence + 1
        alert, _ = opened(
            f"{state.patient}/{condition}/{sequence}",
            condition,
            Severity.WARNING,
            now,
            patient=state.patient,
        )
        alert = replace(alert, first_at=last, last_at=last)
        state = replace(state, alerts={**state.alerts, condition: alert}, sequence=sequence)
        changes.append(Change(ChangeKind.OPENED, alert, now))
    return state, changes


def _escalation_due(alert: Alert, rules: Rules) -> datetime | None:
    if (
        alert.severity is not Severity.URGENT
        or alert.status is not Status.OPEN
        or alert.escalation >= rules.escalation_levels
    ):
        return None
    return (alert.escalated_at or alert.opened_at) + rules.escalate_after


def _occasion_kinds(rules: Rules) -> set[Kind]:
    return {k for r in rules.thresholds if r.sampling is Sampling.OCCASION for k in r.kinds}


def scan_patient(
    state: PatientState, rules: Rules, now: datetime, gateways: GatewayState
) -> tuple[PatientState, list[Change]]:
    """One patient's time-based rules: closed sittings, no reading, escalation."""
    changes: list[Change] = []
    if state.pending is not None and state.pending <= now:
        outcome = _judge_all(state, rules, now, _occasion_kinds(rules))
        state = outcome.state
        changes.extend(outcome.changes)
    if rules.no_reading:
        state, found = _no_reading(state, rules, now, gateways)
        changes.extend(found)
    for condition, alert in state.alerts.items():
        due = _escalation_due(alert, rules)
        if due is not None and now >= due:
            done, change = escalated(alert, now)
            state = replace(state, alerts={**state.alerts, condition: done})
            changes.append(change)
    return state, changes


def scan(
    states: Iterable[PatientState],
    gateways: Mapping[str, datetime | None],
    rules: Rules,
    now: datetime,
    gateway_state: GatewayState | None = None,
    *,
    per_patient: Mapping[str, Rules] | None = None,
) -> ScanOutcome:
    """The time-based rules for these patients and gateways at `now`.

    `gateways` maps each gateway reference (as readings name it, e.g. "Device/gw-1")
    to its last heartbeat (None: never heard from). `rules` is the clinic's; a patient
    with rules of their own has them in `per_patient`.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a zone")
    gateway_state, changes = scan_gateways(gateway_state or GatewayState(), gateways, rules, now)
    own = per_patient or {}
    changed: dict[str, PatientState] = {}
    for state in states:
        new, found = scan_patient(state, own.get(state.patient, rules), now, gateway_state)
        if found or new is not state:
            changed[state.patient] = new
            changes.extend(found)
    return ScanOutcome(changed, gateway_state, tuple(changes))


def next_due(state: PatientState, rules: Rules) -> datetime | None:
    """When this patient's state must next be scanned (None: only a reading can change it)."""
    due: list[datetime] = [] if state.pending is None else [state.pending]
    for kind, limit in rules.no_reading.items():
        condition = no_reading_condition(kind)
        last, mark = state.last_seen.get(kind), state.resolved_at.get(condition)
        if last is None or condition in state.alerts or (mark is not None and mark >= last):
            continue
        due.append(last + limit)
    for alert in state.alerts.values():
        if (escalation := _escalation_due(alert, rules)) is not None:
            due.append(escalation)
    return min(due, default=None)

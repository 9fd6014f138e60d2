"""The seam between the queue and the rules: what a worker hands the rules, what it gets back.

The rules (the pure core: evaluate, scan, lifecycle) decide; this package stores,
locks and delivers. A worker calls an `Evaluator` inside the transaction that holds
the patient's state row, and writes everything the `Evaluation` says in that same
transaction, so an evaluation is either wholly recorded (state, alerts, notifications,
work rows deleted) or not at all and done again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection

__all__ = ["GATEWAYS_ROW", "AlertRecord", "Evaluation", "Evaluator", "GatewayScanner", "Outgoing"]

# The alert_state row of the clinic's gateway alerts ("~" is never in a FHIR id, so no
# patient has it); its due_ms stays NULL: the patients' scan never takes it.
GATEWAYS_ROW = "~gateways"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert as the rules now see it (stored by `id`: a new id opens a new alert)."""

    id: str
    patient_id: str
    rule: str
    status: str  # open, acknowledged, resolved
    severity: str  # e.g. urgent, warning
    opened_at: datetime
    content: Mapping[str, Any] = field(default_factory=dict)
    # What the rules just did to it ("opened", "resolved", "escalated"): an AuditEvent,
    # written in the evaluation's transaction. Empty: recorded without one (an update).
    change: str = ""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message the rules want sent to one recipient (its channels come from the store).

    Items with the same `grouping_key` for one recipient, while unsent, go in one
    message (the readings of one occasion; a daily digest). `due_at` later than now
    holds the message back (quiet hours, a digest's hour).
    """

    recipient: str  # e.g. "Practitioner/<id>"
    grouping_key: str
    due_at: datetime
    item: Mapping[str, Any]  # JSON: what this alert contributes to the message


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What an evaluation decided: the new state, alert changes and messages."""

    state: Mapping[str, Any]  # JSON types: kept in alert_state.state
    due_at: datetime | None = None  # when the time-based rules must look again
    alerts: Sequence[AlertRecord] = ()
    outgoing: Sequence[Outgoing] = ()


class Evaluator(Protocol):
    """The rules, as the queue calls them (the core's `evaluate` and `scan` behind it)."""

    def evaluate(
        self,
        patient_id: str,
        state: Mapping[str, Any],
        observations: Sequence[Mapping[str, Any]],
        now: datetime,
        *,
        connection: Connection,
    ) -> Evaluation:
        """New readings of one patient (FHIR Observation JSON, in arrival order).

        `connection` is the worker's transaction (the patient's state row locked): the
        rules read the patient's settings and care team there, so what they decide and
        what they read are one consistent view.
        """
        ...

    def scan(
        self, patient_id: str, state: Mapping[str, Any], now: datetime, *, connection: Connection
    ) -> Evaluation:
        """The time-based rules (no reading, escalation, digests) for a patient now due."""
        ...


@runtime_checkable
class GatewayScanner(Protocol):
    """Rules that also watch the gateways: called once per scheduled scan, under the scan
    lease, before the patients' scans, in a transaction holding `GATEWAYS_ROW`."""

    def scan_gateways(
        self, state: Mapping[str, Any], now: datetime, *, connection: Connection
    ) -> Evaluation:
        """Open and resolve gateway-offline alerts (`state`: the GATEWAYS_ROW state)."""
        ...

"""Silences (pure): pause the notifications of a patient, a rule, or both, for a while.

Chosen as Alertmanager does: a silence mutes notifications, not rules. Alerts are
still opened, updated and resolved while silenced, audited and shown in the inbox, so
nothing is lost and the history of a hospital stay or a broken cuff stays readable;
only `notify.notifications` sends nothing for a change that a silence covers at the
time of the change. An alert still open when its silence ends is not sent again on
its own; its next change (an update does not notify; an escalation or its
resolution does) is, like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .model import Alert

__all__ = ["Silence", "silenced_by"]


@dataclass(frozen=True, slots=True)
class Silence:
    """A pause from `starts` to `ends` (exclusive), with who asked for it and why.

    `patient` None: every patient; `condition` None: every rule; one of them must be
    given (silencing everything is switching alerts off, not a silence).
    A `gateway` silence covers that gateway's offline alerts.
    """

    id: str
    starts: datetime
    ends: datetime
    reason: str
    author: str
    patient: str | None = None
    condition: str | None = None
    gateway: str | None = None

    def __post_init__(self) -> None:
        if self.ends <= self.starts:
            raise ValueError("a silence must end after it starts")
        if self.patient is None and self.condition is None and self.gateway is None:
            raise ValueError("a silence names a patient, a rule or a gateway")
        if not self.reason.strip() or not self.author.strip():
            raise ValueError("a silence needs a reason and an author")

    def covers(self, alert: Alert, at: datetime) -> bool:
        """Does it silence this alert at that moment?"""
        return (
            self.starts <= at < self.ends
            and (self.patient is None or self.patient == alert.patient)
            and (self.condition is None or self.condition == alert.condition)
            and (self.gateway is None or self.gateway == alert.gateway)
        )


def silenced_by(alert: Alert, silences: Iterable[Silence], at: datetime) -> Silence | None:
    """The first silence that covers the alert at `at`, if any."""
    return next((s for s in silences if s.covers(alert, at)), None)

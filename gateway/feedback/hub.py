"""The feedback hub: the service's events in, the light and the voice out.

The service calls `received`, `uploaded`, `accepted`, `reminded` and `watch`;
each turns into a `Situation`, then by the pure `cue_for` into a `Cue` that the
light shows and the speaker queues. Nothing here blocks or raises into the
service: a missing LED or speaker is simply absent (None), a failing one is
logged by its own module.

`options` and `read_values_for` may be replaced at any time (settings fetched
from the clinic apply without a restart).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..mapping.communication import Request, request_of
from ..outbox import OutboxRow
from ..reminders import Reminder
from .light import StatusLight
from .messages import Situation, SpokenValues
from .outage import OutageWatch
from .policy import Cue, FeedbackOptions, LedPattern, cue_for, in_quiet_hours
from .speech import Speaker

__all__ = ["Feedback"]

_SENT = {Request.CALL_ME: Situation.CALL_SENT, Request.FINE_TODAY: Situation.CHECKIN_SENT}
_ACCEPTED = {
    Request.CALL_ME: Situation.CALL_ACCEPTED,
    Request.FINE_TODAY: Situation.CHECKIN_ACCEPTED,
}


class Feedback:
    """What the patient sees and hears, for one home.

    Args:
        options: speech options (language, on/off, volume, rate, quiet hours).
        zone: the home's time zone (quiet hours are local).
        light: the status LED, or None when no pin is configured.
        speaker: the speaker, or None when speech is not configured.
        read_values_for: Patient ids whose values are read aloud ("*": everyone).
        warn_after: seconds without the server before the outage warning.
        clock: seconds since the epoch (tests inject one).
    """

    def __init__(
        self,
        options: FeedbackOptions,
        *,
        zone: ZoneInfo,
        light: StatusLight | None = None,
        speaker: Speaker | None = None,
        read_values_for: frozenset[str] = frozenset(),
        warn_after: float = 1800.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self.zone = zone
        self.light = light
        self.speaker = speaker
        self.read_values_for = read_values_for
        self.clock = clock
        self.outage = OutageWatch(warn_after, clock())
        self.unreachable = False
        # A reading was announced as received and not yet as at the clinic: "stored" is
        # said once for it, not once per upload batch (a cuff's memory comes in several),
        # and never for readings nobody was told about (streams, sleep epochs).
        self.awaiting_store = False
        self.history: list[tuple[Situation, Cue]] = []

    def _local(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC).astimezone(self.zone)

    def tell(
        self,
        situation: Situation,
        *,
        values: SpokenValues | None = None,
        subject: str | None = None,
    ) -> Cue:
        """Show and say one situation; returns the cue (kept in `history`)."""
        cue = cue_for(
            situation,
            self.options,
            local=self._local().time(),
            unreachable=self.unreachable,
            values=values,
            subject=subject,
        )
        self.history.append((situation, cue))
        del self.history[:-100]
        if self.light is not None:
            self.light.show(cue.led)
        if self.speaker is not None:
            self.speaker.say(cue)
        return cue

    def received(self, values: SpokenValues | None = None, patient: str | None = None) -> None:
        """A commit stored readings from a device (one call per commit, the newest values)."""
        aloud = patient is not None and (
            "*" in self.read_values_for or patient in self.read_values_for
        )
        self.awaiting_store = True
        self.tell(Situation.RECEIVED, values=values if aloud else None)

    def uploaded(self, rows: Sequence[OutboxRow]) -> None:
        """The server took these rows: STORED once per received reading(s), SENT per press."""
        requests = [request_of(row.resource) for row in rows]
        if self.awaiting_store and any(r is None for r in requests):
            self.awaiting_store = False
            self.tell(Situation.STORED)
        for request in requests:
            if request is not None:
                self.tell(_SENT[request])

    def accepted(self, request: Request) -> None:
        """A button press is committed to the outbox."""
        self.tell(_ACCEPTED[request])

    def reminded(self, reminder: Reminder) -> None:
        """A measurement is due."""
        self.tell(Situation.REMINDER, subject=reminder.kind)

    def watch(self, last_contact: float | None, last_failure: float | None) -> None:
        """Look at the uploader's contact times: the outage warning or recovery, once each."""
        now = self.clock()
        self.unreachable = self.outage.unreachable(now, last_contact, last_failure)
        quiet = in_quiet_hours(self._local().time(), self.options.quiet)
        situation = self.outage.update(now, last_contact, last_failure, quiet=quiet)
        if situation is not None:
            self.tell(situation)
        elif self.unreachable and self.light is not None:
            self.light.show(LedPattern.SLOW_BLINK)

"""Measurement reminders: when to remind, and when to stop. Pure, with the clock passed in.

A `ReminderPlan` is one patient's measurement of one kind at fixed local times in
the home's zone (Japanese home blood-pressure practice: morning and evening). At
each time the gateway reminds; if no reading of that kind has arrived
`repeat_after` after a reminder it reminds again, at most `max_repeats` more
times. A time missed by more than `repeat_after` (the gateway was off) is skipped. A
reading taken shortly before the time (within `early`) counts, so a patient who
measured at 06:50 is not told to measure at 07:00.

Times are local wall-clock times turned into instants through `zoneinfo`, so the
code works in any zone: on a day a local time does not exist (a DST gap) it falls
on the instant `zoneinfo` gives for fold=0. Occurrences are looked for on the
local day of `now` and the day before, so a 23:30 time re-reminds after midnight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Reminder", "ReminderPlan", "ReminderState", "due_reminders", "occurrence"]


@dataclass(frozen=True, slots=True)
class ReminderPlan:
    """One patient's reminder times for one kind of measurement.

    Example::

        ReminderPlan("tanaka", "blood-pressure", (time(7), time(19)), timedelta(minutes=30), 1)
    """

    patient: str  # Patient logical id
    kind: str  # gateway.mapping.devices.DeviceKind value
    times: tuple[time, ...]
    repeat_after: timedelta = timedelta(minutes=30)
    max_repeats: int = 1
    early: timedelta = timedelta(minutes=60)


@dataclass(frozen=True, slots=True)
class Reminder:
    """One reminder to give now: `number` 0 is the first, 1 the first re-reminder."""

    patient: str
    kind: str
    slot: datetime  # the scheduled instant (UTC) this reminder belongs to
    number: int


@dataclass(slots=True)
class ReminderState:
    """Per (patient, kind, slot): how many reminders were given, and when the last one was."""

    given: dict[tuple[str, str, datetime], tuple[int, datetime]] = field(default_factory=dict)

    def forget_before(self, horizon: datetime) -> None:
        """Drop slots older than `horizon` (the state stays small)."""
        self.given = {k: v for k, v in self.given.items() if k[2] >= horizon}


def occurrence(day: datetime, at: time, zone: ZoneInfo) -> datetime:
    """`at` on the local date of `day`, as an aware instant in `zone`."""
    return datetime.combine(day.astimezone(zone).date(), at, tzinfo=zone)


def due_reminders(
    plans: list[ReminderPlan],
    *,
    now: datetime,
    zone: ZoneInfo,
    last_reading: dict[tuple[str, str], datetime],
    state: ReminderState,
) -> list[Reminder]:
    """The reminders to give at `now`, recorded in `state` as given.

    Args:
        plans: every patient's times.
        now: the current instant (aware).
        zone: the home's time zone.
        last_reading: (patient, kind) -> when the latest reading of it arrived (aware).
        state: what was already given; updated.
    """
    due: list[Reminder] = []
    for plan in plans:
        for at in plan.times:
            for day in (now, now - timedelta(days=1)):
                slot = occurrence(day, at, zone)
                if now < slot:
                    continue
                key = (plan.patient, plan.kind, slot)
                given, last = state.given.get(key, (0, slot))
                if given == 0 and now - slot > plan.repeat_after:
                    continue  # started (or woke) too late for this time: it is missed
                if given > plan.max_repeats or (given > 0 and now < last + plan.repeat_after):
                    continue
                latest = last_reading.get((plan.patient, plan.kind))
                if latest is not None and latest >= slot - plan.early:
                    continue  # measured: no (further) reminder for this slot
                state.given[key] = (given + 1, now)
                due.append(Reminder(plan.patient, plan.kind, slot, given))
    return due

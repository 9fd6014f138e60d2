"""Sleep epochs to nights, and a night to its summary Observation.

A night is a run of epochs with no gap longer than `MAX_GAP`. Its Observation
has LOINC 93832-4 (sleep duration, minutes asleep) with `effectivePeriod` from
the first epoch's start to the last epoch's end, and, when the sensor reports
stages, components for deep (93831-6), light (93830-8) and REM (93829-0)
minutes, as the HL7 PHR IG's sleep value set suggests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import device_adapters as da
from device_adapters import Quantity, Unit

from .codes import CONCEPTS, OBSERVATION_CATEGORY
from .models import validate
from .observations import (
    MappingContext,
    Resource,
    categories,
    coincident_time_stamp,
    coincident_time_stamp_reference,
    observation,
)

__all__ = ["MAX_GAP", "SleepNight", "map_sleep_night", "nights_from_epochs"]

MAX_GAP = timedelta(hours=2)
_ASLEEP = {
    da.SleepStage.LIGHT,
    da.SleepStage.DEEP,
    da.SleepStage.REM,
    da.SleepStage.ASLEEP_UNSPECIFIED,
}
_STAGED = {da.SleepStage.LIGHT, da.SleepStage.DEEP, da.SleepStage.REM}


@dataclass(frozen=True, slots=True)
class SleepNight:
    """Seconds per stage over one night, on the device's clock."""

    start: datetime
    end: datetime
    seconds: dict[da.SleepStage, int]
    device_clock_unreliable: bool = False

    @property
    def asleep_minutes(self) -> float:
        """Minutes in any sleep stage."""
        return sum(self.seconds.get(stage, 0) for stage in _ASLEEP) / 60

    @property
    def staged(self) -> bool:
        """Whether the sensor told light, deep and REM apart this night."""
        return any(self.seconds.get(stage, 0) for stage in _STAGED)


def nights_from_epochs(epochs: Iterable[da.SleepEpoch]) -> list[SleepNight]:
    """Group epochs with a device time into nights (epochs without one are skipped)."""
    timed = sorted(
        (e.device_time, e.sequence_number, e)
        for e in epochs
        if e.device_time is not None and e.duration.value
    )
    nights: list[SleepNight] = []
    current: list[tuple[datetime, da.SleepEpoch]] = []
    end = datetime.min  # noqa: DTZ901 - compared with device times, which have no zone
    for start, _, epoch in timed:
        if current and start - end > MAX_GAP:
            nights.append(_night(current))
            current = []
        epoch_end = start + timedelta(seconds=epoch.duration.value or 0)
        end = max(end, epoch_end) if current else epoch_end
        current.append((start, epoch))
    if current:
        nights.append(_night(current))
    return nights


def _night(epochs: list[tuple[datetime, da.SleepEpoch]]) -> SleepNight:
    seconds: dict[da.SleepStage, int] = {}
    for _, epoch in epochs:
        seconds[epoch.stage] = seconds.get(epoch.stage, 0) + int(epoch.duration.value or 0)
    return SleepNight(
        epochs[0][0],
        max(start + timedelta(seconds=e.duration.value or 0) for start, e in epochs),
        seconds,
        any(e.device_clock_unreliable for _, e in epochs),
    )


def map_sleep_night(night: SleepNight, ctx: MappingContext) -> list[Resource]:
    """The night's summary Observation (validated with the pinned FHIR models)."""
    concept = CONCEPTS["sleep_duration"]
    resource = observation(
        concept,
        ctx,
        device_time=night.start,
        clock_unreliable=night.device_clock_unreliable,
        duration=night.end - night.start,
        values=f"{night.asleep_minutes:.1f}min",
    )
    resource["category"] = categories(
        concept, {"coding": [{"system": OBSERVATION_CATEGORY, "code": "activity"}]}
    )
    resource["valueQuantity"] = _minutes(night.asleep_minutes)
    if night.staged:
        resource["component"] = [
            {
                "code": CONCEPTS[name].codeable_concept(),
                "valueQuantity": _minutes(night.seconds.get(stage, 0) / 60),
            }
            for name, stage in (
                ("deep_sleep", da.SleepStage.DEEP),
                ("light_sleep", da.SleepStage.LIGHT),
                ("rem_sleep", da.SleepStage.REM),
            )
        ]
    validate(resource)
    # The summary refers to this session's coincident time stamp; the session may have
    # received no epoch (they came in a session cut before the summary was made), so it
    # goes with the summary, or the Bundle could not resolve the reference.
    if ctx.clock is not None:
        cts = coincident_time_stamp_reference(ctx)
        if any(e.get("valueReference", {}).get("reference") == cts for e in resource["extension"]):
            return [coincident_time_stamp(ctx), resource]
    return [resource]


def _minutes(value: float) -> Resource:
    quantity = Quantity(round(value, 1), Unit.MINUTE, -1)
    return {
        "value": quantity.value,
        "unit": "min",
        "system": "http://unitsofmeasure.org",
        "code": "min",
    }

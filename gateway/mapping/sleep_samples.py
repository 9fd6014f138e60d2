"""A run of sleep epochs as `valueSampledData` Observations: one per signal, not one per epoch.

Issue 15: one night of 48 epochs was 144 Observations (stage, heart rate and
breathing rate per epoch). The HL7 PHD IG sends periodic measurements as
SampledData; here the epochs of one upload window (a night, or the part of it
not sent before) become three Observations: heart rate, breathing rate and
stage, each with `origin`, `period` (the epoch length in ms) and one sample per
epoch slot from the first epoch's start (`E` where an epoch or its value is
missing, `U` and `L` for a rate above or below the sensor's range). The FHIR
heart-rate and respiratory-rate profiles take one valueQuantity, so these are no
vital-signs Observations: they carry the MDC code alone (MDC_ECG_HEART_RATE,
MDC_RESP_RATE), the `phd` category and the `measurement-setting|in-bed` mark; the
server charts them as 8867-4 and 9279-1 in its in-bed series. Stages use the open
sleep profile's numbers (docs/open-sleep-profile.md: 0 unknown, 1 awake, 2 light,
3 deep, 4 REM, 5 asleep, 6 out of bed) under SNOMED CT 258158006 "Sleep,
function", with the unit "1".

A window is what the gateway kept and has not sent yet, once it spans two hours
or its night is over (`gateway/service.py`), cut where its epochs stop lying on
one grid: a different epoch length, a start off the grid or
before the last slot (a clock set back: an epoch goes on in the newest window whose
grid it fits), a gap longer than a night's `MAX_GAP`, or `MAX_SLOTS` slots. Every
epoch lands in exactly one window, so a night split over two sessions is two
windows whose samples the server expands once each. An epoch
repeated with another sequence number but the same start and values is the same
reading (as its one-epoch identifier was): it joins the window, and takes no slot.
The gateway also cuts where the epochs' sessions differ in clock drift or patient
(`gateway/epoch_origin.py`): it windows each such group on its own.

The identifier names the window (first epoch, slots x period) and a digest of the
samples, so a retried upload of the same window is the same resource
(If-None-Exist) and a different window never is. The server reads each sample as a
reading of its own: `$stats` and the charts (fhir_api/storage/series) and the
breathing-rate alert rules (fhir_api/alerts/observations.py) see the same per-epoch
values as from one Observation per epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import device_adapters as da

from .codes import (
    CONCEPTS,
    IN_BED_CATEGORY,
    MDC,
    OBSERVATION_CATEGORY,
    PHD_CATEGORY,
    SLEEP_STAGE_CODE,
    UCUM,
)
from .models import validate
from .observations import (
    MappingContext,
    Resource,
    coincident_time_stamp,
    coincident_time_stamp_reference,
    number,
    observation,
)
from .sleep_nights import MAX_GAP

__all__ = [
    "MAX_SLOTS",
    "EpochWindow",
    "epoch_windows",
    "map_epoch_samples",
    "map_window",
    "map_windows",
]

# Samples per Observation at most: a day of 30-second epochs (the server takes 10,000).
MAX_SLOTS = 2880


@dataclass(slots=True)
class EpochWindow:
    """Epochs on one grid: `slots[i]` started at `start` + i x `period` seconds (None: none did).

    `epochs` is every epoch the window carries, repeats included (they are marked sent).
    """

    start: datetime
    period: int
    slots: list[da.SleepEpoch | None] = field(default_factory=list)
    epochs: list[da.SleepEpoch] = field(default_factory=list)

    @property
    def span(self) -> timedelta:
        """From the first slot's start to the last one's end."""
        return timedelta(seconds=self.period * len(self.slots))

    @property
    def name(self) -> str:
        """What the gateway keeps beside each epoch the window sent (`sleep_epochs.sampled_in`)."""
        return f"{self.start.isoformat()}/{len(self.slots)}x{self.period}s"

    def take(self, start: datetime, epoch: da.SleepEpoch) -> bool:
        """Put the epoch on this window's grid; False when it does not belong there."""
        duration = int(epoch.duration.value or 0)
        offset = (start - self.start).total_seconds()
        slot, off_grid = divmod(offset, self.period)
        last = self.slots[-1] if self.slots else None
        if last is not None and last.device_time == start and _same_values(last, epoch):
            self.epochs.append(epoch)  # the same reading again, under another sequence number
            return True
        end = self.start + timedelta(seconds=self.period * len(self.slots))
        if (
            duration != self.period
            or off_grid
            or slot < len(self.slots)
            or slot >= MAX_SLOTS
            or start - end > MAX_GAP
        ):
            return False
        self.slots.extend([None] * (int(slot) - len(self.slots)))
        self.slots.append(epoch)
        self.epochs.append(epoch)
        return True


def _same_values(a: da.SleepEpoch, b: da.SleepEpoch) -> bool:
    return (a.duration, a.stage, a.heart_rate, a.respiration_rate) == (
        b.duration,
        b.stage,
        b.heart_rate,
        b.respiration_rate,
    )


def epoch_windows(epochs: Sequence[da.SleepEpoch]) -> list[EpochWindow]:
    """The epochs with a device time, oldest first, cut into windows on one grid each.

    Epochs without a device time (the sensor's clock unset) belong to no window: they
    cannot be placed on a grid, and go one Observation each.
    """
    timed = sorted(
        ((e.device_time, e) for e in epochs if e.device_time is not None and e.duration.value),
        key=lambda pair: (pair[0], pair[1].sequence_number),
    )
    windows: list[EpochWindow] = []
    for start, epoch in timed:
        # The newest window it fits first: after a clock set back, the epochs of both
        # grids interleave in time, and each goes on with its own window.
        if not any(window.take(start, epoch) for window in reversed(windows)):
            window = EpochWindow(start, int(epoch.duration.value or 0))
            window.take(start, epoch)
            windows.append(window)
    return windows


# FHIR R4 SampledData.data: `U` above and `L` below the detection limit. An IEEE 11073
# +/-INFINITY is a rate beyond what the sensor can measure (one Observation an epoch says
# so in its dataAbsentReason); NaN, NRes and a missing rate are `E`.
_BEYOND_RANGE = {
    da.AbsentReason.POSITIVE_INFINITY: "U",
    da.AbsentReason.NEGATIVE_INFINITY: "L",
}


def _sample(quantity: da.Quantity | None) -> str:
    """A rate as the device reported it (its resolution); `U`/`L` beyond its range, else
    `E` for none or a special value."""
    if quantity is None or quantity.value is None:
        reason = quantity.absent_reason if quantity is not None else None
        return _BEYOND_RANGE.get(reason, "E") if reason is not None else "E"
    return str(number(quantity))


def map_epoch_samples(epochs: Sequence[da.SleepEpoch], ctx: MappingContext) -> list[Resource]:
    """The SampledData Observations of a run of epochs (heart rate, breathing rate, stage).

    Args:
        epochs: the epochs to send (the gateway's kept, unsent ones); those without a
            device time are left out (they go one Observation each, `map_reading`).
        ctx: the sensor, gateway, patient and clocks of the connection.

    Returns:
        Up to three Observations per window (`epoch_windows`), validated with the pinned
        FHIR models, after this connection's coincident time stamp when they refer to it;
        none for no epochs. A signal that no epoch of a window carries gives no Observation.
    """
    return map_windows(epoch_windows(epochs), ctx)


def map_windows(windows: Sequence[EpochWindow], ctx: MappingContext) -> list[Resource]:
    """The SampledData Observations of these windows, after this connection's coincident
    time stamp when they refer to it (`map_epoch_samples` without the cutting)."""
    resources = [r for window in windows for r in map_window(window, ctx)]
    if ctx.clock is not None:
        cts = coincident_time_stamp_reference(ctx)
        if any(
            e.get("valueReference", {}).get("reference") == cts
            for r in resources
            for e in r["extension"]
        ):
            resources.insert(0, coincident_time_stamp(ctx))
    return resources


def map_window(window: EpochWindow, ctx: MappingContext) -> list[Resource]:
    """One window's SampledData Observations (without the coincident time stamp they may
    refer to: `map_epoch_samples` adds it)."""
    slots, period = window.slots, window.period
    signals = [
        ("heart_rate", [_sample(e.heart_rate if e else None) for e in slots], "/min"),
        ("respiration_rate", [_sample(e.respiration_rate if e else None) for e in slots], "/min"),
        ("sleep_stage", [str(int(e.stage)) if e else "E" for e in slots], "1"),
    ]
    resources = []
    for name, samples, unit in signals:
        if all(sample == "E" for sample in samples):
            continue
        data = " ".join(samples)
        digest = hashlib.sha256(data.encode()).hexdigest()[:12]
        concept = CONCEPTS[name]
        resource = observation(
            concept,
            ctx,
            device_time=window.start,
            clock_unreliable=any(e.device_clock_unreliable for e in window.epochs),
            duration=timedelta(seconds=period * len(slots)),
            values=f"{len(slots)}x{period}s-{digest}",
            supplemental=("samples",),
        )
        meta = resource.get("meta")
        if meta is not None:  # not the heart-rate profile: that takes one valueQuantity
            meta.pop("profile", None)
            if not meta:
                del resource["meta"]
        phd = {"coding": [{"system": PHD_CATEGORY, "code": "phd"}]}
        if name == "sleep_stage":
            resource["code"] = {"coding": [SLEEP_STAGE_CODE], "text": "Sleep stage"}
            activity = {"coding": [{"system": OBSERVATION_CATEGORY, "code": "activity"}]}
            resource["category"] = [phd, activity]
        else:
            mdc, reference = concept.mdc or ("", "")
            resource["code"] = {
                "coding": [{"system": MDC, "code": mdc, "display": reference}],
                "text": concept.text,
            }
            resource["category"] = [phd, IN_BED_CATEGORY]
        resource["valueSampledData"] = {
            "origin": {"value": 0, "unit": unit, "system": UCUM, "code": unit},
            "period": period * 1000,
            "dimensions": 1,
            "data": data,
        }
        validate(resource)
        resources.append(resource)
    return resources

"""A run of sleep epochs as `valueSampledData` Observations: one per signal, not one per epoch.

Issue 15: one night of 48 epochs was 144 Observations (stage, heart rate and
breathing rate per epoch). The HL7 PHD IG sends periodic measurements as
SampledData; here the epochs of one upload window (a night, or the part of it
not sent before) become three Observations: heart rate, breathing rate and
stage, each with `origin`, `period` (the epoch length in ms) and one sample per
epoch slot from the first epoch's start (`E` where an epoch or its value is
missing). The FHIR heart-rate and respiratory-rate profiles take one
valueQuantity, so these are no vital-signs Observations: they carry the MDC
code alone (MDC_ECG_HEART_RATE, MDC_RESP_RATE), the `phd` category and the
`measurement-setting|in-bed` mark; the server charts them as 8867-4 and 9279-1
in its in-bed series. Stages use the open sleep profile's numbers
(docs/open-sleep-profile.md: 0 unknown, 1 awake, 2 light, 3 deep, 4 REM, 5
asleep, 6 out of bed) under SNOMED CT 258158006 "Sleep, function", with the
unit "1".

The identifier names the window (first epoch, slots x period) and a digest of
the samples, so a retried upload of the same window is the same resource
(If-None-Exist) and a different window never is.

Not yet wired into `gateway/service.py`: the alert rules read the bed sensor's
breathing rate from one-epoch Observations (fhir_api/alerts/observations.py) and
would stop seeing it; see the report of issue 15's sleep slice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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
from .observations import MappingContext, Resource, observation

__all__ = ["map_epoch_samples"]


def _slots(
    timed: Sequence[tuple[datetime, da.SleepEpoch]],
) -> tuple[int, list[da.SleepEpoch | None]]:
    """The epoch length in seconds and the epochs on a regular grid from the first one's
    start (the first epoch of a slot wins; an empty slot is None)."""
    period = min(int(epoch.duration.value or 0) for _, epoch in timed)
    first = timed[0][0]
    slots: dict[int, da.SleepEpoch] = {}
    for start, epoch in timed:
        slots.setdefault(round((start - first).total_seconds() / period), epoch)
    return period, [slots.get(i) for i in range(max(slots) + 1)]


def _number(quantity: da.Quantity | None) -> str:
    if quantity is None or quantity.value is None:
        return "E"
    value = float(quantity.value)
    return str(int(value)) if value.is_integer() else f"{value:.1f}"


def map_epoch_samples(epochs: Sequence[da.SleepEpoch], ctx: MappingContext) -> list[Resource]:
    """The SampledData Observations of a run of epochs (heart rate, breathing rate, stage).

    Args:
        epochs: the epochs of one upload window; those without a device time or a
            duration are left out, as the night summary leaves them out.
        ctx: the sensor, gateway, patient and clocks of the connection.

    Returns:
        Up to three Observations, validated with the pinned FHIR models; none for no epochs.
        A signal that no epoch carries gives no Observation.
    """
    timed = sorted(
        ((e.device_time, e) for e in epochs if e.device_time is not None and e.duration.value),
        key=lambda pair: (pair[0], pair[1].sequence_number),
    )
    if not timed or min(int(e.duration.value or 0) for _, e in timed) < 1:
        return []
    period, slots = _slots(timed)
    signals = [
        ("heart_rate", [_number(e.heart_rate if e else None) for e in slots], "/min"),
        ("respiration_rate", [_number(e.respiration_rate if e else None) for e in slots], "/min"),
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
            device_time=timed[0][0],
            clock_unreliable=any(e.device_clock_unreliable for _, e in timed),
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

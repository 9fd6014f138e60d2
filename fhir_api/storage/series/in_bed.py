"""Heart and breathing rates measured in bed: a series of their own, apart from spot readings.

The bed sensor's epoch heart rates carry LOINC 8867-4 like the cuff's and the
oximeter's pulse, and its breathing rates 9279-1 like a spot respiration. Filed
in one series, `$stats` for 8867-4 mixed a night's 52-60/min with the day's one
spot pulse of 72 (min 52), and the patient list's "newest pulse" could be an
epoch of last night. Points of a rate measured in bed are therefore kept under a
series key of their own (`8867-4@in-bed`); `$stats` and the newest readings give
spot readings for 8867-4 and 9279-1, and `$stats` gives the in-bed series when it
is asked for with `setting=in-bed`.

An Observation is measured in bed when it says so with the category
`measurement-setting|in-bed` (the gateway marks every rate of the bed sensor,
live ones too), or when it is a rate over a period (`effectivePeriod`): an epoch,
as the bed sensor sends them, never a spot reading, which has an instant. That
second rule also files the epochs of stores written before the marker existed
(migration 0013) and of other senders that send one epoch each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...codes import codings

__all__ = [
    "IN_BED",
    "IN_BED_CODES",
    "SETTING_SYSTEM",
    "loinc_of",
    "measured_in_bed",
    "series_code",
]

IN_BED = "in-bed"
# HomeVitals' own code system: no standard one names where a vital sign was taken.
SETTING_SYSTEM = "http://homevitals.org/fhir/CodeSystem/measurement-setting"
IN_BED_CODES = frozenset({"8867-4", "9279-1"})  # heart rate, respiratory rate
_SEPARATOR = "@"  # never in a LOINC code (digits and one hyphen)


def measured_in_bed(observation: Mapping[str, Any]) -> bool:
    """Whether an Observation was measured in bed: marked so, or a rate over an epoch."""
    for category in observation.get("category") or ():
        if (SETTING_SYSTEM, IN_BED) in codings(category):
            return True
    return isinstance(observation.get("effectivePeriod"), dict)


def series_code(code: str, in_bed: bool) -> str:
    """The series key of a LOINC code's points: the code, or `code@in-bed` for a rate in bed."""
    return f"{code}{_SEPARATOR}{IN_BED}" if in_bed and code in IN_BED_CODES else code


def loinc_of(key: str) -> str:
    """The LOINC code of a series key."""
    return key.partition(_SEPARATOR)[0]

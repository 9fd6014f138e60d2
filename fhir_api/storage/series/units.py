"""The one unit each charted code is kept in, and conversion into it.

`$stats` reported the unit of the first point it found and averaged whatever
units the points had arrived in, so 37 Cel and 98.6 [degF] on one day gave
"Cel, mean 67.8" (issue 10). Every series point is now converted, once, when it
is derived from its Observation; the Observation itself keeps the value and unit
it arrived with.

`CHARTED` is also the list of codes `$stats` answers for: a code outside it is
refused with a reason instead of an empty answer. The units accepted per code
are those the validation layer accepts for the vital-signs profiles
(`fhir_api.validation.profiles.VITAL_SIGNS`, checked by the tests), plus the
others the gateway's devices report. The factors are the ones
`device_adapters/units.py` uses (the tests compare them); `fhir_api` does not
import `device_adapters`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CHARTED", "CHARTED_MDC", "MAX_MAGNITUDE", "Conversion", "to_canonical"]

# Beyond this a value is not charted: at most 1e12 per reading, a day's sum cannot
# overflow a float (issue 10: two readings of 1e308 made the mean infinite). Refusing
# implausible values at ingest is the validation layer's job; this keeps the
# arithmetic finite whatever it lets through.
MAX_MAGNITUDE = 1e12


@dataclass(frozen=True, slots=True)
class Conversion:
    """canonical = value * scale + offset."""

    scale: float
    offset: float = 0.0


_SAME = Conversion(1.0)
_MM_HG = {"mm[Hg]": _SAME, "kPa": Conversion(1000.0 / 133.322387415)}
_PER_MIN = {"/min": _SAME}
_PERCENT = {"%": _SAME}
_CELSIUS = {"Cel": _SAME, "[degF]": Conversion(5.0 / 9.0, -32.0 * 5.0 / 9.0)}
_KG = {"kg": _SAME, "g": Conversion(0.001), "[lb_av]": Conversion(0.45359237)}
_CM = {"cm": _SAME, "m": Conversion(100.0), "mm": Conversion(0.1), "[in_i]": Conversion(2.54)}
_KG_M2 = {"kg/m2": _SAME}
_MG_DL = {"mg/dL": _SAME, "mmol/L": Conversion(18.0156)}  # glucose, 180.156 g/mol
_MIN = {"min": _SAME, "s": Conversion(1 / 60), "h": Conversion(60.0)}

# LOINC code -> (canonical UCUM unit, {accepted unit: conversion into it}).
CHARTED: dict[str, tuple[str, dict[str, Conversion]]] = {
    "8480-6": ("mm[Hg]", _MM_HG),  # systolic
    "8462-4": ("mm[Hg]", _MM_HG),  # diastolic
    "8478-0": ("mm[Hg]", _MM_HG),  # mean arterial pressure
    "8867-4": ("/min", _PER_MIN),  # heart rate
    "9279-1": ("/min", _PER_MIN),  # respiratory rate
    "2708-6": ("%", _PERCENT),  # oxygen saturation
    "59408-5": ("%", _PERCENT),  # oxygen saturation by pulse oximetry
    "8310-5": ("Cel", _CELSIUS),  # body temperature
    "29463-7": ("kg", _KG),  # body weight
    "3141-9": ("kg", _KG),  # body weight measured
    "8302-2": ("cm", _CM),  # body height
    "9843-4": ("cm", _CM),  # head circumference
    "39156-5": ("kg/m2", _KG_M2),  # BMI
    "41653-7": ("mg/dL", _MG_DL),  # glucose, capillary blood by glucometer
    "2345-7": ("mg/dL", _MG_DL),  # glucose, serum or plasma
    "2339-0": ("mg/dL", _MG_DL),  # glucose, blood
    "93832-4": ("min", _MIN),  # sleep duration
    "93831-6": ("min", _MIN),  # deep sleep
    "93830-8": ("min", _MIN),  # light sleep
    "93829-0": ("min", _MIN),  # REM sleep
}


# MDC codes (IEEE 11073-10101, decimal) charted as a LOINC code when an Observation has
# no LOINC coding: the HL7 PHD IG codes periodic samples (`valueSampledData`, a night's
# epochs of the bed sensor) by MDC alone, as they are no vital-signs Observations (the
# FHIR heart-rate and respiratory-rate profiles take one valueQuantity).
CHARTED_MDC: dict[str, str] = {
    "147842": "8867-4",  # MDC_ECG_HEART_RATE
    "151562": "9279-1",  # MDC_RESP_RATE
}


def to_canonical(code: str, value: float, unit: str) -> tuple[float, str] | None:
    """`value unit` in the canonical unit of `code`, or None when it cannot be charted.

    None for a code that is not charted, a unit the code does not accept, and a
    value that is not finite or beyond `MAX_MAGNITUDE` once converted.
    """
    entry = CHARTED.get(code)
    if entry is None:
        return None
    canonical, accepted = entry
    conversion = accepted.get(unit)
    if conversion is None:
        return None
    converted = value * conversion.scale + conversion.offset
    if not math.isfinite(converted) or abs(converted) > MAX_MAGNITUDE:
        return None
    return converted, canonical

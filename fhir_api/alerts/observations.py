"""Our FHIR Observations as the core's `Reading`s (pure: JSON in, readings out).

The codes are those the gateway sends (`gateway/mapping/codes.py`) and the charts read
(`clinician_ui/charts.py`): the blood-pressure panel 85354-9 with its systolic 8480-6
and diastolic 8462-4 components, heart rate 8867-4, SpO2 59408-5 / 2708-6 (both on one
Observation: one reading), body temperature 8310-5, body weight 29463-7 / 3141-9 and
respiratory rate 9279-1. Values are converted into `UNITS` by the series' table
(`fhir_api/storage/series/units.py`), the one place units are converted.

Left out, as the charts leave them out: any status but final, amended, corrected or
preliminary (entered-in-error and cancelled never alert), a subject that is not a
Patient (an unassigned reading has nobody to alert about), no time with a zone, no
value (dataAbsentReason), and a heart rate measured in bed (`measured_in_bed`: the
bed sensor's epochs, and its live rates marked `measurement-setting|in-bed`: a
sleeping pulse of 48 is not a low pulse).

The bed sensor's breathing rate, which the respiration rules judge, comes as one
Observation per epoch or as a night's `valueSampledData` coded by MDC alone (the HL7
PHD IG; `fhir_api/sampled_data.py`). Each sample of such a night is a reading of its
own at the effective start + i x period, named `<id>#<i>` (`observation_of` gives
the Observation back), so the rules count epochs alike either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fhir_api.codes import LOINC, MDC, codings
from fhir_api.fhir import GATEWAY_EXTENSIONS
from fhir_api.sampled_data import samples
from fhir_api.storage.series.in_bed import measured_in_bed
from fhir_api.storage.series.units import CHARTED_MDC, to_canonical

from .model import UNITS, Kind, Reading

__all__ = ["ALERTING_STATUSES", "CODES", "SAMPLE_MARK", "observation_of", "readings_of"]

ALERTING_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
BP_PANEL = "85354-9"
# LOINC code -> kind, for Observations with a value of their own.
CODES: dict[str, Kind] = {
    "8867-4": Kind.PULSE,
    "59408-5": Kind.SPO2,
    "2708-6": Kind.SPO2,
    "8310-5": Kind.TEMPERATURE,
    "29463-7": Kind.WEIGHT,
    "3141-9": Kind.WEIGHT,
    "9279-1": Kind.RESPIRATION,
}
_COMPONENTS = {"8480-6": Kind.SYSTOLIC, "8462-4": Kind.DIASTOLIC}
# Between an Observation's id and a sample's index ("#" is never in a FHIR id).
SAMPLE_MARK = "#"


def observation_of(reading_id: str) -> str:
    """The Observation id of a reading's id (a SampledData sample's `<id>#<i>`)."""
    return reading_id.partition(SAMPLE_MARK)[0]


def _loinc(concept: Any) -> list[str]:
    """The LOINC codes of a concept, else the LOINC codes its MDC codes chart as."""
    found = list(codings(concept))
    loinc = [code for system, code in found if system == LOINC]
    return loinc or [CHARTED_MDC[c] for system, c in found if system == MDC and c in CHARTED_MDC]


def _start(resource: Mapping[str, Any]) -> datetime | None:
    """When the first sample of a SampledData was taken: the effective start."""
    period = resource.get("effectivePeriod")
    text = period.get("start") if isinstance(period, dict) else resource.get("effectiveDateTime")
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _sampled(observation: Mapping[str, Any], code: str) -> list[tuple[datetime, float, str]]:
    """(time, value in the canonical unit, reading id) of each sample of a SampledData."""
    sampled = observation.get("valueSampledData")
    start = _start(observation)
    if not isinstance(sampled, dict) or start is None or (read := samples(sampled)) is None:
        return []
    period, values = read
    origin = sampled.get("origin")
    unit = origin.get("code") or origin.get("unit") if isinstance(origin, dict) else None
    if not isinstance(unit, str):
        return []
    found = []
    for index, value in enumerate(values):
        if value is None or (converted := to_canonical(code, value, unit)) is None:
            continue
        at = start + timedelta(milliseconds=index * period)
        found.append((at, converted[0], f"{observation['id']}{SAMPLE_MARK}{index}"))
    return found


def _value(element: Mapping[str, Any], code: str) -> float | None:
    quantity = element.get("valueQuantity")
    if not isinstance(quantity, dict):
        return None
    value, unit = quantity.get("value"), quantity.get("code") or quantity.get("unit")
    if isinstance(value, bool) or not isinstance(value, int | float) or not isinstance(unit, str):
        return None
    converted = to_canonical(code, float(value), unit)
    return None if converted is None else converted[0]


def _moment(resource: Mapping[str, Any]) -> datetime | None:
    """The effective instant; a period's end (when the epoch's value was known)."""
    text = resource.get("effectiveDateTime")
    period = resource.get("effectivePeriod")
    if text is None and isinstance(period, dict):
        text = period.get("end") or period.get("start")
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _reference(value: Any) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    return reference if isinstance(reference, str) else None


def _gateway(resource: Mapping[str, Any]) -> str | None:
    for extension in resource.get("extension", ()):
        if isinstance(extension, dict) and extension.get("url") in GATEWAY_EXTENSIONS:
            return _reference(extension.get("valueReference"))
    return None


def readings_of(observation: Mapping[str, Any]) -> list[Reading]:
    """The readings the rules judge in one stored Observation (often none).

    Raises:
        ValueError: the Observation has no id (only stored Observations are judged).
    """
    if observation.get("status") not in ALERTING_STATUSES:
        return []
    subject = _reference(observation.get("subject")) or ""
    kind_of_subject, _, patient = subject.partition("/")
    if kind_of_subject != "Patient" or not patient:
        return []
    at = _moment(observation)
    if at is None:
        return []
    identifier = observation.get("id")
    if not isinstance(identifier, str) or not identifier:
        raise ValueError("an Observation without an id cannot be judged")
    found: list[tuple[Kind, float]] = []
    codes = _loinc(observation.get("code"))
    if BP_PANEL in codes:
        for component in observation.get("component", ()):
            if not isinstance(component, dict):
                continue
            for code in _loinc(component.get("code")):
                if code in _COMPONENTS and (value := _value(component, code)) is not None:
                    found.append((_COMPONENTS[code], value))
                    break
    else:
        for code in codes:
            kind = CODES.get(code)
            if kind is None or (kind is Kind.PULSE and measured_in_bed(observation)):
                continue
            if kind is Kind.RESPIRATION and "valueSampledData" in observation:
                device, gateway = _reference(observation.get("device")), _gateway(observation)
                return [
                    Reading(patient, kind, value, UNITS[kind], when, sample, device, gateway)
                    for when, value, sample in _sampled(observation, code)
                ]
            if (value := _value(observation, code)) is not None:
                found.append((kind, value))
                break  # SpO2's two codes on one Observation are one reading
    device = _reference(observation.get("device"))
    gateway = _gateway(observation)
    return [
        Reading(patient, kind, value, UNITS[kind], at, identifier, device, gateway)
        for kind, value in found
    ]

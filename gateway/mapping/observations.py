"""Readings to Observations: one Observation per measured quantity.

Each Observation carries at once what the FHIR R4 vital-signs profiles need
(LOINC code, `vital-signs` category, UCUM units, subject, effective time), what
the HL7 PHD IG needs (MDC coding, `phd` category, device, gatewayDevice
extension, conditional-create identifier, dataAbsentReason for special values,
status bits as components or interpretation) and JP Core's vital-signs category.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import device_adapters as da
from device_adapters import Quantity, Unit, convert

from ..errors import NotAMeasurement
from .codes import (
    ACT_REASON,
    ASN1_TO_HL7,
    COINCIDENT_TIME_STAMP_EXTENSION,
    CONCEPTS,
    DATA_ABSENT_REASON,
    GATEWAY_DEVICE_EXTENSION,
    HOMEVITALS,
    IN_BED_CATEGORY,
    JP_CATEGORY,
    MDC,
    MEASUREMENT_STATUS,
    OBSERVATION_CATEGORY,
    PHD_CATEGORY,
    PLX_SENSOR_STATUS_SYSTEM,
    SLEEP_STAGE_CODE,
    SLEEP_STAGE_SYSTEM,
    TIME_SOURCE_EXTENSION,
    UCUM,
    YES_NO,
    Concept,
)
from .devices import GatewayIdentity, SensorIdentity
from .identifiers import PatientLink, observation_identifier, stable_urn
from .models import validate
from .timing import ClockSample, EffectiveTime, TimeSource, effective_time

__all__ = [
    "MappingContext",
    "NotAMeasurement",
    "Resource",
    "categories",
    "fhir_quantity",
    "map_reading",
    "observation",
    "value_or_absent",
    "values_key",
]

Resource = dict[str, Any]
TOKYO = ZoneInfo("Asia/Tokyo")
ORIGINAL_QUANTITY_EXTENSION = f"{HOMEVITALS}/StructureDefinition/original-quantity"
MEASUREMENT_MODE_SYSTEM = f"{HOMEVITALS}/CodeSystem/measurement-mode"
_SUPPLEMENTAL_TYPES = {"system": MDC, "code": "68193", "display": "MDC_ATTR_SUPPLEMENTAL_TYPES"}
_MODALITY_SPOT = ("150588", "MDC_MODALITY_SPOT")


@dataclass(frozen=True, slots=True)
class MappingContext:
    """Everything besides the reading that its Observations depend on.

    Attributes:
        sensor: the device that measured.
        gateway: this gateway.
        patient: who the device (or its user slot) is bound to; None uploads the reading
            unassigned, with the device as subject (PHD IG), for staff to assign.
        received_at: when the gateway received the reading (zone-aware, NTP-synchronised).
        clock: this connection's coincident time stamp, when the device clock was read.
        zone: the home's time zone; device clocks show its local time.
        test_data: marks every Observation `meta.security` HTEST (simulated devices).
    """

    sensor: SensorIdentity
    gateway: GatewayIdentity
    patient: PatientLink | None
    received_at: datetime
    clock: ClockSample | None = None
    zone: ZoneInfo = field(default=TOKYO)
    test_data: bool = False

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be zone-aware")

    @property
    def subject_reference(self) -> str:
        """The patient, or the sensor itself when the reading is unassigned."""
        return self.patient.reference if self.patient else self.sensor.reference


# --- building blocks ---------------------------------------------------------------------


def number(quantity: Quantity) -> int | float:
    """The value rounded to the device's resolution (an int when it has no decimals)."""
    if quantity.value is None:
        raise ValueError(f"{quantity} has no value")
    rounded = round(quantity.value, quantity.decimals)
    return int(rounded) if quantity.decimals == 0 else rounded


def fhir_quantity(quantity: Quantity, original: Quantity | None = None) -> Resource:
    """A UCUM `Quantity`; `original` is kept in an extension when the device used another unit."""
    result: Resource = {
        "value": number(quantity),
        "unit": quantity.unit.value,
        "system": UCUM,
        "code": quantity.unit.value,
    }
    if original is not None and original.unit is not quantity.unit and original.value is not None:
        result["extension"] = [
            {"url": ORIGINAL_QUANTITY_EXTENSION, "valueQuantity": fhir_quantity(original)}
        ]
    return result


def values_key(*quantities: Quantity | None) -> str:
    """The reported values as the identifier carries them: `122/80/96mm[Hg]`, `NaN%`."""
    parts = []
    unit = ""
    for quantity in quantities:
        if quantity is None:
            continue
        unit = quantity.unit.value
        if quantity.value is None:
            parts.append(quantity.absent_reason.value if quantity.absent_reason else "absent")
        else:
            text = repr(
                quantity.value
            )  # shortest round trip: 36.5 whether sent as 365e-1 or 3650e-2
            parts.append(text.removesuffix(".0"))
    return "/".join(parts) + unit


def value_or_absent(quantity: Quantity, unit: Unit | None = None) -> Resource:
    """`valueQuantity` (converted to `unit`), or `dataAbsentReason` for a special value."""
    if quantity.value is None:
        reason = quantity.absent_reason.value if quantity.absent_reason else "unknown"
        return {"dataAbsentReason": {"coding": [{"system": DATA_ABSENT_REASON, "code": reason}]}}
    converted = quantity.to(unit) if unit is not None else quantity
    return {"valueQuantity": fhir_quantity(converted, quantity)}


def categories(concept: Concept, *extra: Resource) -> list[Resource]:
    """HL7 vital-signs, PHD and JP Core categories, as separate CodeableConcepts."""
    result: list[Resource] = []
    if concept.vital_sign:
        result.append(
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ],
                "text": "Vital Signs",
            }
        )
    result.append({"coding": [{"system": PHD_CATEGORY, "code": "phd"}]})
    if concept.vital_sign:
        result.append(
            {
                "coding": [
                    {"system": JP_CATEGORY, "code": "vital-signs", "display": "バイタルサイン"}
                ]
            }
        )
    result.extend(extra)
    return result


def _coded_component(code: Resource, value: Resource) -> Resource:
    return {"code": code, **value}


def _supplemental(code: str, display: str, system: str = MDC) -> Resource:
    return _coded_component(
        {"coding": [_SUPPLEMENTAL_TYPES]},
        {
            "valueCodeableConcept": {
                "coding": [{"system": system, "code": code, "display": display}]
            }
        },
    )


def observation(
    concept: Concept,
    ctx: MappingContext,
    *,
    device_time: datetime | None,
    clock_unreliable: bool,
    values: str,
    supplemental: Sequence[str] = (),
    duration: timedelta | None = None,
    subject: str | None = None,
) -> Resource:
    """The common part of every Observation (value, components and status added by callers).

    `values` is the reported values as `values_key` writes them, for the identifier.
    """
    when = effective_time(device_time, clock_unreliable, ctx.received_at, ctx.clock, ctx.zone)
    identifier = observation_identifier(
        device_key=ctx.sensor.key,
        patient=ctx.patient,
        type_code=concept.mdc_code,
        device_time=device_time,
        received_at=ctx.received_at,
        duration_seconds=int(duration.total_seconds()) if duration is not None else None,
        values=values,
        supplemental=tuple(supplemental),
    )
    extensions: list[Resource] = [
        {"url": GATEWAY_DEVICE_EXTENSION, "valueReference": {"reference": ctx.gateway.reference}},
        {"url": TIME_SOURCE_EXTENSION, "valueCode": when.source.value},
    ]
    if ctx.clock is not None and when.source is not TimeSource.GATEWAY_RECEPTION:
        extensions.append(
            {
                "url": COINCIDENT_TIME_STAMP_EXTENSION,
                "valueReference": {"reference": coincident_time_stamp_reference(ctx)},
            }
        )
    resource: Resource = {"resourceType": "Observation"}
    if concept.profile or ctx.test_data:
        meta: Resource = {}
        if concept.profile:
            meta["profile"] = [concept.profile]
        if ctx.test_data:
            meta["security"] = [
                {"system": ACT_REASON, "code": "HTEST", "display": "test health data"}
            ]
        resource["meta"] = meta
    resource.update(
        {
            "extension": extensions,
            "identifier": [identifier],
            "status": "final",
            "category": categories(concept),
            "code": concept.codeable_concept(),
            "subject": {"reference": subject or ctx.subject_reference},
        }
    )
    _set_effective(resource, when, duration)
    resource["device"] = {"reference": ctx.sensor.reference}
    return resource


def _set_effective(resource: Resource, when: EffectiveTime, duration: timedelta | None) -> None:
    if duration is None:
        resource["effectiveDateTime"] = when.fhir()
        return
    if when.source is TimeSource.GATEWAY_RECEPTION:
        # PHD IG: with no device time, reception is the end of the period.
        start = EffectiveTime(when.at - duration, when.source)
        end = when
    else:
        start, end = when, EffectiveTime(when.at + duration, when.source)
    resource["effectivePeriod"] = {"start": start.fhir(), "end": end.fhir()}


def coincident_time_stamp_reference(ctx: MappingContext) -> str:
    """The urn:uuid of this connection's coincident time stamp Observation."""
    return stable_urn("Observation", _cts_identifier(ctx)["value"])


def _cts_identifier(ctx: MappingContext) -> dict[str, str]:
    if ctx.clock is None:
        raise ValueError("no clock sample in this context")
    return observation_identifier(
        device_key=ctx.sensor.key,
        patient=None,
        type_code=CONCEPTS["coincident_time_stamp"].mdc_code,
        device_time=None,
        received_at=ctx.clock.gateway_time,
        values=ctx.clock.device_time.isoformat() if ctx.clock.device_time else "unset",
        subject_part=ctx.gateway.key,
    )


def coincident_time_stamp(ctx: MappingContext) -> Resource:
    """The PhdCoincidentTimeStampObservation relating device and gateway clocks."""
    if ctx.clock is None:
        raise ValueError("no clock sample in this context")
    concept = CONCEPTS["coincident_time_stamp"]
    resource: Resource = {
        "resourceType": "Observation",
        "meta": {
            "profile": [
                "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCoincidentTimeStampObservation"
            ]
        },
        "extension": [
            {
                "url": GATEWAY_DEVICE_EXTENSION,
                "valueReference": {"reference": ctx.gateway.reference},
            }
        ],
        "identifier": [_cts_identifier(ctx)],
        "status": "final",
        "category": categories(concept),
        "code": concept.codeable_concept(),
        "subject": {"reference": ctx.sensor.reference},
        "effectiveDateTime": ctx.clock.gateway_time.astimezone(ctx.zone).isoformat(
            timespec="seconds"
        ),
        "device": {"reference": ctx.gateway.reference},
        "component": [
            _coded_component(
                {"coding": [{"system": MDC, "code": "68220", "display": "MDC_TIME_SYNC_PROTOCOL"}]},
                {
                    "valueCodeableConcept": {
                        "coding": [
                            {"system": MDC, "code": "532224", "display": "MDC_TIME_SYNC_NONE"}
                        ]
                    }
                },
            )
        ],
    }
    if ctx.clock.device_time is not None:
        resource["valueString"] = ctx.clock.device_time.isoformat(timespec="seconds")
    else:
        resource["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT_REASON, "code": "unknown"}]
        }
    return resource


# --- per reading type ---------------------------------------------------------------------

# Blood pressure Measurement Status -> the PHD IG's BITS codes (8410608.<bit>).
_BP_STATUS_BITS: tuple[tuple[da.BloodPressureStatus, int, str], ...] = (
    (da.BloodPressureStatus.BODY_MOVEMENT, 0, "body-movement"),
    (da.BloodPressureStatus.CUFF_TOO_LOOSE, 1, "cuff-too-loose"),
    (da.BloodPressureStatus.IRREGULAR_PULSE, 2, "irregular-pulse"),
    (da.BloodPressureStatus.IMPROPER_POSITION, 5, "improper-body-position"),
)
_PULSE_RANGE_BITS = {
    da.PulseRateRange.EXCEEDS_UPPER_LIMIT: (3, "pulse-rate-exceeds-upper-limit"),
    da.PulseRateRange.BELOW_LOWER_LIMIT: (4, "pulse-rate-below-lower-limit"),
}


def _bits_component(bit: int, text: str) -> Resource:
    return _coded_component(
        {"coding": [{"system": ASN1_TO_HL7, "code": f"8410608.{bit}"}], "text": text},
        {"valueCodeableConcept": {"coding": [{"system": YES_NO, "code": "Y"}]}},
    )


def _status_key(reading: da.BloodPressureMeasurement) -> str:
    """Status bits and user slot as reported, so readings differing only there stay apart."""
    key = ""
    if reading.measurement_status is not None:
        range_bits = 0b11 if reading.pulse_rate_range is None else int(reading.pulse_rate_range)
        key += f"s{int(reading.measurement_status) | range_bits << 3:x}"
    if reading.user_id is not None:
        key += f"u{reading.user_id}"
    return key


def _blood_pressure(reading: da.BloodPressureMeasurement, ctx: MappingContext) -> list[Resource]:
    panel = observation(
        CONCEPTS["blood_pressure"],
        ctx,
        device_time=reading.device_time,
        clock_unreliable=reading.device_clock_unreliable,
        values=values_key(reading.systolic, reading.diastolic, reading.mean_arterial_pressure)
        + _status_key(reading),
    )
    components = [
        {"code": CONCEPTS[name].codeable_concept(), **value_or_absent(value, Unit.MM_HG)}
        for name, value in (
            ("systolic", reading.systolic),
            ("diastolic", reading.diastolic),
            ("mean_arterial_pressure", reading.mean_arterial_pressure),
        )
    ]
    status = reading.measurement_status or da.BloodPressureStatus(0)
    components += [
        _bits_component(bit, text) for flag, bit, text in _BP_STATUS_BITS if flag in status
    ]
    if reading.pulse_rate_range in _PULSE_RANGE_BITS:
        components.append(_bits_component(*_PULSE_RANGE_BITS[reading.pulse_rate_range]))
    panel["component"] = components
    result = [panel]
    if reading.pulse_rate is not None:
        pulse = observation(
            CONCEPTS["cuff_pulse_rate"],
            ctx,
            device_time=reading.device_time,
            clock_unreliable=reading.device_clock_unreliable,
            values=values_key(reading.pulse_rate),
        )
        pulse.update(value_or_absent(reading.pulse_rate))
        result.append(pulse)
    return result


_PLX_INTERPRETATION = (
    (da.PlxMeasurementStatus.EARLY_ESTIMATED_DATA, "early-indication", "Early indication"),
    (da.PlxMeasurementStatus.QUESTIONABLE_MEASUREMENT_DETECTED, "questionable", "Questionable"),
    (da.PlxMeasurementStatus.CALIBRATION_ONGOING, "calibration-ongoing", "Calibration ongoing"),
)


def _apply_plx_status(
    resource: Resource,
    status: da.PlxMeasurementStatus | None,
    sensor: da.PlxDeviceSensorStatus | None,
) -> None:
    """PHD IG "Measurement Status" table, plus sensor status bits as components."""
    status = status or da.PlxMeasurementStatus(0)
    interpretations = [
        {"coding": [{"system": MEASUREMENT_STATUS, "code": code, "display": display}]}
        for flag, code, display in _PLX_INTERPRETATION
        if flag in status
    ]
    if interpretations:
        resource["interpretation"] = interpretations
    if da.PlxMeasurementStatus.EARLY_ESTIMATED_DATA in status:
        resource["status"] = "preliminary"
    absent = None
    if da.PlxMeasurementStatus.INVALID_MEASUREMENT_DETECTED in status:
        resource["status"] = "entered-in-error"
        absent = "error"
    elif da.PlxMeasurementStatus.MEASUREMENT_UNAVAILABLE in status:
        absent = "not-performed"
    if absent is not None:
        resource.pop("valueQuantity", None)
        resource["dataAbsentReason"] = {"coding": [{"system": DATA_ABSENT_REASON, "code": absent}]}
    if status & (
        da.PlxMeasurementStatus.DATA_FOR_TESTING | da.PlxMeasurementStatus.DATA_FOR_DEMONSTRATION
    ):
        meta = resource.setdefault("meta", {})
        meta.setdefault("security", [{"system": ACT_REASON, "code": "HTEST"}])
    if sensor:
        resource.setdefault("component", []).extend(
            _coded_component(
                {
                    "coding": [
                        {
                            "system": PLX_SENSOR_STATUS_SYSTEM,
                            "code": (flag.name or "").lower().replace("_", "-"),
                        }
                    ]
                },
                {"valueBoolean": True},
            )
            for flag in da.PlxDeviceSensorStatus
            if flag in sensor
        )


def _plx_pair(
    spo2: Quantity,
    pulse_rate: Quantity,
    ctx: MappingContext,
    *,
    device_time: datetime | None,
    clock_unreliable: bool,
    mode: tuple[str, str, str],
    status: da.PlxMeasurementStatus | None,
    sensor: da.PlxDeviceSensorStatus | None,
) -> list[Resource]:
    code, display, system = mode
    result = []
    for concept, quantity in (("spo2", spo2), ("oximeter_pulse_rate", pulse_rate)):
        resource = observation(
            CONCEPTS[concept],
            ctx,
            device_time=device_time,
            clock_unreliable=clock_unreliable,
            values=values_key(quantity),
            supplemental=(code,),
        )
        resource.update(value_or_absent(quantity))
        resource.setdefault("component", []).append(_supplemental(code, display, system))
        _apply_plx_status(resource, status, sensor)
        result.append(resource)
    return result


def _plx_spot_check(reading: da.PlxSpotCheckMeasurement, ctx: MappingContext) -> list[Resource]:
    return _plx_pair(
        reading.spo2,
        reading.pulse_rate,
        ctx,
        device_time=reading.device_time,
        clock_unreliable=reading.device_clock_unreliable,
        mode=(*_MODALITY_SPOT, MDC),
        status=reading.measurement_status,
        sensor=reading.device_sensor_status,
    )


def _plx_continuous(reading: da.PlxContinuousMeasurement, ctx: MappingContext) -> list[Resource]:
    return _plx_pair(
        reading.spo2,
        reading.pulse_rate,
        ctx,
        device_time=None,
        clock_unreliable=False,
        mode=("continuous", "Continuous measurement", MEASUREMENT_MODE_SYSTEM),
        status=reading.measurement_status,
        sensor=reading.device_sensor_status,
    )


def _heart_rate(reading: da.HeartRateMeasurement, ctx: MappingContext) -> list[Resource]:
    resource = observation(
        CONCEPTS["heart_rate"],
        ctx,
        device_time=None,
        clock_unreliable=False,
        values=values_key(reading.heart_rate),
    )
    resource.update(value_or_absent(reading.heart_rate))
    if reading.sensor_contact is da.SensorContact.NOT_DETECTED:
        resource["interpretation"] = [
            {
                "coding": [{"system": MEASUREMENT_STATUS, "code": "questionable"}],
                "text": "no skin contact",
            }
        ]
    return [resource]


def _temperature(reading: da.TemperatureMeasurement, ctx: MappingContext) -> list[Resource]:
    resource = observation(
        CONCEPTS["body_temperature"],
        ctx,
        device_time=reading.device_time,
        clock_unreliable=reading.device_clock_unreliable,
        values=values_key(reading.temperature),
    )
    resource.update(value_or_absent(reading.temperature, Unit.CELSIUS))
    if reading.intermediate:
        resource["status"] = "preliminary"
    if reading.temperature_type is not None:
        resource["bodySite"] = {"text": reading.temperature_type.name.lower().replace("_", " ")}
    return [resource]


def _weight(reading: da.WeightMeasurement, ctx: MappingContext) -> list[Resource]:
    parts: list[tuple[str, Quantity | None, Unit | None]] = [
        ("body_weight", reading.weight, Unit.KILOGRAM),
        ("bmi", reading.bmi, None),
        ("body_height", reading.height, Unit.CENTIMETRE),
    ]
    result = []
    for name, quantity, unit in parts:
        if quantity is None:
            continue
        resource = observation(
            CONCEPTS[name],
            ctx,
            device_time=reading.device_time,
            clock_unreliable=reading.device_clock_unreliable,
            values=values_key(quantity),
        )
        resource.update(value_or_absent(quantity, unit))
        result.append(resource)
    return result


def _glucose(reading: da.GlucoseMeasurement, ctx: MappingContext) -> list[Resource]:
    if reading.concentration is None:
        return []  # a record without a concentration measured nothing
    if reading.sample_type is da.GlucoseSampleType.CAPILLARY_WHOLE_BLOOD:
        concept = CONCEPTS["glucose_capillary"]
    elif reading.sample_type is da.GlucoseSampleType.CAPILLARY_PLASMA:
        concept = CONCEPTS["glucose_plasma"]
    else:
        concept = CONCEPTS["glucose"]
    resource = observation(
        concept,
        ctx,
        device_time=reading.device_time,
        clock_unreliable=reading.device_clock_unreliable,
        values=values_key(reading.concentration),
    )
    quantity = reading.concentration
    if quantity.value is not None:
        # mg/dL to the nearest unit: meters resolve 1 mg/dL (0.1 for mmol/L ones).
        mg = convert(quantity.value, quantity.unit, Unit.MG_PER_DL)
        resource["valueQuantity"] = fhir_quantity(Quantity(round(mg), Unit.MG_PER_DL), quantity)
    else:
        resource.update(value_or_absent(quantity))
    if reading.sensor_status:
        resource["interpretation"] = [
            {
                "coding": [{"system": MEASUREMENT_STATUS, "code": "questionable"}],
                "text": ", ".join(
                    (f.name or "").lower()
                    for f in da.GlucoseSensorStatus
                    if f in reading.sensor_status
                ),
            }
        ]
    return [resource]


def _battery(reading: da.BatteryLevel, ctx: MappingContext) -> list[Resource]:
    resource = observation(
        CONCEPTS["battery"],
        ctx,
        device_time=None,
        clock_unreliable=False,
        values=values_key(reading.level),
        subject=ctx.sensor.reference,
    )
    resource.update(value_or_absent(reading.level))
    return [resource]


def _stage_concept(stage: da.SleepStage) -> Resource:
    return {
        "coding": [{"system": SLEEP_STAGE_SYSTEM, "code": stage.name.lower().replace("_", "-")}],
        "text": stage.name.lower().replace("_", " "),
    }


def _sleep_epoch(reading: da.SleepEpoch, ctx: MappingContext) -> list[Resource]:
    duration = timedelta(seconds=reading.duration.value or 0)
    stage = observation(
        CONCEPTS["sleep_stage"],
        ctx,
        device_time=reading.device_time,
        clock_unreliable=reading.device_clock_unreliable,
        duration=duration,
        values=reading.stage.name.lower(),
    )
    stage["code"] = {"coding": [SLEEP_STAGE_CODE], "text": "Sleep stage"}
    stage["category"] = categories(
        CONCEPTS["sleep_stage"],
        {"coding": [{"system": OBSERVATION_CATEGORY, "code": "activity"}]},
    )
    stage["valueCodeableConcept"] = _stage_concept(reading.stage)
    return [
        stage,
        *_sleep_vitals(
            reading,
            ctx,
            device_time=reading.device_time,
            clock_unreliable=reading.device_clock_unreliable,
            duration=duration,
        ),
    ]


def _sleep_live(reading: da.SleepLive, ctx: MappingContext) -> list[Resource]:
    return _sleep_vitals(reading, ctx, device_time=None, clock_unreliable=False)


def _sleep_vitals(
    reading: da.SleepEpoch | da.SleepLive,
    ctx: MappingContext,
    *,
    device_time: datetime | None,
    clock_unreliable: bool,
    duration: timedelta | None = None,
) -> list[Resource]:
    """Heart and breathing rates in bed, marked as measured during sleep."""
    result = []
    for name, quantity in (
        ("heart_rate", reading.heart_rate),
        ("respiration_rate", reading.respiration_rate),
    ):
        if quantity is None:
            continue
        resource = observation(
            CONCEPTS[name],
            ctx,
            device_time=device_time,
            clock_unreliable=clock_unreliable,
            duration=duration,
            values=values_key(quantity),
            supplemental=("sleep",),
        )
        # Marked as measured in bed, so the server keeps these rates apart from spot
        # pulses and respirations of the same LOINC code (issue 15); live ones too.
        resource["category"] = categories(CONCEPTS[name], IN_BED_CATEGORY)
        resource.update(value_or_absent(quantity))
        result.append(resource)
    return result


_MAPPERS: dict[type, Callable[[Any, MappingContext], list[Resource]]] = {
    da.BloodPressureMeasurement: _blood_pressure,
    da.PlxSpotCheckMeasurement: _plx_spot_check,
    da.PlxContinuousMeasurement: _plx_continuous,
    da.HeartRateMeasurement: _heart_rate,
    da.TemperatureMeasurement: _temperature,
    da.WeightMeasurement: _weight,
    da.GlucoseMeasurement: _glucose,
    da.BatteryLevel: _battery,
    da.SleepEpoch: _sleep_epoch,
    da.SleepLive: _sleep_live,
}

# Readings that are not measurements of the patient, and where they go instead.
NOT_MEASUREMENTS: dict[type, str] = {
    da.IntermediateCuffPressure: "shown live on the cuff; the final reading is 0x2A35",
    da.BloodPressureFeatures: "capabilities of the sensor",
    da.PlxFeatures: "capabilities of the sensor",
    da.SleepFeatures: "capabilities of the sensor",
    da.RacpNumberOfRecords: "steers the history download",
    da.RacpResponse: "steers the history download",
    da.DateTimeValue: "a clock read: becomes a ClockSample",
    da.CurrentTime: "a clock read: becomes a ClockSample",
    da.DeviceInformation: "goes into the sensor's Device resource",
    da.SystemId: "goes into the sensor's Device resource",
}


def map_reading(reading: da.Reading, ctx: MappingContext) -> list[Resource]:
    """Map one reading to its Observations, validated with the pinned FHIR models.

    Args:
        reading: a measurement from `device_adapters.parse`.
        ctx: the sensor, gateway, patient and clocks it was received with.

    Returns:
        The Observations (a blood pressure reading gives the panel and the pulse rate),
        preceded by this connection's coincident time stamp Observation when one is used.

    Raises:
        NotAMeasurement: for feature, clock, RACP and Device Information readings.
    """
    mapper = _MAPPERS.get(type(reading))
    if mapper is None:
        raise NotAMeasurement(f"{type(reading).__name__}: {NOT_MEASUREMENTS[type(reading)]}")
    resources = mapper(reading, ctx)
    if ctx.clock is not None and any(_references_cts(r, ctx) for r in resources):
        resources.insert(0, coincident_time_stamp(ctx))
    for resource in resources:
        validate(resource)
    return resources


def _references_cts(resource: Resource, ctx: MappingContext) -> bool:
    target = coincident_time_stamp_reference(ctx)
    return any(
        ext.get("valueReference", {}).get("reference") == target
        for ext in resource.get("extension", ())
    )

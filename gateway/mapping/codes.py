"""Code systems and the one table of codes a measurement is sent with.

Sources: FHIR R4 vital-signs profiles (LOINC + UCUM), HL7 PHD IG 2.0 (MDC,
categories, identifier), JP Core 1.2 (JP vital-signs category). MDC numbers are
IEEE 11073-10101 codes in decimal (partition * 65536 + term code).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONCEPTS", "Concept"]

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_CATEGORY = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
JP_CATEGORY = "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
ASN1_TO_HL7 = "http://hl7.org/fhir/uv/phd/CodeSystem/ASN1ToHL7"
YES_NO = "http://terminology.hl7.org/CodeSystem/v2-0136"
MEASUREMENT_STATUS = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CONTINUA_DEVICE_IDENTIFIERS = "http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers"
SYSTEM_ID_SYSTEM = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
BLUETOOTH_ADDRESS_SYSTEM = "http://hl7.org/fhir/sid/eui-48/bluetooth"

PHD_IDENTIFIER_SYSTEM = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation"
GATEWAY_DEVICE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
COINCIDENT_TIME_STAMP_EXTENSION = (
    "http://hl7.org/fhir/uv/phd/StructureDefinition/CoincidentTimeStampReference"
)

# HomeVitals' own canonical base: only for what no standard names.
HOMEVITALS = "http://homevitals.org/fhir"
TIME_SOURCE_EXTENSION = f"{HOMEVITALS}/StructureDefinition/effective-time-source"
PLX_SENSOR_STATUS_SYSTEM = f"{HOMEVITALS}/CodeSystem/plx-device-sensor-status"
SLEEP_STAGE_SYSTEM = f"{HOMEVITALS}/CodeSystem/sleep-stage"
# Where a vital sign was measured: `in-bed` for the bed sensor's heart and breathing
# rates, which the server keeps apart from spot readings of the same LOINC code
# (fhir_api/storage/series/in_bed.py reads the same URL; the two sides share JSON only).
MEASUREMENT_SETTING_SYSTEM = f"{HOMEVITALS}/CodeSystem/measurement-setting"
IN_BED_CATEGORY = {
    "coding": [{"system": MEASUREMENT_SETTING_SYSTEM, "code": "in-bed", "display": "in bed"}]
}
# The kind of each sensor a gateway reads (gateway.mapping.devices.DeviceKind values).
DEVICE_KIND_SYSTEM = f"{HOMEVITALS}/CodeSystem/device-kind"
GATEWAY_STATUS_SYSTEM = f"{HOMEVITALS}/CodeSystem/gateway-status"

PROFILE_VITAL_SIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"


@dataclass(frozen=True, slots=True)
class Concept:
    """How one kind of measurement is coded.

    Attributes:
        loinc: LOINC (code, display) pairs; the first is the one the FHIR profile fixes.
        mdc: MDC (code, reference id) or None when the PHD IG names none.
        text: English text for `code.text`.
        profile: the FHIR R4 vital-signs profile the Observation claims, if any.
        vital_sign: whether the Observation carries the vital-signs categories.
        type_code: the identifier's type part when neither MDC nor LOINC names the concept.
    """

    loinc: tuple[tuple[str, str], ...]
    mdc: tuple[str, str] | None
    text: str
    profile: str | None = None
    vital_sign: bool = True
    type_code: str | None = None

    def codeable_concept(self) -> dict[str, object]:
        """`{"coding": [...], "text": ...}` with every LOINC coding and the MDC one."""
        coding: list[dict[str, str]] = [
            {"system": LOINC, "code": code, "display": display} for code, display in self.loinc
        ]
        if self.mdc is not None:
            coding.append({"system": MDC, "code": self.mdc[0], "display": self.mdc[1]})
        return {"coding": coding, "text": self.text}

    @property
    def mdc_code(self) -> str:
        """The MDC code used in the PHD identifier (else LOINC, else `type_code`)."""
        if self.mdc:
            return self.mdc[0]
        if self.loinc:
            return self.loinc[0][0]
        if self.type_code is None:
            raise ValueError(f"{self.text} has no code for the identifier")
        return self.type_code


_VS = "http://hl7.org/fhir/StructureDefinition"

CONCEPTS: dict[str, Concept] = {
    "blood_pressure": Concept(
        (("85354-9", "Blood pressure panel with all children optional"),),
        ("150020", "MDC_PRESS_BLD_NONINV"),
        "Blood pressure",
        f"{_VS}/bp",
    ),
    "systolic": Concept(
        (("8480-6", "Systolic blood pressure"),),
        ("150021", "MDC_PRESS_BLD_NONINV_SYS"),
        "Systolic blood pressure",
    ),
    "diastolic": Concept(
        (("8462-4", "Diastolic blood pressure"),),
        ("150022", "MDC_PRESS_BLD_NONINV_DIA"),
        "Diastolic blood pressure",
    ),
    "mean_arterial_pressure": Concept(
        (("8478-0", "Mean blood pressure"),),
        ("150023", "MDC_PRESS_BLD_NONINV_MEAN"),
        "Mean blood pressure",
    ),
    "cuff_pulse_rate": Concept(
        (("8867-4", "Heart rate"),),
        ("149546", "MDC_PULS_RATE_NON_INV"),
        "Pulse rate (blood pressure cuff)",
        f"{_VS}/heartrate",
    ),
    "spo2": Concept(
        (
            ("2708-6", "Oxygen saturation in Arterial blood"),
            ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        ),
        ("150456", "MDC_PULS_OXIM_SAT_O2"),
        "SpO2",
        f"{_VS}/oxygensat",
    ),
    "oximeter_pulse_rate": Concept(
        (("8867-4", "Heart rate"),),
        ("149530", "MDC_PULS_OXIM_PULS_RATE"),
        "Pulse rate (pulse oximeter)",
        f"{_VS}/heartrate",
    ),
    "heart_rate": Concept(
        (("8867-4", "Heart rate"),),
        ("147842", "MDC_ECG_HEART_RATE"),
        "Heart rate",
        f"{_VS}/heartrate",
    ),
    "respiration_rate": Concept(
        (("9279-1", "Respiratory rate"),),
        ("151562", "MDC_RESP_RATE"),
        "Respiratory rate",
        f"{_VS}/resprate",
    ),
    "body_temperature": Concept(
        (("8310-5", "Body temperature"),),
        ("150364", "MDC_TEMP_BODY"),
        "Body temperature",
        f"{_VS}/bodytemp",
    ),
    "body_weight": Concept(
        (("29463-7", "Body weight"), ("3141-9", "Body weight Measured")),
        ("188736", "MDC_MASS_BODY_ACTUAL"),
        "Body weight",
        f"{_VS}/bodyweight",
    ),
    "body_height": Concept(
        (("8302-2", "Body height"),),
        ("188740", "MDC_LEN_BODY_ACTUAL"),
        "Body height",
        f"{_VS}/bodyheight",
    ),
    "bmi": Concept(
        (("39156-5", "Body mass index (BMI) [Ratio]"),),
        ("188752", "MDC_RATIO_MASS_BODY_LEN_SQ"),
        "Body mass index",
        f"{_VS}/bmi",
    ),
    "glucose_capillary": Concept(
        (("41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer"),),
        ("160184", "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD"),
        "Blood glucose (capillary)",
        vital_sign=False,
    ),
    "glucose_plasma": Concept(
        (("2345-7", "Glucose [Mass/volume] in Serum or Plasma"),),
        ("160196", "MDC_CONC_GLU_CAPILLARY_PLASMA"),
        "Blood glucose (plasma)",
        vital_sign=False,
    ),
    "glucose": Concept(
        (("2339-0", "Glucose [Mass/volume] in Blood"),),
        None,
        "Blood glucose",
        vital_sign=False,
    ),
    "battery": Concept(
        (),
        ("67996", "MDC_ATTR_VAL_BATT_CHARGE"),
        "Battery level",
        vital_sign=False,
    ),
    "sleep_duration": Concept(
        (("93832-4", "Sleep duration"),), None, "Sleep duration", vital_sign=False
    ),
    "deep_sleep": Concept(
        (("93831-6", "Deep sleep duration"),), None, "Deep sleep duration", vital_sign=False
    ),
    "light_sleep": Concept(
        (("93830-8", "Light sleep duration"),), None, "Light sleep duration", vital_sign=False
    ),
    "rem_sleep": Concept(
        (("93829-0", "REM sleep duration"),), None, "REM sleep duration", vital_sign=False
    ),
    "sleep_stage": Concept((), None, "Sleep stage", vital_sign=False, type_code="258158006"),
    "coincident_time_stamp": Concept(
        (), ("67975", "MDC_ATTR_TIME_ABS"), "Coincident time stamp", vital_sign=False
    ),
}

# The Sleep function SNOMED CT concept carries an epoch's stage as a coded value.
SLEEP_STAGE_CODE = {"system": SNOMED, "code": "258158006", "display": "Sleep, function"}

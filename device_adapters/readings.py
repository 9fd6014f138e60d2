"""The typed readings the parsers return: frozen, slotted dataclasses.

Every measured value is a `Quantity` carrying its UCUM unit. `device_time` is
the device's own clock exactly as sent (no time zone); the gateway adds its own
zone-aware reception time later and never overwrites this one.
`device_clock_unreliable` is True when the device said its clock is not set,
or sent a time stamp that is not a real date (then `device_time` is None).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, IntFlag

from .units import Quantity, Unit

__all__ = [
    "AdjustReason",
    "BatteryLevel",
    "BloodPressureFeature",
    "BloodPressureFeatures",
    "BloodPressureMeasurement",
    "BloodPressureStatus",
    "CurrentTime",
    "DateTimeValue",
    "DeviceInformation",
    "DeviceInformationField",
    "GlucoseMeasurement",
    "GlucoseSampleLocation",
    "GlucoseSampleType",
    "GlucoseSensorStatus",
    "HeartRateMeasurement",
    "IntermediateCuffPressure",
    "PlxContinuousMeasurement",
    "PlxDeviceSensorStatus",
    "PlxFeature",
    "PlxFeatures",
    "PlxMeasurementStatus",
    "PlxSpotCheckMeasurement",
    "PulseRateRange",
    "RacpNumberOfRecords",
    "RacpOpCode",
    "RacpResponse",
    "RacpResponseCode",
    "Reading",
    "SensorContact",
    "SleepEpoch",
    "SleepFeature",
    "SleepFeatures",
    "SleepLive",
    "SleepStage",
    "SystemId",
    "TemperatureMeasurement",
    "TemperatureType",
    "WeightMeasurement",
]


# --- Blood pressure (BPS 1.0) -------------------------------------------------------------


class BloodPressureStatus(IntFlag):
    """Measurement Status bits of 0x2A35/0x2A36 (the 2-bit pulse range is separate)."""

    BODY_MOVEMENT = 1 << 0
    CUFF_TOO_LOOSE = 1 << 1
    IRREGULAR_PULSE = 1 << 2
    IMPROPER_POSITION = 1 << 5


class PulseRateRange(IntEnum):
    """Measurement Status bits 3-4 (0b11 is reserved and decodes as None)."""

    WITHIN_RANGE = 0
    EXCEEDS_UPPER_LIMIT = 1
    BELOW_LOWER_LIMIT = 2


class BloodPressureFeature(IntFlag):
    """Blood Pressure Feature 0x2A49."""

    BODY_MOVEMENT_DETECTION = 1 << 0
    CUFF_FIT_DETECTION = 1 << 1
    IRREGULAR_PULSE_DETECTION = 1 << 2
    PULSE_RATE_RANGE_DETECTION = 1 << 3
    MEASUREMENT_POSITION_DETECTION = 1 << 4
    MULTIPLE_BONDS = 1 << 5
    E2E_CRC = 1 << 6
    USER_DATA_SERVICE = 1 << 7
    USER_FACING_TIME = 1 << 8


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """Blood Pressure Measurement 0x2A35: one cuff reading, in the device's unit."""

    systolic: Quantity
    diastolic: Quantity
    mean_arterial_pressure: Quantity
    device_time: datetime | None = None
    pulse_rate: Quantity | None = None
    user_id: int | None = None
    measurement_status: BloodPressureStatus | None = None
    pulse_rate_range: PulseRateRange | None = None
    device_clock_unreliable: bool = False

    @property
    def systolic_mm_hg(self) -> Quantity:
        """Systolic pressure in mm[Hg], converted when the device sent kPa."""
        return self.systolic.to(Unit.MM_HG)

    @property
    def diastolic_mm_hg(self) -> Quantity:
        """Diastolic pressure in mm[Hg]."""
        return self.diastolic.to(Unit.MM_HG)

    @property
    def mean_arterial_pressure_mm_hg(self) -> Quantity:
        """Mean arterial pressure in mm[Hg]."""
        return self.mean_arterial_pressure.to(Unit.MM_HG)


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """Intermediate Cuff Pressure 0x2A36: the cuff's pressure while it inflates."""

    cuff_pressure: Quantity
    device_time: datetime | None = None
    pulse_rate: Quantity | None = None
    user_id: int | None = None
    measurement_status: BloodPressureStatus | None = None
    pulse_rate_range: PulseRateRange | None = None
    device_clock_unreliable: bool = False

    @property
    def cuff_pressure_mm_hg(self) -> Quantity:
        """Cuff pressure in mm[Hg]."""
        return self.cuff_pressure.to(Unit.MM_HG)


@dataclass(frozen=True, slots=True)
class BloodPressureFeatures:
    """Blood Pressure Feature 0x2A49: what the cuff can detect."""

    features: BloodPressureFeature


# --- Pulse oximeter (PLXS 1.0) ------------------------------------------------------------


class PlxMeasurementStatus(IntFlag):
    """PLX Measurement Status (bits 0-4 reserved)."""

    MEASUREMENT_ONGOING = 1 << 5
    EARLY_ESTIMATED_DATA = 1 << 6
    VALIDATED_DATA = 1 << 7
    FULLY_QUALIFIED_DATA = 1 << 8
    DATA_FROM_MEASUREMENT_STORAGE = 1 << 9
    DATA_FOR_DEMONSTRATION = 1 << 10
    DATA_FOR_TESTING = 1 << 11
    CALIBRATION_ONGOING = 1 << 12
    MEASUREMENT_UNAVAILABLE = 1 << 13
    QUESTIONABLE_MEASUREMENT_DETECTED = 1 << 14
    INVALID_MEASUREMENT_DETECTED = 1 << 15


class PlxDeviceSensorStatus(IntFlag):
    """PLX Device and Sensor Status, a uint24 (bits 16-23 reserved)."""

    EXTENDED_DISPLAY_UPDATE_ONGOING = 1 << 0
    EQUIPMENT_MALFUNCTION = 1 << 1
    SIGNAL_PROCESSING_IRREGULARITY = 1 << 2
    INADEQUATE_SIGNAL = 1 << 3
    POOR_SIGNAL = 1 << 4
    LOW_PERFUSION = 1 << 5
    ERRATIC_SIGNAL = 1 << 6
    NON_PULSATILE_SIGNAL = 1 << 7
    QUESTIONABLE_PULSE = 1 << 8
    SIGNAL_ANALYSIS_ONGOING = 1 << 9
    SENSOR_INTERFERENCE = 1 << 10
    SENSOR_UNCONNECTED_TO_USER = 1 << 11
    UNKNOWN_SENSOR_CONNECTED = 1 << 12
    SENSOR_DISPLACED = 1 << 13
    SENSOR_MALFUNCTIONING = 1 << 14
    SENSOR_DISCONNECTED = 1 << 15


class PlxFeature(IntFlag):
    """PLX Features 0x2A60, Supported Features field."""

    MEASUREMENT_STATUS = 1 << 0
    DEVICE_AND_SENSOR_STATUS = 1 << 1
    SPOT_CHECK_MEASUREMENT_STORAGE = 1 << 2
    SPOT_CHECK_TIMESTAMP = 1 << 3
    SPO2PR_FAST = 1 << 4
    SPO2PR_SLOW = 1 << 5
    PULSE_AMPLITUDE_INDEX = 1 << 6
    MULTIPLE_BONDS = 1 << 7


@dataclass(frozen=True, slots=True)
class PlxSpotCheckMeasurement:
    """PLX Spot-check Measurement 0x2A5E: one oximeter reading (live or stored)."""

    spo2: Quantity
    pulse_rate: Quantity
    device_time: datetime | None = None
    measurement_status: PlxMeasurementStatus | None = None
    device_sensor_status: PlxDeviceSensorStatus | None = None
    pulse_amplitude_index: Quantity | None = None
    device_clock_unreliable: bool = False


@dataclass(frozen=True, slots=True)
class PlxContinuousMeasurement:
    """PLX Continuous Measurement 0x2A5F: a live stream sample (no time stamp)."""

    spo2: Quantity
    pulse_rate: Quantity
    spo2_fast: Quantity | None = None
    pulse_rate_fast: Quantity | None = None
    spo2_slow: Quantity | None = None
    pulse_rate_slow: Quantity | None = None
    measurement_status: PlxMeasurementStatus | None = None
    device_sensor_status: PlxDeviceSensorStatus | None = None
    pulse_amplitude_index: Quantity | None = None


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """PLX Features 0x2A60."""

    supported_features: PlxFeature
    measurement_status_support: PlxMeasurementStatus | None = None
    device_sensor_status_support: PlxDeviceSensorStatus | None = None


# --- Record Access Control Point ----------------------------------------------------------


class RacpOpCode(IntEnum):
    """RACP op codes."""

    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_STORED_RECORDS = 0x04
    NUMBER_OF_STORED_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class RacpResponseCode(IntEnum):
    """RACP response codes (op code 0x06)."""

    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09
    SERVER_BUSY = 0x0A


@dataclass(frozen=True, slots=True)
class RacpNumberOfRecords:
    """RACP Number of Stored Records Response."""

    count: int


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """RACP Response Code: how the device ended a request.

    `request_op_code` is an int when the device echoes an op code we do not know.
    """

    request_op_code: RacpOpCode | int
    response_code: RacpResponseCode | int

    @property
    def succeeded(self) -> bool:
        """True when the procedure completed."""
        return self.response_code == RacpResponseCode.SUCCESS


# --- Time ---------------------------------------------------------------------------------


class AdjustReason(IntFlag):
    """Current Time 0x2A2B Adjust Reason."""

    MANUAL_TIME_UPDATE = 1 << 0
    EXTERNAL_REFERENCE_TIME_UPDATE = 1 << 1
    CHANGE_OF_TIME_ZONE = 1 << 2
    CHANGE_OF_DST = 1 << 3


@dataclass(frozen=True, slots=True)
class DateTimeValue:
    """Date Time 0x2A08 as read from a device clock (None when unset)."""

    device_time: datetime | None
    device_clock_unreliable: bool = False


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """Current Time 0x2A2B: the device clock, for coincident time stamps."""

    device_time: datetime | None
    day_of_week: int | None = None
    fractions256: int = 0
    adjust_reason: AdjustReason = AdjustReason(0)  # noqa: RUF009 - an immutable int flag
    device_clock_unreliable: bool = False


# --- Heart rate, temperature, weight, glucose ---------------------------------------------


class SensorContact(IntEnum):
    """Heart Rate Measurement flag bits 1-2."""

    NOT_SUPPORTED = 0
    NOT_DETECTED = 2
    DETECTED = 3


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """Heart Rate Measurement 0x2A37. RR intervals are in seconds, oldest first."""

    heart_rate: Quantity
    sensor_contact: SensorContact = SensorContact.NOT_SUPPORTED
    energy_expended: Quantity | None = None
    rr_intervals: tuple[Quantity, ...] = ()


class TemperatureType(IntEnum):
    """Temperature Type 0x2A1D: where the temperature was taken."""

    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTRO_INTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """Temperature Measurement 0x2A1C (or Intermediate Temperature 0x2A1E)."""

    temperature: Quantity
    device_time: datetime | None = None
    temperature_type: TemperatureType | None = None
    intermediate: bool = False
    device_clock_unreliable: bool = False

    @property
    def temperature_celsius(self) -> Quantity:
        """The temperature in Cel, converted when the device sent degF."""
        return self.temperature.to(Unit.CELSIUS)


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """Weight Measurement 0x2A9D, in kg or [lb_av] as the scale sent it."""

    weight: Quantity
    device_time: datetime | None = None
    user_id: int | None = None
    bmi: Quantity | None = None
    height: Quantity | None = None
    device_clock_unreliable: bool = False

    @property
    def weight_kg(self) -> Quantity:
        """The weight in kg."""
        return self.weight.to(Unit.KILOGRAM)


class GlucoseSampleType(IntEnum):
    """Glucose Measurement Type nibble."""

    CAPILLARY_WHOLE_BLOOD = 1
    CAPILLARY_PLASMA = 2
    VENOUS_WHOLE_BLOOD = 3
    VENOUS_PLASMA = 4
    ARTERIAL_WHOLE_BLOOD = 5
    ARTERIAL_PLASMA = 6
    UNDETERMINED_WHOLE_BLOOD = 7
    UNDETERMINED_PLASMA = 8
    INTERSTITIAL_FLUID = 9
    CONTROL_SOLUTION = 10


class GlucoseSampleLocation(IntEnum):
    """Glucose Measurement Sample Location nibble."""

    FINGER = 1
    ALTERNATE_SITE_TEST = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    NOT_AVAILABLE = 15


class GlucoseSensorStatus(IntFlag):
    """Glucose Sensor Status Annunciation."""

    DEVICE_BATTERY_LOW = 1 << 0
    SENSOR_MALFUNCTION = 1 << 1
    SAMPLE_SIZE_INSUFFICIENT = 1 << 2
    STRIP_INSERTION_ERROR = 1 << 3
    STRIP_TYPE_INCORRECT = 1 << 4
    RESULT_TOO_HIGH = 1 << 5
    RESULT_TOO_LOW = 1 << 6
    TEMPERATURE_TOO_HIGH = 1 << 7
    TEMPERATURE_TOO_LOW = 1 << 8
    READ_INTERRUPTED = 1 << 9
    GENERAL_DEVICE_FAULT = 1 << 10
    TIME_FAULT = 1 << 11


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """Glucose Measurement 0x2A18 (concentration in kg/L or mol/L as sent)."""

    sequence_number: int
    device_time: datetime | None
    concentration: Quantity | None = None
    sample_type: GlucoseSampleType | None = None
    sample_location: GlucoseSampleLocation | None = None
    sensor_status: GlucoseSensorStatus | None = None
    context_follows: bool = False
    device_clock_unreliable: bool = False

    @property
    def concentration_mg_dl(self) -> Quantity | None:
        """The concentration in mg/dL (mmol/L devices converted via 180.156 g/mol)."""
        return None if self.concentration is None else self.concentration.to(Unit.MG_PER_DL)


# --- Battery and Device Information -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    """Battery Level 0x2A19 (0-100 %)."""

    level: Quantity


class DeviceInformationField(IntEnum):
    """Device Information Service string characteristics."""

    MANUFACTURER_NAME = 0x2A29
    MODEL_NUMBER = 0x2A24
    SERIAL_NUMBER = 0x2A25
    HARDWARE_REVISION = 0x2A27
    FIRMWARE_REVISION = 0x2A26
    SOFTWARE_REVISION = 0x2A28


@dataclass(frozen=True, slots=True)
class DeviceInformation:
    """One Device Information string (manufacturer, model, serial, ...)."""

    field: DeviceInformationField
    value: str


@dataclass(frozen=True, slots=True)
class SystemId:
    """System ID 0x2A23: a 40-bit manufacturer id and a 24-bit OUI."""

    manufacturer_identifier: int
    organizationally_unique_identifier: int

    @property
    def eui64(self) -> str:
        """The EUI-64 as 16 upper-case hex digits (OUI first), as the PHD IG uses it."""
        return f"{self.organizationally_unique_identifier:06X}{self.manufacturer_identifier:010X}"

    @property
    def eui64_dashed(self) -> str:
        """The EUI-64 as `FE-ED-AB-EE-DE-AD-77-C3` (PhdDevice systemIdIdentifier)."""
        hexed = self.eui64
        return "-".join(hexed[i : i + 2] for i in range(0, 16, 2))


# --- HomeVitals open sleep profile (docs/open-sleep-profile.md) ---------------------------


class SleepStage(IntEnum):
    """Sleep stage of the open sleep profile."""

    UNKNOWN = 0
    AWAKE = 1
    LIGHT = 2
    DEEP = 3
    REM = 4
    ASLEEP_UNSPECIFIED = 5
    OUT_OF_BED = 6


class SleepFeature(IntFlag):
    """Sleep Features characteristic of the open sleep profile."""

    HEART_RATE = 1 << 0
    RESPIRATION_RATE = 1 << 1
    MOVEMENT = 1 << 2
    SLEEP_STAGES = 1 << 3
    REM_DETECTION = 1 << 4
    EPOCH_STORAGE = 1 << 5


@dataclass(frozen=True, slots=True)
class SleepLive:
    """A live sample from a bedside sleep sensor."""

    in_bed: bool | None
    stage: SleepStage
    heart_rate: Quantity | None = None
    respiration_rate: Quantity | None = None
    movement: Quantity | None = None


@dataclass(frozen=True, slots=True)
class SleepEpoch:
    """One stored epoch (typically 30 s to 5 min) of a night, from the sensor's history."""

    sequence_number: int
    device_time: datetime | None
    duration: Quantity
    stage: SleepStage
    heart_rate: Quantity | None = None
    respiration_rate: Quantity | None = None
    movement: Quantity | None = None
    device_clock_unreliable: bool = False


@dataclass(frozen=True, slots=True)
class SleepFeatures:
    """What a sleep sensor measures and stores."""

    supported_features: SleepFeature


Reading = (
    BloodPressureMeasurement
    | IntermediateCuffPressure
    | BloodPressureFeatures
    | PlxSpotCheckMeasurement
    | PlxContinuousMeasurement
    | PlxFeatures
    | RacpNumberOfRecords
    | RacpResponse
    | DateTimeValue
    | CurrentTime
    | HeartRateMeasurement
    | TemperatureMeasurement
    | WeightMeasurement
    | GlucoseMeasurement
    | BatteryLevel
    | DeviceInformation
    | SystemId
    | SleepLive
    | SleepEpoch
    | SleepFeatures
)

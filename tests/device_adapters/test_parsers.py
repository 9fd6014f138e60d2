"""Each characteristic decoded from captured or specified bytes, compared whole."""

from datetime import datetime

import pytest

import device_adapters as da
from device_adapters import AbsentReason, Quantity, Unit

from . import captures as c


def q(value, unit, exponent=0):
    return Quantity(value, unit, exponent)


MMHG, KPA, BPM, PCT = Unit.MM_HG, Unit.KPA, Unit.PER_MIN, Unit.PERCENT


def test_blood_pressure_nordic_full_with_unset_year_keeps_measurement():
    assert da.parse("2a35", c.BPM_NORDIC_FULL) == da.BloodPressureMeasurement(
        systolic=q(138.0, MMHG),
        diastolic=q(88.0, MMHG),
        mean_arterial_pressure=q(120.0, MMHG),
        device_time=None,
        pulse_rate=q(60.0, BPM),
        user_id=1,
        measurement_status=(
            da.BloodPressureStatus.BODY_MOVEMENT
            | da.BloodPressureStatus.CUFF_TOO_LOOSE
            | da.BloodPressureStatus.IRREGULAR_PULSE
            | da.BloodPressureStatus.IMPROPER_POSITION
        ),
        pulse_rate_range=da.PulseRateRange.WITHIN_RANGE,
        device_clock_unreliable=True,
    )


def test_kpa_flag_keeps_device_unit_and_offers_mm_hg():
    reading = da.parse("0x2A35", c.BPM_NORDIC_KPA)
    assert reading == da.BloodPressureMeasurement(
        systolic=q(18.9, KPA, -1),
        diastolic=q(11.0, KPA),
        mean_arterial_pressure=q(15.9, KPA, -1),
        pulse_rate=q(60.0, BPM),
        measurement_status=da.BloodPressureStatus.CUFF_TOO_LOOSE,
        pulse_rate_range=da.PulseRateRange.BELOW_LOWER_LIMIT,
    )
    assert isinstance(reading, da.BloodPressureMeasurement)
    assert reading.systolic_mm_hg == q(141.8, MMHG, -1)  # 18.9 kPa = 141.76 mmHg
    assert reading.diastolic_mm_hg == q(83.0, MMHG)  # 11 kPa = 82.5 mmHg, to 0 decimals
    assert reading.mean_arterial_pressure_mm_hg == q(119.3, MMHG, -1)


def test_blood_pressure_minimal_and_typical():
    assert da.parse(0x2A35, c.BPM_NORDIC_MINIMAL) == da.BloodPressureMeasurement(
        q(18.9, MMHG, -1), q(11.0, MMHG), q(15.9, MMHG, -1)
    )
    assert da.parse(0x2A35, c.BPM_TYPICAL) == da.BloodPressureMeasurement(
        systolic=q(122.0, MMHG),
        diastolic=q(80.0, MMHG),
        mean_arterial_pressure=q(96.0, MMHG),
        device_time=datetime(2024, 11, 27, 10, 30),
        pulse_rate=q(72.0, BPM),
        user_id=1,
        measurement_status=da.BloodPressureStatus(0),
        pulse_rate_range=da.PulseRateRange.WITHIN_RANGE,
    )


def test_blood_pressure_special_values_are_absent_not_numbers():
    reading = da.parse("2a35", c.BPM_SPECIAL_VALUES)
    assert reading == da.BloodPressureMeasurement(
        Quantity(None, MMHG, 0, AbsentReason.NOT_A_NUMBER),
        Quantity(None, MMHG, 0, AbsentReason.ERROR),
        Quantity(None, MMHG, 0, AbsentReason.POSITIVE_INFINITY),
    )
    assert isinstance(reading, da.BloodPressureMeasurement)
    assert reading.systolic_mm_hg.absent_reason is AbsentReason.NOT_A_NUMBER


def test_month_13_time_stamp_keeps_measurement_without_device_time():
    reading = da.parse("2a35", c.BPM_MONTH_13)
    assert isinstance(reading, da.BloodPressureMeasurement)
    assert reading.systolic == q(122.0, MMHG)
    assert reading.device_time is None
    assert reading.device_clock_unreliable is True


def test_reserved_pulse_rate_range_decodes_as_none():
    payload = bytes.fromhex("107a00500060001800")  # status bits 3-4 = 0b11
    reading = da.parse("2a35", payload)
    assert isinstance(reading, da.BloodPressureMeasurement)
    assert reading.pulse_rate_range is None
    assert reading.measurement_status == da.BloodPressureStatus(0)


def test_reserved_flag_bits_and_trailing_bytes_are_ignored():
    with_reserved = bytes([c.BPM_TYPICAL[0] | 0xE0]) + c.BPM_TYPICAL[1:] + b"\xde\xad"
    assert da.parse("2a35", with_reserved) == da.parse("2a35", c.BPM_TYPICAL)


def test_user_id_0xff_means_unknown_user():
    payload = bytes.fromhex("087a0050006000ff")
    reading = da.parse("2a35", payload)
    assert isinstance(reading, da.BloodPressureMeasurement)
    assert reading.user_id is None


def test_intermediate_cuff_pressure_ignores_unused_fields():
    assert da.parse("2a36", c.ICP_TYPICAL) == da.IntermediateCuffPressure(q(95.0, MMHG))
    # Same with the spec's NaN in the unused fields.
    assert da.parse("2a36", bytes.fromhex("005f00ff07ff07")) == da.IntermediateCuffPressure(
        q(95.0, MMHG)
    )


def test_blood_pressure_feature_bits():
    assert da.parse("2a49", bytes.fromhex("2701")) == da.BloodPressureFeatures(
        da.BloodPressureFeature.BODY_MOVEMENT_DETECTION
        | da.BloodPressureFeature.CUFF_FIT_DETECTION
        | da.BloodPressureFeature.IRREGULAR_PULSE_DETECTION
        | da.BloodPressureFeature.MULTIPLE_BONDS
        | da.BloodPressureFeature.USER_FACING_TIME
    )


def test_plx_spot_check_full():
    assert da.parse("2a5e", c.PLX_SPOT_FULL) == da.PlxSpotCheckMeasurement(
        spo2=q(97.0, PCT),
        pulse_rate=q(64.0, BPM),
        device_time=datetime(2024, 11, 27, 7, 5, 9),
        measurement_status=da.PlxMeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE,
        device_sensor_status=da.PlxDeviceSensorStatus.LOW_PERFUSION,
        pulse_amplitude_index=q(2.5, PCT, -1),
    )


def test_plx_clock_not_set_flag_marks_clock_unreliable():
    assert da.parse("2a5e", c.PLX_SPOT_CLOCK_NOT_SET) == da.PlxSpotCheckMeasurement(
        spo2=q(95.0, PCT),
        pulse_rate=q(70.0, BPM),
        device_time=datetime(2000, 1, 1),
        device_clock_unreliable=True,
    )


def test_plx_continuous():
    assert da.parse("2a5f", c.PLX_CONTINUOUS) == da.PlxContinuousMeasurement(
        spo2=q(96.0, PCT),
        pulse_rate=q(66.0, BPM),
        spo2_fast=q(95.0, PCT),
        pulse_rate_fast=q(67.0, BPM),
        spo2_slow=q(96.0, PCT),
        pulse_rate_slow=q(65.0, BPM),
        pulse_amplitude_index=q(3.1, PCT, -1),
    )


def test_plx_features_with_support_fields():
    payload = bytes.fromhex("0300e0ffffff00")
    assert da.parse("2a60", payload) == da.PlxFeatures(
        da.PlxFeature.MEASUREMENT_STATUS | da.PlxFeature.DEVICE_AND_SENSOR_STATUS,
        da.PlxMeasurementStatus(0xFFE0),
        da.PlxDeviceSensorStatus(0xFFFF),
    )


def test_temperature_nordic():
    assert da.parse("2a1c", c.TEMPERATURE_NORDIC) == da.TemperatureMeasurement(
        temperature=q(37.6, Unit.CELSIUS, -2),
        device_time=datetime(2012, 12, 5, 11, 50, 27),
        temperature_type=da.TemperatureType.FINGER,
    )


def test_temperature_fahrenheit_converts_to_celsius():
    payload = bytes.fromhex("01a00300ff")  # FLOAT 0xFF0003A0 = 928e-1 degF
    reading = da.parse("2a1c", payload)
    assert isinstance(reading, da.TemperatureMeasurement)
    assert reading.temperature == q(92.8, Unit.FAHRENHEIT, -1)
    assert reading.temperature_celsius == q(33.8, Unit.CELSIUS, -1)
    intermediate = da.parse("2a1e", payload)
    assert isinstance(intermediate, da.TemperatureMeasurement)
    assert intermediate.intermediate is True


def test_glucose_nordic_with_negative_time_offset():
    assert da.parse("2a18", c.GLUCOSE_NORDIC) == da.GlucoseMeasurement(
        sequence_number=1,
        device_time=datetime(2019, 2, 27, 11, 5, 30),
        concentration=q(30.0, Unit.KG_PER_L),
        sample_type=da.GlucoseSampleType.CAPILLARY_PLASMA,
        sample_location=da.GlucoseSampleLocation.FINGER,
        sensor_status=(
            da.GlucoseSensorStatus.DEVICE_BATTERY_LOW
            | da.GlucoseSensorStatus.SAMPLE_SIZE_INSUFFICIENT
            | da.GlucoseSensorStatus.TEMPERATURE_TOO_LOW
        ),
        context_follows=True,
    )


def test_glucose_kg_per_l_converts_to_mg_dl():
    reading = da.parse("2a18", c.GLUCOSE_105_MG_DL)
    assert isinstance(reading, da.GlucoseMeasurement)
    assert reading.concentration == q(0.00105, Unit.KG_PER_L, -5)
    assert reading.concentration_mg_dl == Quantity(105.0, Unit.MG_PER_DL, -5)


def test_heart_rate_with_energy_and_rr_intervals():
    assert da.parse("2a37", c.HEART_RATE_FULL) == da.HeartRateMeasurement(
        heart_rate=q(72.0, BPM),
        sensor_contact=da.SensorContact.DETECTED,
        energy_expended=q(523.0, Unit.KILOJOULE),
        rr_intervals=(q(800 / 1024, Unit.SECOND, -3), q(820 / 1024, Unit.SECOND, -3)),
    )


def test_heart_rate_uint16_format_and_odd_trailing_byte():
    reading = da.parse("2a37", bytes.fromhex("112c010004ff"))
    assert reading == da.HeartRateMeasurement(
        heart_rate=q(300.0, BPM), rr_intervals=(q(1.0, Unit.SECOND, -3),)
    )


def test_weight_si_with_bmi_and_height():
    assert da.parse("2a9d", c.WEIGHT_SI) == da.WeightMeasurement(
        weight=q(62.35, Unit.KILOGRAM, -3),
        device_time=datetime(2024, 11, 27, 7, 0, 0),
        user_id=2,
        bmi=q(23.4, Unit.KG_PER_M2, -1),
        height=q(1.632, Unit.METRE, -3),
    )


def test_weight_imperial_and_unsuccessful():
    reading = da.parse("2a9d", bytes.fromhex("095c36ea00a402"))
    assert reading == da.WeightMeasurement(
        weight=q(139.16, Unit.POUND, -2),
        bmi=q(23.4, Unit.KG_PER_M2, -1),
        height=q(67.6, Unit.INCH, -1),
    )
    assert isinstance(reading, da.WeightMeasurement)
    assert reading.weight_kg == q(63.12, Unit.KILOGRAM, -2)
    failed = da.parse("2a9d", bytes.fromhex("00ffff"))
    assert failed == da.WeightMeasurement(Quantity(None, Unit.KILOGRAM, 0, AbsentReason.ERROR))


def test_current_time_and_date_time():
    assert da.parse("2a2b", c.CURRENT_TIME) == da.CurrentTime(
        device_time=datetime(2024, 3, 5, 7, 30, 15),
        day_of_week=2,
        fractions256=0,
        adjust_reason=da.AdjustReason.MANUAL_TIME_UPDATE,
    )
    assert da.parse("2a08", c.CURRENT_TIME[:7]) == da.DateTimeValue(datetime(2024, 3, 5, 7, 30, 15))
    assert da.parse("2a08", bytes(7)) == da.DateTimeValue(None, device_clock_unreliable=True)


def test_battery_and_device_information():
    assert da.parse("2a19", b"\x64") == da.BatteryLevel(q(100.0, PCT))
    assert da.parse("2a29", b"A&D Medical") == da.DeviceInformation(
        da.DeviceInformationField.MANUFACTURER_NAME, "A&D Medical"
    )
    assert da.parse("2a24", b"UA-651BLE\x00\x00") == da.DeviceInformation(
        da.DeviceInformationField.MODEL_NUMBER, "UA-651BLE"
    )
    assert da.parse("2a26", "ファーム1.0".encode()) == da.DeviceInformation(
        da.DeviceInformationField.FIRMWARE_REVISION, "ファーム1.0"
    )


def test_system_id_as_eui64():
    # SYNTHETIC: manufacturer id 0xDEEEAB... stored little-endian, OUI FE-ED-AB.
    reading = da.parse("2a23", bytes.fromhex("c377addeeeabedfe"))
    assert reading == da.SystemId(0xEEDEAD77C3, 0xFEEDAB)
    assert isinstance(reading, da.SystemId)
    assert reading.eui64 == "FEEDABEEDEAD77C3"
    assert reading.eui64_dashed == "FE-ED-AB-EE-DE-AD-77-C3"


def test_racp_responses():
    assert da.parse("2a52", c.RACP_COUNT_3) == da.RacpNumberOfRecords(3)
    success = da.parse("2a52", c.RACP_SUCCESS)
    assert success == da.RacpResponse(
        da.RacpOpCode.REPORT_STORED_RECORDS, da.RacpResponseCode.SUCCESS
    )
    assert isinstance(success, da.RacpResponse)
    assert success.succeeded
    none = da.parse("2a52", c.RACP_NO_RECORDS)
    assert isinstance(none, da.RacpResponse)
    assert none.response_code is da.RacpResponseCode.NO_RECORDS_FOUND
    assert not none.succeeded
    # A reserved response code is kept as a number, not refused.
    assert da.parse("2a52", bytes.fromhex("06000120")) == da.RacpResponse(
        da.RacpOpCode.REPORT_STORED_RECORDS, 0x20
    )


def test_sleep_epoch_and_live():
    assert da.parse("725e0003-650c-4bc4-ad17-0eb60f2b1771", c.SLEEP_EPOCH) == da.SleepEpoch(
        sequence_number=513,
        device_time=datetime(2024, 11, 27, 2, 30),
        duration=q(300.0, Unit.SECOND),
        stage=da.SleepStage.DEEP,
        heart_rate=q(54.0, BPM),
        respiration_rate=q(13.5, BPM, -1),
        movement=q(2.0, Unit.COUNT),
    )
    assert da.parse("725E0002-650C-4BC4-AD17-0EB60F2B1771", c.SLEEP_LIVE) == da.SleepLive(
        in_bed=True, stage=da.SleepStage.LIGHT, heart_rate=q(58.0, BPM)
    )
    assert da.parse("725e0004-650c-4bc4-ad17-0eb60f2b1771", b"\x2f\x00") == da.SleepFeatures(
        da.SleepFeature.HEART_RATE
        | da.SleepFeature.RESPIRATION_RATE
        | da.SleepFeature.MOVEMENT
        | da.SleepFeature.SLEEP_STAGES
        | da.SleepFeature.EPOCH_STORAGE
    )


def test_sleep_epoch_clock_not_set_flag():
    payload = bytes([c.SLEEP_EPOCH[0] | 0x08]) + c.SLEEP_EPOCH[1:]
    reading = da.parse("725e0003-650c-4bc4-ad17-0eb60f2b1771", payload)
    assert isinstance(reading, da.SleepEpoch)
    assert reading.device_clock_unreliable is True
    assert reading.device_time == datetime(2024, 11, 27, 2, 30)


@pytest.mark.parametrize(
    "characteristic",
    [
        "2a35",
        "2A35",
        "0x2A35",
        "0x2a35",
        0x2A35,
        "00002a35-0000-1000-8000-00805f9b34fb",
        "00002A35-0000-1000-8000-00805F9B34FB",
    ],
)
def test_every_uuid_form_reaches_the_same_parser(characteristic):
    assert da.parse(characteristic, c.BPM_TYPICAL) == da.parse("2a35", c.BPM_TYPICAL)


def test_bytearray_and_memoryview_are_accepted():
    expected = da.parse("2a35", c.BPM_TYPICAL)
    assert da.parse("2a35", bytearray(c.BPM_TYPICAL)) == expected
    assert da.parse("2a35", memoryview(c.BPM_TYPICAL)) == expected

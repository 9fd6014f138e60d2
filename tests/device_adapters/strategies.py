"""Hypothesis strategies for readings, drawn from what the wire format can carry."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hypothesis import strategies as st

import device_adapters as da
from device_adapters import AbsentReason, Quantity, Unit

_SFLOAT_SPECIAL_MANTISSAS = {2047, -2048, 2046, -2046, -2047}
_FLOAT_SPECIAL_MANTISSAS = {2**23 - 1, -(2**23), 2**23 - 2, -(2**23 - 2), -(2**23 - 1)}
REASONS = st.sampled_from(list(AbsentReason))


def _value(mantissa: int, exponent: int) -> float:
    return float(Decimal(mantissa).scaleb(exponent))


@st.composite
def sfloat_quantity(draw: st.DrawFn, unit: Unit, absent: bool = True) -> Quantity:
    if absent and draw(st.integers(0, 9)) == 0:
        return Quantity(None, unit, 0, draw(REASONS))
    exponent = draw(st.integers(-8, 7))
    mantissa = draw(st.integers(-2048, 2047))
    if exponent == 0 and mantissa in _SFLOAT_SPECIAL_MANTISSAS:
        mantissa = 0
    return Quantity(_value(mantissa, exponent), unit, exponent)


@st.composite
def percent(draw: st.DrawFn) -> Quantity:
    if draw(st.integers(0, 9)) == 0:
        return Quantity(None, Unit.PERCENT, 0, draw(REASONS))
    if draw(st.booleans()):
        return Quantity(float(draw(st.integers(0, 100))), Unit.PERCENT, 0)
    return Quantity(_value(draw(st.integers(0, 1000)), -1), Unit.PERCENT, -1)


@st.composite
def float_quantity(draw: st.DrawFn, unit: Unit) -> Quantity:
    if draw(st.integers(0, 9)) == 0:
        return Quantity(None, unit, 0, draw(REASONS))
    exponent = draw(st.integers(-128, 127))
    mantissa = draw(st.integers(-(2**23), 2**23 - 1))
    if exponent == 0 and mantissa in _FLOAT_SPECIAL_MANTISSAS:
        mantissa = 0
    return Quantity(_value(mantissa, exponent), unit, exponent)


device_times = st.datetimes(min_value=datetime(1600, 1, 1), max_value=datetime(9990, 12, 31)).map(
    lambda t: t.replace(microsecond=0)
)
optional_times = st.one_of(st.none(), device_times)


@st.composite
def blood_pressure(draw: st.DrawFn, flags: int) -> da.BloodPressureMeasurement:
    unit = draw(st.sampled_from([Unit.MM_HG, Unit.KPA]))
    device_time = draw(optional_times) if flags & 0x02 else None
    return da.BloodPressureMeasurement(
        draw(sfloat_quantity(unit)),
        draw(sfloat_quantity(unit)),
        draw(sfloat_quantity(unit)),
        device_time,
        draw(sfloat_quantity(Unit.PER_MIN)) if flags & 0x04 else None,
        draw(st.one_of(st.none(), st.integers(0, 254))) if flags & 0x08 else None,
        da.BloodPressureStatus(draw(st.integers(0, 0xFFFF)) & 0x27) if flags & 0x10 else None,
        draw(st.sampled_from([*da.PulseRateRange, None])) if flags & 0x10 else None,
        bool(flags & 0x02) and device_time is None,
    )


@st.composite
def cuff_pressure(draw: st.DrawFn, flags: int) -> da.IntermediateCuffPressure:
    bp = draw(blood_pressure(flags))
    return da.IntermediateCuffPressure(
        bp.systolic,
        bp.device_time,
        bp.pulse_rate,
        bp.user_id,
        bp.measurement_status,
        bp.pulse_rate_range,
        bp.device_clock_unreliable,
    )


measurement_status = st.integers(0, 0xFFFF).map(lambda v: da.PlxMeasurementStatus(v & 0xFFE0))
sensor_status = st.integers(0, 0xFFFFFF).map(lambda v: da.PlxDeviceSensorStatus(v & 0xFFFF))


@st.composite
def plx_spot_check(draw: st.DrawFn, flags: int) -> da.PlxSpotCheckMeasurement:
    device_time = draw(optional_times) if flags & 0x01 else None
    return da.PlxSpotCheckMeasurement(
        draw(percent()),
        draw(sfloat_quantity(Unit.PER_MIN)),
        device_time,
        draw(measurement_status) if flags & 0x02 else None,
        draw(sensor_status) if flags & 0x04 else None,
        draw(percent()) if flags & 0x08 else None,
        bool(flags & 0x10) or (bool(flags & 0x01) and device_time is None),
    )


@st.composite
def plx_continuous(draw: st.DrawFn, flags: int) -> da.PlxContinuousMeasurement:
    def pair(present: bool) -> tuple[Quantity | None, Quantity | None]:
        if not present:
            return None, None
        return draw(percent()), draw(sfloat_quantity(Unit.PER_MIN))

    fast, slow = pair(bool(flags & 0x01)), pair(bool(flags & 0x02))
    return da.PlxContinuousMeasurement(
        draw(percent()),
        draw(sfloat_quantity(Unit.PER_MIN)),
        fast[0],
        fast[1],
        slow[0],
        slow[1],
        draw(measurement_status) if flags & 0x04 else None,
        draw(sensor_status) if flags & 0x08 else None,
        draw(percent()) if flags & 0x10 else None,
    )


@st.composite
def heart_rate(draw: st.DrawFn, wide: bool) -> da.HeartRateMeasurement:
    value = draw(st.integers(0, 0xFFFF if wide else 0xFF))
    rr = draw(st.lists(st.integers(0, 0xFFFF), max_size=9))
    return da.HeartRateMeasurement(
        Quantity(float(value), Unit.PER_MIN),
        draw(st.sampled_from(list(da.SensorContact))),
        draw(
            st.one_of(
                st.none(), st.integers(0, 0xFFFF).map(lambda e: Quantity(float(e), Unit.KILOJOULE))
            )
        ),
        tuple(Quantity(v / 1024, Unit.SECOND, -3) for v in rr),
    )


@st.composite
def temperature(draw: st.DrawFn, flags: int) -> da.TemperatureMeasurement:
    unit = draw(st.sampled_from([Unit.CELSIUS, Unit.FAHRENHEIT]))
    device_time = draw(optional_times) if flags & 0x02 else None
    return da.TemperatureMeasurement(
        draw(float_quantity(unit)),
        device_time,
        draw(st.sampled_from([*da.TemperatureType, None])) if flags & 0x04 else None,
        False,
        bool(flags & 0x02) and device_time is None,
    )


@st.composite
def weight(draw: st.DrawFn, flags: int) -> da.WeightMeasurement:
    imperial = draw(st.booleans())
    raw = draw(st.integers(0, 0xFFFF))
    if raw == 0xFFFF:
        w = Quantity(None, Unit.POUND if imperial else Unit.KILOGRAM, 0, AbsentReason.ERROR)
    elif imperial:
        w = Quantity(raw / 100, Unit.POUND, -2)
    else:
        w = Quantity(raw / 200, Unit.KILOGRAM, -3)
    device_time = draw(optional_times) if flags & 0x02 else None
    bmi = height = None
    if flags & 0x08:
        bmi = Quantity(draw(st.integers(0, 0xFFFF)) / 10, Unit.KG_PER_M2, -1)
        h = draw(st.integers(0, 0xFFFF))
        height = Quantity(h / 10, Unit.INCH, -1) if imperial else Quantity(h / 1000, Unit.METRE, -3)
    return da.WeightMeasurement(
        w,
        device_time,
        draw(st.one_of(st.none(), st.integers(0, 254))) if flags & 0x04 else None,
        bmi,
        height,
        bool(flags & 0x02) and device_time is None,
    )


@st.composite
def glucose(draw: st.DrawFn, flags: int) -> da.GlucoseMeasurement:
    device_time = draw(optional_times)
    unit = draw(st.sampled_from([Unit.KG_PER_L, Unit.MOL_PER_L]))
    present = bool(flags & 0x02)
    return da.GlucoseMeasurement(
        draw(st.integers(0, 0xFFFF)),
        device_time,
        draw(sfloat_quantity(unit)) if present else None,
        draw(st.sampled_from([*da.GlucoseSampleType, None])) if present else None,
        draw(st.sampled_from([*da.GlucoseSampleLocation, None])) if present else None,
        da.GlucoseSensorStatus(draw(st.integers(0, 0xFFF))) if flags & 0x08 else None,
        bool(flags & 0x10),
        device_time is None,
    )


@st.composite
def sleep_epoch(draw: st.DrawFn, flags: int) -> da.SleepEpoch:
    device_time = draw(optional_times)
    return da.SleepEpoch(
        draw(st.integers(0, 0xFFFF)),
        device_time,
        Quantity(float(draw(st.integers(1, 0xFFFF))), Unit.SECOND),
        draw(st.sampled_from(list(da.SleepStage))),
        draw(sfloat_quantity(Unit.PER_MIN)) if flags & 0x01 else None,
        draw(sfloat_quantity(Unit.PER_MIN)) if flags & 0x02 else None,
        Quantity(float(draw(st.integers(0, 0xFFFF))), Unit.COUNT) if flags & 0x04 else None,
        bool(flags & 0x08) or device_time is None,
    )


@st.composite
def sleep_live(draw: st.DrawFn, flags: int) -> da.SleepLive:
    return da.SleepLive(
        draw(st.sampled_from([True, False, None])),
        draw(st.sampled_from(list(da.SleepStage))),
        draw(sfloat_quantity(Unit.PER_MIN)) if flags & 0x01 else None,
        draw(sfloat_quantity(Unit.PER_MIN)) if flags & 0x02 else None,
        Quantity(float(draw(st.integers(0, 0xFFFF))), Unit.COUNT) if flags & 0x04 else None,
    )

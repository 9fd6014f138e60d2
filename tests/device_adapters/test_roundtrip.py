"""Readings encoded for every flag combination decode back to the same reading."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import device_adapters as da

from . import encoders as enc
from . import strategies as gen

FEW = settings(max_examples=25, deadline=None)
SLEEP_EPOCH = "725e0003-650c-4bc4-ad17-0eb60f2b1771"
SLEEP_LIVE = "725e0002-650c-4bc4-ad17-0eb60f2b1771"


@pytest.mark.parametrize("flags", range(0x20))
@FEW
@given(data=st.data())
def test_blood_pressure_round_trip(flags, data):
    reading = data.draw(gen.blood_pressure(flags))
    assert da.parse("2a35", enc.blood_pressure_measurement(reading, flags)) == reading


@pytest.mark.parametrize("flags", range(0x20))
@FEW
@given(data=st.data())
def test_intermediate_cuff_pressure_round_trip(flags, data):
    reading = data.draw(gen.cuff_pressure(flags))
    assert da.parse("2a36", enc.intermediate_cuff_pressure(reading, flags)) == reading


@pytest.mark.parametrize("flags", range(0x20))
@FEW
@given(data=st.data())
def test_plx_spot_check_round_trip(flags, data):
    reading = data.draw(gen.plx_spot_check(flags))
    assert da.parse("2a5e", enc.plx_spot_check(reading, flags)) == reading


@pytest.mark.parametrize("flags", range(0x20))
@FEW
@given(data=st.data())
def test_plx_continuous_round_trip(flags, data):
    reading = data.draw(gen.plx_continuous(flags))
    assert da.parse("2a5f", enc.plx_continuous(reading, flags)) == reading


@pytest.mark.parametrize("wide", [False, True])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_heart_rate_round_trip(wide, data):
    reading = data.draw(gen.heart_rate(wide))
    assert da.parse("2a37", enc.heart_rate(reading, wide)) == reading


@pytest.mark.parametrize("flags", range(0x08))
@FEW
@given(data=st.data())
def test_temperature_round_trip(flags, data):
    reading = data.draw(gen.temperature(flags))
    assert da.parse("2a1c", enc.temperature(reading, flags)) == reading


@pytest.mark.parametrize("flags", range(0x10))
@FEW
@given(data=st.data())
def test_weight_round_trip(flags, data):
    reading = data.draw(gen.weight(flags))
    assert da.parse("2a9d", enc.weight(reading, flags)) == reading


@pytest.mark.parametrize("flags", range(0x20))
@FEW
@given(data=st.data(), offset=st.integers(-32768, 32767))
def test_glucose_round_trip(flags, data, offset):
    reading = data.draw(gen.glucose(flags))
    assert da.parse("2a18", enc.glucose(reading, flags, offset)) == reading


@pytest.mark.parametrize("flags", range(0x10))
@FEW
@given(data=st.data())
def test_sleep_epoch_round_trip(flags, data):
    reading = data.draw(gen.sleep_epoch(flags))
    payload = enc.sleep_epoch(reading, clock_not_set=bool(flags & 0x08))
    assert da.parse(SLEEP_EPOCH, payload) == reading


@pytest.mark.parametrize("flags", range(0x08))
@FEW
@given(data=st.data())
def test_sleep_live_round_trip(flags, data):
    reading = data.draw(gen.sleep_live(flags))
    assert da.parse(SLEEP_LIVE, enc.sleep_live(reading)) == reading


@settings(max_examples=200, deadline=None)
@given(wall_clock=gen.device_times, micro=st.integers(0, 999_999))
def test_clock_encoders_round_trip(wall_clock, micro):
    from device_adapters.clock import encode_current_time, encode_date_time

    t = wall_clock.replace(microsecond=micro)
    assert da.parse("2a08", encode_date_time(t)) == da.DateTimeValue(wall_clock)
    decoded = da.parse("2a2b", encode_current_time(t))
    assert decoded == da.CurrentTime(
        wall_clock,
        t.isoweekday(),
        micro * 256 // 1_000_000,
        da.AdjustReason.EXTERNAL_REFERENCE_TIME_UPDATE,
    )

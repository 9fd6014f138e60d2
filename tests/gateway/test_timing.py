"""Effective times: coincident time stamps, drift, unset and impossible clocks."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.mapping import ClockSample, TimeSource, effective_time

TOKYO = ZoneInfo("Asia/Tokyo")
RECEIVED = datetime(2024, 11, 27, 1, 31, 5, tzinfo=UTC)  # 10:31:05 JST
GATEWAY_NOW = datetime(2024, 11, 27, 1, 30, 0, tzinfo=UTC)  # 10:30:00 JST
MEASURED = datetime(2024, 11, 27, 10, 25, 0)  # device wall clock


def test_clock_in_step_keeps_device_time_in_home_zone():
    clock = ClockSample(datetime(2024, 11, 27, 10, 30, 0), GATEWAY_NOW)
    result = effective_time(MEASURED, False, RECEIVED, clock, TOKYO)
    assert result.source is TimeSource.DEVICE
    assert result.fhir() == "2024-11-27T10:25:00+09:00"
    assert result.at.utcoffset() == timedelta(hours=9)


@pytest.mark.parametrize("minutes", [-7, -2, 3, 45])
def test_clock_drifted_by_minutes_is_corrected(minutes):
    device_now = datetime(2024, 11, 27, 10, 30, 0) + timedelta(minutes=minutes)
    clock = ClockSample(device_now, GATEWAY_NOW)
    result = effective_time(MEASURED + timedelta(minutes=minutes), False, RECEIVED, clock, TOKYO)
    assert result.source is TimeSource.DEVICE_CORRECTED
    assert result.correction == timedelta(minutes=-minutes)
    assert result.fhir() == "2024-11-27T10:25:00+09:00"


def test_unset_device_time_uses_reception_time():
    result = effective_time(None, True, RECEIVED, None, TOKYO)
    assert result.source is TimeSource.GATEWAY_RECEPTION
    assert result.fhir() == "2024-11-27T10:31:05+09:00"


def test_clock_flagged_unreliable_uses_reception_even_with_a_time_stamp():
    result = effective_time(datetime(2000, 1, 1), True, RECEIVED, None, TOKYO)
    assert result.source is TimeSource.GATEWAY_RECEPTION


def test_device_time_in_the_future_is_not_believed():
    result = effective_time(datetime(2025, 6, 1, 9, 0), False, RECEIVED, None, TOKYO)
    assert result.source is TimeSource.GATEWAY_RECEPTION


def test_without_clock_sample_device_time_is_taken_as_home_wall_clock():
    result = effective_time(MEASURED, False, RECEIVED, None, TOKYO)
    assert result.source is TimeSource.DEVICE
    assert result.at == datetime(2024, 11, 27, 1, 25, tzinfo=UTC)


def test_other_home_zone_changes_offset():
    result = effective_time(
        MEASURED, False, RECEIVED + timedelta(hours=12), None, ZoneInfo("Europe/Paris")
    )
    assert result.fhir() == "2024-11-27T10:25:00+01:00"


def test_naive_clocks_are_refused():
    with pytest.raises(ValueError, match="zone-aware"):
        ClockSample(MEASURED, datetime(2024, 11, 27, 1, 30))
    with pytest.raises(ValueError, match="zone-aware"):
        effective_time(MEASURED, False, datetime(2024, 11, 27, 1, 30), None, TOKYO)


def test_reset_clock_years_in_the_past_is_not_believed():
    result = effective_time(datetime(2000, 1, 1, 0, 12), False, RECEIVED, None, TOKYO)
    assert result.source is TimeSource.GATEWAY_RECEPTION
    months_old = effective_time(datetime(2024, 3, 1, 8, 0), False, RECEIVED, None, TOKYO)
    assert months_old.source is TimeSource.DEVICE


def test_offsets_with_seconds_fall_back_to_utc():
    from gateway.mapping import EffectiveTime

    lmt = datetime(1888, 1, 1, tzinfo=TOKYO)  # local mean time, +09:18:59
    assert EffectiveTime(lmt, TimeSource.DEVICE).fhir() == "1887-12-31T14:41:01+00:00"

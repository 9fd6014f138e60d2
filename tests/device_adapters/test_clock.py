"""Encoding the device clock: what the gateway writes to 0x2A08 and 0x2A2B."""

from datetime import datetime, timedelta, timezone

import pytest

from device_adapters.clock import encode_current_time, encode_date_time
from device_adapters.readings import AdjustReason


def test_date_time_encoding_is_wall_clock_fields():
    assert encode_date_time(datetime(2024, 3, 5, 7, 30, 15)) == bytes.fromhex("e8070305071e0f")


def test_aware_datetime_sends_its_local_wall_clock():
    tokyo = timezone(timedelta(hours=9))
    assert encode_date_time(datetime(2024, 3, 5, 7, 30, 15, tzinfo=tokyo)) == bytes.fromhex(
        "e8070305071e0f"
    )


def test_current_time_adds_weekday_fractions_and_reason():
    payload = encode_current_time(
        datetime(2024, 3, 5, 7, 30, 15, 500_000), AdjustReason.MANUAL_TIME_UPDATE
    )
    assert payload == bytes.fromhex("e8070305071e0f028001")


def test_years_outside_bluetooth_range_are_refused():
    with pytest.raises(ValueError, match="year 1500"):
        encode_date_time(datetime(1500, 1, 1))

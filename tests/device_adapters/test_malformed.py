"""Short, out-of-range and unsupported payloads raise our errors, precisely."""

import pickle

import pytest

import device_adapters as da
from device_adapters import MalformedPayload, UnsupportedCharacteristic

from . import captures as c

SLEEP_EPOCH_UUID = "725e0003-650c-4bc4-ad17-0eb60f2b1771"


def test_truncated_payload_raises_malformed_payload_naming_offset_and_hex():
    with pytest.raises(MalformedPayload) as info:
        da.parse("2a35", c.BPM_NORDIC_NO_TIMESTAMP)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.characteristic == "Blood Pressure Measurement (0x2A35)"
    assert error.offset == 7
    assert error.payload == c.BPM_NORDIC_NO_TIMESTAMP
    assert "time stamp" in str(error)
    assert c.BPM_NORDIC_NO_TIMESTAMP.hex() in str(error)
    assert "offset 7" in str(error)


def test_too_short_for_mandatory_fields():
    with pytest.raises(MalformedPayload) as info:
        da.parse("2a35", c.BPM_NORDIC_TOO_SHORT)
    assert info.value.offset == 1
    with pytest.raises(MalformedPayload) as info:
        da.parse("2a35", b"")
    assert info.value.offset == 0
    assert "empty" in info.value.reason


@pytest.mark.parametrize(
    ("characteristic", "payload", "offset", "field"),
    [
        ("2a1c", c.TEMPERATURE_NORDIC_TRUNCATED, 12, "temperature type"),
        # Nordic's time offset is missing: every later field shifts, so the last falls short.
        ("2a18", c.GLUCOSE_NORDIC_TRUNCATED, 15, "sensor status annunciation"),
        ("2a5e", c.PLX_SPOT_FULL[:-1], 17, "pulse amplitude index"),
        ("2a5f", c.PLX_CONTINUOUS[:8], 5, "SpO2PR-Fast"),
        ("2a37", bytes.fromhex("0148"), 1, "heart rate (uint16)"),
        ("2a37", bytes.fromhex("104820"), 2, "RR interval"),
        ("2a9d", c.WEIGHT_SI[:-1], 11, "BMI and height"),
        ("2a2b", c.CURRENT_TIME[:9], 0, "current time"),
        ("2a08", c.CURRENT_TIME[:6], 0, "date time"),
        ("2a52", b"\x05\x00\x03", 2, "number of records"),
        ("2a23", bytes(7), 0, "manufacturer identifier"),
        ("2a60", bytes.fromhex("0200ffff"), 2, "device and sensor status support"),
        (SLEEP_EPOCH_UUID, c.SLEEP_EPOCH[:12], 1, "sequence number"),
        (SLEEP_EPOCH_UUID, c.SLEEP_EPOCH[:-1], 17, "movement"),
    ],
)
def test_each_missing_field_is_named(characteristic, payload, offset, field):
    with pytest.raises(MalformedPayload) as info:
        da.parse(characteristic, payload)
    assert info.value.offset == offset
    assert field in info.value.reason


@pytest.mark.parametrize(
    ("characteristic", "payload", "offset"),
    [
        ("2a19", b"\x65", 0),  # battery 101 %
        ("2a5e", bytes.fromhex("0065004000"), 1),  # SpO2 101 %
        ("2a5e", bytes.fromhex("086100400065f4"), 5),  # PAI 112.5 %
        (SLEEP_EPOCH_UUID, c.SLEEP_EPOCH[:10] + b"\x00\x00" + c.SLEEP_EPOCH[12:], 10),
        ("2a52", bytes.fromhex("01010000"), 0),  # a request, not a response
        ("2a29", b"\xff\xfe", 0),  # not UTF-8
    ],
)
def test_out_of_range_fields_are_malformed(characteristic, payload, offset):
    with pytest.raises(MalformedPayload) as info:
        da.parse(characteristic, payload)
    assert info.value.offset == offset


@pytest.mark.parametrize(
    "characteristic", ["2a00", 0x180D, "not-a-uuid", "0x", -1, 2**40, None, 1.5]
)
def test_unknown_characteristic_raises_unsupported(characteristic):
    with pytest.raises(UnsupportedCharacteristic):
        da.parse(characteristic, b"\x00")


def test_errors_survive_pickling_for_quarantine_between_processes():
    with pytest.raises(MalformedPayload) as info:
        da.parse("2a35", b"\x00")
    copy = pickle.loads(pickle.dumps(info.value))  # noqa: S301 - our own object
    assert (copy.characteristic, copy.offset, copy.payload, copy.reason) == (
        info.value.characteristic,
        info.value.offset,
        info.value.payload,
        info.value.reason,
    )

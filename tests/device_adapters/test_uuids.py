"""UUID normalisation and the registry."""

import uuid

import pytest

import device_adapters as da
from device_adapters.registry import PARSERS
from device_adapters.uuids import NAMES, label, normalize_uuid

BPM = "00002a35-0000-1000-8000-00805f9b34fb"


@pytest.mark.parametrize(
    "given", ["2a35", "2A35", "0x2A35", " 0x2a35 ", 0x2A35, BPM, BPM.upper(), uuid.UUID(BPM)]
)
def test_normalize_uuid_accepts_the_usual_forms(given):
    assert normalize_uuid(given) == BPM


def test_normalize_custom_128_bit_uuid():
    custom = "725E0003-650C-4BC4-AD17-0EB60F2B1771"
    assert normalize_uuid(custom) == custom.lower()


@pytest.mark.parametrize("bad", ["", "xyz", "2a3", "0x12345", True, -5, 2**33, b"2a35", [1]])
def test_normalize_rejects_non_uuids(bad):
    with pytest.raises(da.UnsupportedCharacteristic):
        normalize_uuid(bad)


def test_every_registered_parser_has_a_name():
    assert set(PARSERS) <= set(NAMES)


def test_label_shows_the_16_bit_number_or_the_full_uuid():
    assert label(BPM) == "Blood Pressure Measurement (0x2A35)"
    assert label("725e0002-650c-4bc4-ad17-0eb60f2b1771") == (
        "HomeVitals Sleep Live (725e0002-650c-4bc4-ad17-0eb60f2b1771)"
    )


@pytest.mark.parametrize(
    "number",
    [
        0x2A35,
        0x2A36,
        0x2A49,
        0x2A5E,
        0x2A5F,
        0x2A60,
        0x2A52,
        0x2A2B,
        0x2A08,
        0x2A37,
        0x2A1C,
        0x2A9D,
        0x2A18,
        0x2A19,
        0x2A29,
        0x2A24,
        0x2A25,
        0x2A26,
        0x2A23,
    ],
)
def test_every_characteristic_the_issue_names_is_registered(number):
    assert normalize_uuid(number) in PARSERS

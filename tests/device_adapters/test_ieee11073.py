"""SFLOAT and FLOAT decoding, including the special values."""

import pytest

from device_adapters import AbsentReason
from device_adapters._ieee11073 import decode_float, decode_sfloat


@pytest.mark.parametrize(
    ("raw", "value", "exponent"),
    [
        # Examples from the BLE reference sheet / IEEE 11073-20601 annex.
        (0xF014, 2.0, -1),
        (0x0B2E, -1234.0, 0),
        (0x1002, 20.0, 1),
        (0xE0C8, 2.0, -2),
        (0x0000, 0.0, 0),
        (0xF16D, 36.5, -1),
        (0x07FD, 2045.0, 0),
        (0x8001, 1e-8, -8),
        (0x77FD, 2045e7, 7),
    ],
)
def test_sfloat_decodes_value_and_precision(raw, value, exponent):
    assert decode_sfloat(raw) == (value, exponent, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (0x07FF, AbsentReason.NOT_A_NUMBER),
        (0x0800, AbsentReason.ERROR),
        (0x07FE, AbsentReason.POSITIVE_INFINITY),
        (0x0802, AbsentReason.NEGATIVE_INFINITY),
        (0x0801, AbsentReason.ERROR),
    ],
)
def test_sfloat_special_values_are_absent_with_a_reason(raw, reason):
    assert decode_sfloat(raw) == (None, 0, reason)


def test_sfloat_special_mantissa_with_nonzero_exponent_is_a_number():
    # Only exponent 0 makes 0x7FF special: 0x17FF is 2047 * 10.
    assert decode_sfloat(0x17FF) == (20470.0, 1, None)


@pytest.mark.parametrize(
    ("raw", "value", "exponent"),
    [
        (0xFE000EB0, 37.6, -2),  # 3760e-2, the Nordic thermometer vector
        (0x00000024, 36.0, 0),
        (0xFF000169, 36.1, -1),
        (0xFDFFFFFF, -0.001, -3),
        (0x7F000001, 1e127, 127),
        (0x80000001, 1e-128, -128),
    ],
)
def test_float_decodes_value_and_precision(raw, value, exponent):
    assert decode_float(raw) == (value, exponent, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (0x007FFFFF, AbsentReason.NOT_A_NUMBER),
        (0x00800000, AbsentReason.ERROR),
        (0x007FFFFE, AbsentReason.POSITIVE_INFINITY),
        (0x00800002, AbsentReason.NEGATIVE_INFINITY),
        (0x00800001, AbsentReason.ERROR),
    ],
)
def test_float_special_values_are_absent_with_a_reason(raw, reason):
    assert decode_float(raw) == (None, 0, reason)


def test_float_nan_is_not_the_nxp_sdk_value():
    # NXP's ieee11073.h calls 0x07FFFFFF NaN; it is -1 * 10**7 (exponent 7, mantissa -1).
    assert decode_float(0x07FFFFFF) == (-1e7, 7, None)

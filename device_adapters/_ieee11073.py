"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) numbers.

SFLOAT: bits 15-12 a signed exponent, bits 11-0 a signed mantissa; value =
mantissa * 10**exponent. FLOAT: an 8-bit signed exponent over a 24-bit signed
mantissa. With exponent 0, five mantissas are special values, which become an
absent value with a reason, never a number (HL7 PHD IG, MderFLOATsandSFLOATs).

Decoded quantities are cached per raw value and unit: a device sends the same
few hundred values over and over, and `Quantity` is immutable.
"""

from __future__ import annotations

from functools import lru_cache

from .units import AbsentReason, Quantity, Unit

__all__ = ["decode_float", "decode_sfloat", "float_quantity", "sfloat_quantity"]

_SFLOAT_SPECIAL: dict[int, AbsentReason] = {
    0x07FF: AbsentReason.NOT_A_NUMBER,
    0x0800: AbsentReason.ERROR,  # NRes: not at this resolution
    0x07FE: AbsentReason.POSITIVE_INFINITY,
    0x0802: AbsentReason.NEGATIVE_INFINITY,
    0x0801: AbsentReason.ERROR,  # reserved for future use
}
_FLOAT_SPECIAL: dict[int, AbsentReason] = {
    0x007FFFFF: AbsentReason.NOT_A_NUMBER,
    0x00800000: AbsentReason.ERROR,
    0x007FFFFE: AbsentReason.POSITIVE_INFINITY,
    0x00800002: AbsentReason.NEGATIVE_INFINITY,
    0x00800001: AbsentReason.ERROR,
}


def _scale(mantissa: int, exponent: int) -> float:
    # Integer arithmetic, then one correctly rounded division: 365e-1 is 36.5 exactly
    # as a float literal would be, where 365 * 0.1 would give 36.50000000000001.
    scale: int = 10 ** abs(exponent)
    if exponent >= 0:
        return float(mantissa * scale)
    return mantissa / scale


def decode_sfloat(raw: int) -> tuple[float | None, int, AbsentReason | None]:
    """Decode a 16-bit SFLOAT into (value, exponent, absent reason)."""
    special = _SFLOAT_SPECIAL.get(raw)
    if special is not None:
        return None, 0, special
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    return _scale(mantissa, exponent), exponent, None


def decode_float(raw: int) -> tuple[float | None, int, AbsentReason | None]:
    """Decode a 32-bit FLOAT into (value, exponent, absent reason)."""
    special = _FLOAT_SPECIAL.get(raw)
    if special is not None:
        return None, 0, special
    mantissa = raw & 0x00FFFFFF
    if mantissa >= 0x00800000:
        mantissa -= 0x01000000
    exponent = raw >> 24
    if exponent >= 0x80:
        exponent -= 0x100
    return _scale(mantissa, exponent), exponent, None


@lru_cache(maxsize=16384)
def sfloat_quantity(raw: int, unit: Unit) -> Quantity:
    """The `Quantity` an SFLOAT field holds in `unit`."""
    value, exponent, absent = decode_sfloat(raw)
    return Quantity(value, unit, exponent, absent)


@lru_cache(maxsize=4096)
def float_quantity(raw: int, unit: Unit) -> Quantity:
    """The `Quantity` a FLOAT field holds in `unit`."""
    value, exponent, absent = decode_float(raw)
    return Quantity(value, unit, exponent, absent)

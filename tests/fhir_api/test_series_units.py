"""The series' one unit per code agrees with validation and with device_adapters' factors."""

from __future__ import annotations

import math
from datetime import UTC

import pytest

from device_adapters.units import Unit, UnitConversionError, convert
from fhir_api.storage.series.base import series_points
from fhir_api.storage.series.units import CHARTED, MAX_MAGNITUDE, to_canonical
from fhir_api.validation.profiles import VITAL_SIGNS

from .test_stats_correctness import vital


def test_every_unit_validation_accepts_for_a_charted_code_converts():
    for code, (_, units) in VITAL_SIGNS.items():
        if units is None or code not in CHARTED:
            continue
        for unit in units:
            assert to_canonical(code, 1.0, unit) is not None, (code, unit)


@pytest.mark.parametrize("code", sorted(CHARTED))
def test_conversions_match_device_adapters(code):
    """One set of factors: fhir_api may not import device_adapters, the tests compare them."""
    canonical, accepted = CHARTED[code]
    for unit in accepted:
        ours = to_canonical(code, 50.0, unit)
        assert ours is not None and ours[1] == canonical
        try:
            theirs = convert(50.0, Unit(unit), Unit(canonical))
        except (ValueError, UnitConversionError):
            continue  # a unit device_adapters never produces (g, mm, h)
        assert ours[0] == pytest.approx(theirs, rel=1e-12), (code, unit)


def test_fahrenheit_is_kept_in_celsius():
    assert to_canonical("8310-5", 98.6, "[degF]") == (pytest.approx(37.0), "Cel")
    assert to_canonical("8310-5", 98.6, "percent") is None  # a unit the code does not take
    assert to_canonical("1234-5", 1.0, "%") is None  # a code that is not charted


@pytest.mark.parametrize("value", [1e308, -1e308, MAX_MAGNITUDE * 2, math.inf, math.nan])
def test_values_whose_sum_could_overflow_are_not_charted(value):
    assert to_canonical("29463-7", value, "kg") is None
    assert to_canonical("29463-7", 1e308, "[lb_av]") is None


def test_a_point_per_charted_loinc_coding_and_none_for_others():
    observation = vital("Patient/p", "2708-6", "2024-11-27T07:00:00+09:00", 96, "%")
    observation["code"]["coding"] += [
        {"system": "http://loinc.org", "code": "59408-5"},
        {"system": "urn:iso:std:iso:11073:10101", "code": "150456"},
        {"system": "http://loinc.org", "code": "2708-6"},  # twice: one point
    ]
    points = series_points(observation, "o1", UTC)
    assert [(p.code, p.value, p.unit) for p in points] == [
        ("2708-6", 96.0, "%"),
        ("59408-5", 96.0, "%"),
    ]


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+14:00", "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z"]
)
def test_readings_outside_1900_to_2199_are_not_charted(when):
    assert series_points(vital("Patient/p", "8867-4", when, 60, "/min"), "o1", UTC) == []


def test_an_integer_beyond_any_float_is_not_charted():
    """json.loads (the outbox flush, reindex) keeps such an integer exact; float() overflows."""
    observation = vital("Patient/p", "29463-7", "2024-11-27T07:00:00+09:00", 60, "kg")
    observation["valueQuantity"]["value"] = 10**400
    assert series_points(observation, "o1", UTC) == []

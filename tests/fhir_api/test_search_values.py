"""The pure helpers behind search values, codes and dates (issue 10)."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from fhir_api.codes import codings, preferred_code
from fhir_api.dates import DateRange, instants, parse_date, parse_date_range, wall_clock
from fhir_api.search_values import EscapeError, split_alternatives, split_token, unescape


def test_alternatives_keep_escapes_for_the_token_split():
    assert split_alternatives(r"a\,b,c|d\|e") == [r"a\,b", r"c|d\|e"]
    assert split_token(r"urn:a\|b|x\,y") == ("urn:a|b", "x,y")
    assert split_token("a|b|c") == ("a", "b|c")
    assert split_token("|code") == ("", "code")
    assert split_token("code") == (None, "code")
    assert unescape(r"a\\b\$c") == r"a\b$c"


@pytest.mark.parametrize("value", ["\\", "a\\", "a\\b", "\\n"])
def test_a_backslash_that_escapes_nothing_is_an_error(value):
    with pytest.raises(EscapeError):
        split_alternatives(value)
    with pytest.raises(EscapeError):
        unescape(value)


def test_codings_skip_codings_without_code_and_prefer_loinc():
    concept = {
        "coding": [
            {"system": "urn:local"},
            {"system": "urn:local", "code": "x"},
            {"system": "http://loinc.org", "code": "2708-6"},
            {"code": "bare"},
        ]
    }
    assert list(codings(concept)) == [
        ("urn:local", "x"),
        ("http://loinc.org", "2708-6"),
        ("", "bare"),
    ]
    assert preferred_code(concept) == "2708-6"
    assert preferred_code({"coding": [{"system": "urn:x", "code": "y"}]}) == "y"
    assert preferred_code(None) is None and list(codings("not a concept")) == []


def test_a_patients_day_as_instants_and_as_wall_clock():
    paris = ZoneInfo("Europe/Paris")
    day = parse_date("2024-10-01")
    assert day.offset_ms is None
    assert instants(day, paris) == DateRange(1727733600000, 1727820000000)  # 22:00Z to 22:00Z
    late = parse_date("2024-10-01T23:30:00+02:00")
    assert wall_clock(late, paris).start_ms < day.wall.end_ms  # still 1 October in Paris
    assert wall_clock(late, ZoneInfo("Asia/Tokyo")).start_ms >= day.wall.end_ms


def test_the_first_and_last_days_fhir_can_write():
    kiritimati = ZoneInfo("Pacific/Kiritimati")
    last = parse_date_range("9999-12-31", kiritimati)
    assert last.end_ms - last.start_ms == 86_400_000
    first = parse_date_range("0001-01-01T00:00:00+14:00", UTC)
    assert first == DateRange(-62135647200000, -62135647199000)
    year_one = parse_date_range("0001", ZoneInfo("America/New_York"))
    assert year_one.start_ms > first.start_ms  # New York's year 1 starts after Kiritimati's


@pytest.mark.parametrize(
    "text", ["0000", "2024-13", "2024-02-30", "2024-10-01T24:00", "2024-10-01T10:00+15:00", "24"]
)
def test_impossible_dates_are_value_errors(text):
    with pytest.raises(ValueError):
        parse_date(text)

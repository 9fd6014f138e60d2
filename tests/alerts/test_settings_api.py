"""What the alert settings page and CLI share (pure): typed moments, rule names, the
state each silence is shown in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fhir_api.alerts.settings_api import parse_moment, parse_rule, silence_json, silence_row
from fhir_api.alerts.silence_store import SilenceRefused
from fhir_api.alerts.silences import Silence

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def _silence(starts: datetime, ends: datetime) -> Silence:
    return Silence("s1", starts, ends, "入院中", "Practitioner/7", patient="p1")


def test_a_moment_without_an_offset_is_in_the_patients_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert parse_moment("2026-12-01T09:00", tokyo) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert parse_moment("2026-12-01", tokyo) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert parse_moment("2026-12-01T09:00+00:00", tokyo).utcoffset() == timedelta(0)
    with pytest.raises(SilenceRefused, match="not a date and time: 'tomorrow'"):
        parse_moment("tomorrow", tokyo)


@pytest.mark.parametrize("text", ["", "  ", None])
def test_no_rule_is_every_rule(text: str | None) -> None:
    assert parse_rule(text) is None


@pytest.mark.parametrize("text", ["BP", "bp high", "bp--high", "x" * 65, "bp-high;drop"])
def test_a_rule_name_is_refused_unless_it_looks_like_one(text: str) -> None:
    with pytest.raises(SilenceRefused, match="not a rule name"):
        parse_rule(text)


def test_each_silence_is_shown_in_effect_planned_or_ended() -> None:
    hour = timedelta(hours=1)
    assert silence_row(_silence(NOW - hour, NOW + hour), NOW).state == "active"
    assert silence_row(_silence(NOW + hour, NOW + 2 * hour), NOW).state == "planned"
    assert silence_row(_silence(NOW - 2 * hour, NOW), NOW).state == "ended"  # end exclusive
    # A planned silence ended early ends a millisecond after its start: ended, not planned.
    cancelled = _silence(NOW + hour, NOW + hour + timedelta(milliseconds=1))
    assert silence_row(cancelled, NOW).state == "ended"


def test_a_silence_as_json_is_in_utc() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    starts = datetime(2026, 12, 1, 9, 0, tzinfo=tokyo)
    found = silence_json(_silence(starts, starts + timedelta(days=1)))
    assert found["starts"] == "2026-12-01T00:00:00+00:00"
    assert found["rule"] is None and found["patient"] == "p1" and found["reason"] == "入院中"

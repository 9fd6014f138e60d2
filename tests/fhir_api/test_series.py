"""Day buckets in the patient's zone, across daylight-saving changes (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fhir_api.storage.series.base import (
    DAY_MS,
    DailyRow,
    SeriesPoint,
    constant_offset_segments,
    daily_statistics,
    series_points,
)

PARIS = ZoneInfo("Europe/Paris")
TOKYO = ZoneInfo("Asia/Tokyo")


def ms(*args: int, tz=UTC) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


def test_tokyo_has_one_segment_a_year():
    start, end = ms(2024, 1, 1, tz=TOKYO), ms(2025, 1, 1, tz=TOKYO)
    assert constant_offset_segments(start, end, TOKYO) == [(start, end, 9 * 3_600_000)]


def test_paris_splits_at_both_dst_changes():
    start, end = ms(2024, 1, 1, tz=PARIS), ms(2025, 1, 1, tz=PARIS)
    segments = constant_offset_segments(start, end, PARIS)
    assert [offset // 3_600_000 for _, _, offset in segments] == [1, 2, 1]
    assert segments[1][0] == ms(2024, 3, 31, 1)  # 02:00 CET -> 03:00 CEST
    assert segments[2][0] == ms(2024, 10, 27, 1)  # 03:00 CEST -> 02:00 CET
    assert segments[0][0] == start and segments[-1][1] == end


class FakeRows:
    """A series store answering from points in memory, with the SQL backends' arithmetic."""

    in_resource_transaction = True

    def __init__(self, points: list[SeriesPoint]) -> None:
        self.points = points

    def daily_rollup(self, subject, codes, start_ms, end_ms, zone):
        return None  # no rollups: the days come from the points

    def daily(self, subject, codes, start_ms, end_ms, offset_ms):
        buckets: dict[tuple[str, int], list[float]] = {}
        for p in self.points:
            if p.subject == subject and p.code in codes and start_ms <= p.ts_ms < end_ms:
                buckets.setdefault((p.code, (p.ts_ms + offset_ms) // DAY_MS), []).append(p.value)
        return [
            DailyRow(c, d, min(v), max(v), sum(v), len(v), "mm[Hg]")
            for (c, d), v in buckets.items()
        ]


def test_a_dst_day_is_one_day_not_two():
    # 2024-03-31 in Paris has 23 hours; readings at 00:30 CET and 23:30 CEST are the same day.
    points = [
        SeriesPoint("Patient/p", "8480-6", ms(2024, 3, 31, 0, 30, tz=PARIS), 120, "mm[Hg]", "a"),
        SeriesPoint("Patient/p", "8480-6", ms(2024, 3, 31, 23, 30, tz=PARIS), 140, "mm[Hg]", "b"),
        SeriesPoint("Patient/p", "8480-6", ms(2024, 4, 1, 0, 30, tz=PARIS), 150, "mm[Hg]", "c"),
    ]
    days = daily_statistics(
        FakeRows(points),
        "Patient/p",
        ["8480-6"],
        ms(2024, 3, 30, tz=PARIS),
        ms(2024, 4, 3, tz=PARIS),
        PARIS,
    )
    assert [(d.day.isoformat(), d.readings, d.mean) for d in days] == [
        ("2024-03-31", 2, 130.0),
        ("2024-04-01", 1, 150.0),
    ]


def test_series_points_from_a_blood_pressure_panel():
    observation = {
        "status": "final",
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2024-11-27T07:00:00+09:00",
        "code": {
            "coding": [
                {"system": "urn:iso:std:iso:11073:10101", "code": "150020"},
                {"system": "http://loinc.org", "code": "85354-9"},
            ]
        },
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 120, "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "dataAbsentReason": {"text": "NaN"},
            },
        ],
    }
    assert series_points(observation, "o1", TOKYO) == [
        SeriesPoint("Patient/p", "8480-6", ms(2024, 11, 26, 22), 120.0, "mm[Hg]", "o1")
    ]
    assert series_points({**observation, "status": "entered-in-error"}, "o1", TOKYO) == []

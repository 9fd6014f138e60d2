"""Heart and breathing rates measured in bed are a series apart from spot readings (issue 15).

Found while reviewing issue 12's pages: the bed sensor's epoch heart rates carry
8867-4 like a spot pulse, so `$stats` for the pulse gave min 52 / mean 55.5 on a
day whose only spot pulse was 72, and the patient list's newest pulse could be an
epoch of the night.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from fhir_api.app import build_store
from fhir_api.errors import BadRequest
from fhir_api.service import FhirService
from fhir_api.settings import Settings
from fhir_api.storage.resources import ResourceStore
from fhir_api.storage.series.in_bed import IN_BED, SETTING_SYSTEM, measured_in_bed
from gateway.mapping.codes import MEASUREMENT_SETTING_SYSTEM

from .conftest import settings_for
from .helpers import CONTRACT, downgrade, load
from .test_stats_correctness import vital

DAY = [("subject", "Patient/s"), ("start", "2024-11-27"), ("end", "2024-11-28"), ("tz", "UTC")]
EPOCHS = [52, 54, 60, 56]  # the night of the 26th, after midnight UTC


def epoch(code: str, minute: int, value: float) -> dict[str, Any]:
    """A bed sensor's rate over a 5-minute epoch, as gateways before the marker sent it."""
    resource = vital("Patient/s", code, "", value, "/min")
    del resource["effectiveDateTime"]
    start = f"2024-11-27T01:{minute:02d}:00Z"
    resource["effectivePeriod"] = {"start": start, "end": f"2024-11-27T01:{minute + 5:02d}:00Z"}
    return resource


def night_and_day(service: FhirService) -> str:
    """One spot pulse of 72 in the day, a night of epochs 52-60 and a live rate in bed after it;
    the spot pulse's id."""
    service.update("Patient", "s", {"resourceType": "Patient", "id": "s"})
    spot = service.create(
        "Observation", vital("Patient/s", "8867-4", "2024-11-27T00:30:00Z", 72, "/min")
    )
    for index, value in enumerate(EPOCHS):
        service.create("Observation", epoch("8867-4", 5 * index, value))
        service.create("Observation", epoch("9279-1", 5 * index, 14 + index))
    live = vital("Patient/s", "8867-4", "2024-11-27T02:00:00Z", 50, "/min")
    live["category"].append({"coding": [{"system": SETTING_SYSTEM, "code": IN_BED}]})
    service.create("Observation", live)  # newer than the spot pulse, marked in bed
    return spot.stored.id


def figures(service: FhirService, code: str, *extra: tuple[str, str]) -> list[tuple[Any, ...]]:
    """(code, min, max, readings) per day of `$stats` for `code`."""
    _subject, _zone, days = service.stats([*DAY, ("code", code), *extra])
    return [(day.code, day.minimum, day.maximum, day.readings) for day in days]


def open_store(stack: ExitStack, settings: Settings) -> ResourceStore:
    """The store of `settings`, closed when `stack` is (also when a test fails)."""
    store = build_store(settings)
    stack.callback(store.engine.dispose)
    stack.callback(store.series.close)
    return store


@pytest.fixture(params=["sqlite", "postgresql"])
def day_and_night(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[FhirService, str]]:
    """A service whose patient `s` has `night_and_day`, and the spot pulse's id."""
    with ExitStack() as stack:
        service = FhirService(open_store(stack, settings_for(request.param, stack, tmp_path)))
        yield service, night_and_day(service)


def test_pulse_stats_leave_the_night_out(day_and_night: tuple[FhirService, str]) -> None:
    service, _spot = day_and_night
    assert figures(service, "8867-4") == [("8867-4", 72.0, 72.0, 1)]
    assert figures(service, "9279-1") == []
    assert figures(service, "8867-4,9279-1", ("setting", IN_BED)) == [
        ("8867-4", 50.0, 60.0, 5),
        ("9279-1", 14.0, 17.0, 4),
    ]


def test_newest_pulse_on_the_list_is_the_spot_one(day_and_night: tuple[FhirService, str]) -> None:
    service, spot = day_and_night
    assert [o.id for o in service.newest_readings(["s"], ["8867-4"])] == [spot]


def test_stats_refuses_an_unknown_setting_and_in_bed_for_other_codes(tmp_path: Path) -> None:
    with ExitStack() as stack:
        service = FhirService(open_store(stack, settings_for("sqlite", stack, tmp_path)))
        service.update("Patient", "s", {"resourceType": "Patient", "id": "s"})
        with pytest.raises(BadRequest, match=r"spot \(the default\) or in-bed"):
            service.stats([*DAY, ("code", "8867-4"), ("setting", "asleep")])
        with pytest.raises(BadRequest, match="not 8480-6"):
            service.stats([*DAY, ("code", "8867-4,8480-6"), ("setting", IN_BED)])
        assert service.stats([*DAY, ("code", "8867-4"), ("setting", "spot")])[2] == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0012_moves_stored_epochs_to_the_in_bed_series(
    tmp_path: Path, backend: str
) -> None:
    with ExitStack() as stack:
        settings = settings_for(backend, stack, tmp_path)
        with ExitStack() as before:
            store = open_store(before, settings)
            spot = night_and_day(FhirService(store))
            downgrade(store.engine, "0012")  # the points as the code before the fix filed them
            with store.reading() as tx:
                codes = tx.connection.execute(  # the layout before 0016: codes as text
                    text("SELECT DISTINCT code FROM vital_series")
                ).scalars()
                assert sorted(codes) == ["8867-4", "9279-1"]

        # Opening the store migrates it to head and derives the points again.
        service = FhirService(open_store(stack, settings))
        assert figures(service, "8867-4") == [("8867-4", 72.0, 72.0, 1)]
        assert figures(service, "8867-4", ("setting", IN_BED)) == [("8867-4", 50.0, 60.0, 5)]
        assert [o.id for o in service.newest_readings(["s"], ["8867-4"])] == [spot]


def test_the_gateways_sleep_epoch_goes_to_the_in_bed_series(tmp_path: Path) -> None:
    """The contract: the bed sensor's rates arrive marked in bed, and the server reads the mark."""
    assert MEASUREMENT_SETTING_SYSTEM == SETTING_SYSTEM
    bundle = load(next(p for p in CONTRACT if p.stem == "bundle-sleep-epoch"))
    rates = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] in ("8867-4", "9279-1")
    ]
    assert len(rates) == 2
    assert all(measured_in_bed(r) for r in rates)
    live = {**rates[0], "effectiveDateTime": "2024-11-27T02:40:00+09:00"}
    del live["effectivePeriod"]
    assert measured_in_bed(live)  # a live rate in bed has an instant, and its mark
    with ExitStack() as stack:
        service = FhirService(open_store(stack, settings_for("sqlite", stack, tmp_path)))
        service.update(
            "Patient", "tanaka-hanako", {"resourceType": "Patient", "id": "tanaka-hanako"}
        )
        service.bundle(bundle)
        night = [
            ("subject", "Patient/tanaka-hanako"),
            ("start", "2024-11-26"),
            ("end", "2024-11-28"),
            ("tz", "Asia/Tokyo"),
            ("code", "8867-4,9279-1"),
        ]
        assert service.stats(night)[2] == []
        in_bed = service.stats([*night, ("setting", IN_BED)])[2]
        assert [(d.code, d.day.isoformat(), d.mean) for d in in_bed] == [
            ("8867-4", "2024-11-27", 54.0),
            ("9279-1", "2024-11-27", 13.5),
        ]


def test_lastn_pulse_is_the_spot_one_unless_a_category_is_asked(tmp_path: Path) -> None:
    """The rates the gateway marks in bed are left out; epochs stored unmarked (before the
    mark, or from other senders) cannot be told apart by a search and still come."""
    marked = f"{SETTING_SYSTEM}|{IN_BED}"
    with ExitStack() as stack:
        service = FhirService(open_store(stack, settings_for("sqlite", stack, tmp_path)))
        service.update("Patient", "s", {"resourceType": "Patient", "id": "s"})
        spot = vital("Patient/s", "8867-4", "2024-11-27T00:30:00Z", 72, "/min")
        spot_id = service.create("Observation", spot).stored.id
        for minute in (0, 5):
            rate = epoch("8867-4", minute, 54)
            rate["category"].append({"coding": [{"system": SETTING_SYSTEM, "code": IN_BED}]})
            service.create("Observation", rate)
        newest = service.lastn([("patient", "s"), ("code", "8867-4")])
        assert [o.id for o in newest] == [spot_id]
        in_bed = service.lastn([("patient", "s"), ("code", "8867-4"), ("category", marked)])
        assert [o.content["effectivePeriod"]["start"] for o in in_bed] == ["2024-11-27T01:05:00Z"]

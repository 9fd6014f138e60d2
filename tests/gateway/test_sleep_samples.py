"""A night's epochs as SampledData (issue 15): three Observations instead of three per
epoch, taken by the server and charted with the same per-epoch values."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import device_adapters as da
from fhir_api.app import build_store
from fhir_api.service import FhirService
from gateway.mapping import map_reading, map_sleep_night, nights_from_epochs
from gateway.mapping.bundle import transaction_bundle, upload_entries
from gateway.mapping.sleep_samples import MAX_SLOTS, epoch_windows, map_epoch_samples

from ..fhir_api.conftest import settings_for
from . import fixture_cases as fc

CASE = fc.CASES["sleep-night"]


def epochs() -> list[da.SleepEpoch]:
    """The fixture's short night: 24 epochs of 5 minutes from 23:00."""
    readings = [da.parse(uuid, payload) for uuid, payload in CASE.payloads]
    return [r for r in readings if isinstance(r, da.SleepEpoch)]


def values(resource: dict[str, Any]) -> list[str]:
    return str(resource["valueSampledData"]["data"]).split(" ")


def test_a_night_costs_four_resources_not_one_per_signal_and_epoch() -> None:
    night = epochs()
    ctx = CASE.context()
    per_epoch = [o for e in night for o in map_reading(e, ctx)]
    summaries = [o for n in nights_from_epochs(night) for o in map_sleep_night(n, ctx)]
    samples = map_epoch_samples(night, ctx)
    # bench/ figure: 24 epochs were 72 Observations and a summary; now 3 and the summary.
    assert (len(per_epoch) + len(summaries), len(samples) + len(summaries)) == (73, 4)
    heart, breathing, stage = samples
    assert [c["code"] for c in heart["code"]["coding"]] == ["147842"]
    assert [c["code"] for c in breathing["code"]["coding"]] == ["151562"]
    assert heart["effectivePeriod"] == {
        "start": "2024-11-26T23:00:00+09:00",
        "end": "2024-11-27T01:00:00+09:00",
    }
    assert heart["valueSampledData"]["period"] == 300_000
    rates = [o for o in per_epoch if o["code"]["coding"][0]["code"] == "8867-4"]
    assert values(heart) == [str(o["valueQuantity"]["value"]) for o in rates]
    assert values(breathing) == ["14"] * 24
    assert values(stage) == [str(int(s)) for s in fc.NIGHT_STAGES]
    assert {"code": "in-bed"}.items() <= heart["category"][1]["coding"][0].items()
    assert "meta" not in heart  # not the heart-rate profile: that takes a valueQuantity


def test_a_missing_epoch_is_an_e_and_the_window_names_the_identifier() -> None:
    night = epochs()
    gap = night[:5] + night[6:]
    heart = map_epoch_samples(gap, CASE.context())[0]
    assert values(heart)[4:7] == ["54", "E", "57"]
    again = map_epoch_samples(list(reversed(gap)), CASE.context())[0]
    assert again["identifier"] == heart["identifier"]  # a retried window: the same resource
    whole = map_epoch_samples(night, CASE.context())[0]
    assert whole["identifier"] != heart["identifier"]
    no_rates = [replace(e, heart_rate=None, respiration_rate=None) for e in night]
    assert len(map_epoch_samples(no_rates, CASE.context())) == 1  # the stages only


def test_the_server_charts_the_samples_as_it_charted_the_epochs(tmp_path: Path) -> None:
    night, ctx = epochs(), CASE.context()
    with ExitStack() as stack:
        store = build_store(settings_for("sqlite", stack, tmp_path))
        stack.callback(store.engine.dispose)
        service = FhirService(store)
        for patient in ("tanaka-hanako", "other"):
            service.update("Patient", patient, {"resourceType": "Patient", "id": patient})
        as_samples = map_epoch_samples(night, ctx)
        service.bundle(
            transaction_bundle(upload_entries(as_samples, CASE.sensor, fc.GATEWAY, CASE.patient))
        )
        other = fc.PatientLink(logical_id="other")
        per_epoch = [o for e in night for o in map_reading(e, replace(ctx, patient=other))]
        service.bundle(
            transaction_bundle(upload_entries(per_epoch, CASE.sensor, fc.GATEWAY, other))
        )

        def in_bed(patient: str) -> list[tuple[str, str, float, float, float, int]]:
            query = [
                ("patient", patient),
                ("code", "8867-4,9279-1"),
                ("start", "2024-11-26"),
                ("end", "2024-11-28"),
                ("setting", "in-bed"),
            ]
            days = service.stats(query)[2]
            return [
                (d.code, d.day.isoformat(), d.minimum, d.maximum, d.mean, d.readings) for d in days
            ]

        assert in_bed("tanaka-hanako") == in_bed("other")
        assert [row[5] for row in in_bed("tanaka-hanako")] == [12, 12, 12, 12]  # around midnight


def epoch_at(sequence: int, start: datetime, stage: int, seconds: int = 300) -> da.SleepEpoch:
    return da.SleepEpoch(
        sequence,
        start,
        da.Quantity(float(seconds), da.Unit.SECOND),
        da.SleepStage(stage),
        heart_rate=da.Quantity(50.0 + sequence, da.Unit.PER_MIN),
    )


def carried(resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(window start, stage) of each stage sample, in order."""
    found = []
    for resource in resources:
        if resource["code"]["coding"][0]["code"] == "258158006":
            start = resource["effectivePeriod"]["start"]
            found += [(start, s) for s in values(resource) if s != "E"]
    return found


def test_a_clock_set_back_mid_night_starts_a_window_and_loses_no_epoch() -> None:
    night = datetime(2024, 11, 26, 23, 0)
    before = [epoch_at(n, night + timedelta(minutes=5 * n), 2) for n in range(6)]  # to 23:30
    # The sensor's clock was set back 7 minutes at 23:30: its next epochs start at 23:23.
    after = [epoch_at(6 + n, night + timedelta(minutes=23 + 5 * n), 3) for n in range(4)]
    windows = epoch_windows(before + after)
    assert [len(w.epochs) for w in windows] == [6, 4]
    stages = [s for _, s in carried(map_epoch_samples(before + after, CASE.context()))]
    assert sorted(stages) == ["2"] * 6 + ["3"] * 4  # a slot taken twice dropped one


def test_windows_break_at_a_long_gap_another_epoch_length_and_max_slots() -> None:
    night = datetime(2024, 11, 26, 23, 0)
    first = [epoch_at(n, night + timedelta(minutes=5 * n), 2) for n in range(3)]
    later = [epoch_at(10 + n, night + timedelta(hours=5, minutes=5 * n), 3) for n in range(2)]
    short = [epoch_at(20, night + timedelta(hours=5, minutes=10), 4, seconds=30)]
    windows = epoch_windows(first + later + short)
    assert [(w.start.hour, w.period, len(w.slots)) for w in windows] == [
        (23, 300, 3),
        (4, 300, 2),
        (4, 30, 1),
    ]
    many = [epoch_at(n, night + timedelta(seconds=30 * n), 2, 30) for n in range(MAX_SLOTS + 5)]
    assert [len(w.slots) for w in epoch_windows(many)] == [MAX_SLOTS, 5]


def test_an_epoch_sent_again_under_another_sequence_number_takes_no_slot() -> None:
    night = datetime(2024, 11, 26, 23, 0)
    epochs = [epoch_at(n, night + timedelta(minutes=5 * n), 2) for n in range(3)]
    again = replace(epochs[2], sequence_number=99)
    [window] = epoch_windows([*epochs, again])
    assert (len(window.slots), len(window.epochs)) == (3, 4)  # carried (marked sent), once


def test_an_epoch_off_the_grid_or_on_a_slot_already_taken_starts_a_window() -> None:
    """Each cut on its own: a start after the last slot but between two slots (it would be
    charted up to a period early), and a clock set back by a whole number of epochs (its
    epochs would be appended after the slots they repeat, each charted late)."""
    night = datetime(2024, 11, 26, 23, 0)
    before = [epoch_at(n, night + timedelta(minutes=5 * n), 2) for n in range(6)]  # to 23:30
    off_grid = epoch_at(6, night + timedelta(minutes=32, seconds=30), 3)
    windows = epoch_windows([*before, off_grid])
    assert [(w.start.time().isoformat(), len(w.slots)) for w in windows] == [
        ("23:00:00", 6),
        ("23:32:30", 1),
    ]
    set_back = [epoch_at(6 + n, night + timedelta(minutes=20 + 5 * n), 3) for n in range(4)]
    carried_slots = [
        (w.start + timedelta(seconds=w.period * i), e.sequence_number)
        for w in epoch_windows(before + set_back)
        for i, e in enumerate(w.slots)
        if e is not None
    ]
    assert sorted(carried_slots) == sorted(
        (e.device_time, e.sequence_number) for e in before + set_back
    )

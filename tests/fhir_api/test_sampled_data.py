"""A night's epochs as one SampledData Observation: refused precisely when unreadable,
charted as the same per-epoch points as one Observation per epoch (issue 15)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from fhir_api.errors import BadRequest, Unprocessable
from fhir_api.sampled_data import MAX_SAMPLES, problems, samples
from fhir_api.service import FhirService
from fhir_api.storage.series.in_bed import IN_BED, SETTING_SYSTEM

from .conftest import settings_for
from .test_sleep_series import DAY, EPOCHS, epoch, figures, open_store
from .test_stats_correctness import vital

MDC = "urn:iso:std:iso:11073:10101"
RATES = {"8867-4": "147842", "9279-1": "151562"}  # MDC_ECG_HEART_RATE, MDC_RESP_RATE
UCUM_PER_MIN = {"value": 0, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}


def night(code: str, data: str, *, period: float = 300_000, minutes: int = 20) -> dict[str, Any]:
    """A bed sensor's night of 5-minute epochs from 01:00 UTC as one Observation, coded by
    MDC as the PHD IG codes periodic samples (a SampledData is no vital-signs Observation)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": SETTING_SYSTEM, "code": IN_BED}]}],
        "code": {"coding": [{"system": MDC, "code": RATES[code]}]},
        "subject": {"reference": "Patient/s"},
        "effectivePeriod": {
            "start": "2024-11-27T01:00:00Z",
            "end": f"2024-11-27T01:{minutes:02d}:00Z",
        },
        "valueSampledData": {
            "origin": UCUM_PER_MIN,
            "period": period,
            "dimensions": 1,
            "data": data,
        },
    }


@pytest.fixture
def service(tmp_path: Path) -> Iterator[FhirService]:
    with ExitStack() as stack:
        service = FhirService(open_store(stack, settings_for("sqlite", stack, tmp_path)))
        service.update("Patient", "s", {"resourceType": "Patient", "id": "s"})
        yield service


def test_samples_are_origin_plus_factor_times_data_and_errors_have_no_value() -> None:
    sampled = {"origin": {"value": 40, "code": "/min"}, "period": 300000, "factor": 0.5}
    assert samples({**sampled, "dimensions": 1, "data": "24 28 E L U 40"}) == (
        300000.0,
        [52.0, 54.0, None, None, None, 60.0],
    )
    assert samples({**sampled, "dimensions": 2, "data": "1 2"}) is None  # not charted


@pytest.mark.parametrize(
    ("change", "element", "message"),
    [
        ({"period": 0}, "period", "above 0"),
        ({"data": "52 fifty 60"}, "data", "sample 2 is 'fifty'"),
        ({"data": "52  60"}, "data", "sample 2 is ''"),
        ({"data": "52 54 60", "dimensions": 2}, "data", "3 samples are not a whole number"),
        ({"data": " ".join(["1"] * (MAX_SAMPLES + 1))}, "data", f"at most {MAX_SAMPLES}"),
        ({"origin": {"value": 0}}, "origin", "needs a unit"),
        ({"factor": 0}, "factor", "other than 0"),
    ],
)
def test_unreadable_sampled_data_is_a_400_naming_the_element(
    service: FhirService, change: dict[str, Any], element: str, message: str
) -> None:
    bad = night("8867-4", "52 54 56 60")
    bad["valueSampledData"].update(change)
    assert problems(bad["valueSampledData"])
    with pytest.raises(BadRequest, match=message) as caught:
        service.create("Observation", bad)
    assert f"Observation.valueSampledData.{element}" in str(caught.value.outcome())


def test_samples_past_the_effective_period_are_refused_and_nothing_is_stored(
    service: FhirService,
) -> None:
    good, late = night("9279-1", "14 15"), night("8867-4", "52 54 56 60 58 57", minutes=20)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "POST", "url": "Observation"}}
            for r in (good, late)
        ],
    }
    with pytest.raises(BadRequest, match=r"after effectivePeriod\.end"):
        service.bundle(copy.deepcopy(bundle))
    assert service.search("Observation", [("patient", "s")])[0].matches == []
    bundle["entry"].pop()
    service.bundle(bundle)


def test_a_night_as_sampled_data_charts_as_its_epochs_did(service: FhirService) -> None:
    service.create("Observation", vital("Patient/s", "8867-4", "2024-11-27T00:30:00Z", 72, "/min"))
    data = " ".join(str(v) for v in EPOCHS)
    service.create("Observation", night("8867-4", data))
    service.create("Observation", night("9279-1", "14 15 E 17"))
    assert figures(service, "8867-4") == [("8867-4", 72.0, 72.0, 1)]
    as_samples = figures(service, "8867-4,9279-1", ("setting", IN_BED))
    assert as_samples == [("8867-4", 52.0, 60.0, 4), ("9279-1", 14.0, 17.0, 3)]

    # The same night as one Observation per epoch, for another patient: the same figures.
    service.update("Patient", "t", {"resourceType": "Patient", "id": "t"})
    for index, value in enumerate(EPOCHS):
        one = epoch("8867-4", 5 * index, value)
        one["subject"]["reference"] = "Patient/t"
        service.create("Observation", one)
    days = service.stats(
        [("subject", "Patient/t"), *DAY[1:], ("code", "8867-4"), ("setting", IN_BED)]
    )[2]
    assert [(d.code, d.minimum, d.maximum, d.readings) for d in days] == as_samples[:1]


def test_impossible_samples_and_a_loinc_vital_sign_as_samples_are_422(
    service: FhirService,
) -> None:
    with pytest.raises(Unprocessable, match="sample 2, 900 /min, is not a possible") as caught:
        service.create("Observation", night("8867-4", "52 900 56"))
    assert "Observation.valueSampledData.data" in str(caught.value.outcome())
    loinc = night("8867-4", "52 54")
    loinc["code"]["coding"].append({"system": "http://loinc.org", "code": "8867-4"})
    with pytest.raises(Unprocessable) as caught:
        service.create("Observation", loinc)  # the FHIR vital-signs profiles take a Quantity
    assert "heartrate: needs valueQuantity" in str(caught.value.outcome())


def test_the_gateways_night_twice_and_another_senders_epoch_each_count_once(
    tmp_path: Path,
) -> None:
    """The contract since issue 15 (`bundle-sleep-night.json`): a session's epochs as one
    SampledData per signal. Uploaded again (a retry) it is the same resources
    (If-None-Exist); a one-epoch Observation of another sender is still taken, and
    `$stats` in bed counts every epoch once."""
    from .helpers import CONTRACT, load

    bundle = load(next(p for p in CONTRACT if p.stem == "bundle-sleep-night"))
    one_epoch = load(next(p for p in CONTRACT if p.stem == "bundle-sleep-epoch"))
    with ExitStack() as stack:
        service = FhirService(open_store(stack, settings_for("sqlite", stack, tmp_path)))
        service.update(
            "Patient", "tanaka-hanako", {"resourceType": "Patient", "id": "tanaka-hanako"}
        )
        first = service.bundle(copy.deepcopy(bundle))
        again = service.bundle(copy.deepcopy(bundle))
        assert [e["response"]["status"][:3] for e in first["entry"]].count("201") == 6
        assert {e["response"]["status"][:3] for e in again["entry"]} == {"200"}
        service.bundle(one_epoch)  # 02:30, after the night: an epoch of its own
        query = [
            ("subject", "Patient/tanaka-hanako"),
            ("start", "2024-11-26"),
            ("end", "2024-11-28"),
            ("tz", "Asia/Tokyo"),
            ("code", "8867-4,9279-1"),
            ("setting", IN_BED),
        ]
        counted: dict[str, int] = {}
        for day in service.stats(query)[2]:
            counted[day.code] = counted.get(day.code, 0) + day.readings
        assert counted == {"8867-4": 24 + 1, "9279-1": 24 + 1}

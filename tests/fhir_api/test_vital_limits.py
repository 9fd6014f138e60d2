"""A patient's vital limits (issue 12): the model's defaults and round trip, and the FHIR
API refusing a faulty vital-limits extension with a 400 naming the element (nothing
stored), and a changed tz-code reaching `$stats` at once.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from fhir_api.auth import Role, TokenStore
from fhir_api.vital_limits import (
    DEFAULT,
    VITAL_LIMITS_EXTENSION,
    Level,
    Limits,
    Spo2Scale,
    chosen_of,
    limits_of,
    problems,
    with_limits,
)

from .conftest import serve, settings_for
from .helpers import blood_pressure

TZ = "http://hl7.org/fhir/StructureDefinition/tz-code"
JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _mmhg(url: str, value: Any, code: str = "mm[Hg]") -> dict[str, Any]:
    quantity = {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org"}
    return {"url": url, "valueQuantity": {**quantity, "code": code}}


def _patient(*parts: dict[str, Any]) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"text": "山田 太郎"}],
        "extension": [{"url": TZ, "valueCode": "Asia/Tokyo"}],
    }
    if parts:
        patient["extension"].append({"url": VITAL_LIMITS_EXTENSION, "extension": list(parts)})
    return patient


# --- pure --------------------------------------------------------------------------------


def test_without_the_extension_the_clinic_defaults_apply():
    limits = limits_of(_patient())
    assert limits == DEFAULT
    assert (limits.systolic, limits.diastolic, limits.target_systolic) == (135, 85, 125)
    assert (limits.spo2_low, limits.pulse_low, limits.pulse_high) == (90, 50, 100)
    assert chosen_of(_patient()) == ({}, Spo2Scale.STANDARD)


def test_the_patients_own_limits_round_trip_and_only_differences_are_written():
    chosen = {"target_systolic": 135.0, "target_diastolic": 85.0, "pulse_high": 90.0}
    written = with_limits(_patient(), {**chosen, "systolic": 135.0}, Spo2Scale.TARGET_88_92)
    extension = written["extension"][-1]
    assert extension["url"] == VITAL_LIMITS_EXTENSION
    assert [p["url"] for p in extension["extension"]] == [
        "spo2-scale",
        "systolic-target",
        "diastolic-target",
        "pulse-high",
    ]  # systolic-high 135 is the default: not written
    assert extension["extension"][1]["valueQuantity"] == {
        "value": 135,
        "unit": "mmHg",
        "system": "http://unitsofmeasure.org",
        "code": "mm[Hg]",
    }
    assert written["extension"][0] == {"url": TZ, "valueCode": "Asia/Tokyo"}
    limits = limits_of(written)
    assert limits == Limits(
        target_systolic=135,
        target_diastolic=85,
        pulse_high=90,
        spo2_low=88,  # the 88-92 % scale's default
        spo2_scale=Spo2Scale.TARGET_88_92,
    )
    assert chosen_of(written) == (chosen, Spo2Scale.TARGET_88_92)
    assert limits.pulse(95) is Level.HIGH and limits.spo2(89) is None
    back = with_limits(written, {}, Spo2Scale.STANDARD)
    assert back == _patient()  # everything at the default: the extension goes


def test_order_and_range_problems_name_the_limit():
    assert problems({}) == []
    assert [(p.name, p.message()) for p in problems({"systolic": 0})] == [
        ("systolic", "Enter a value from 90 to 250.")
    ]
    assert [(p.name, p.message()) for p in problems({"pulse_low": 100})] == [
        ("pulse_low", "Must be below the upper pulse limit (100).")
    ]
    assert [p.name for p in problems({"systolic": 185})] == ["systolic"]  # urgent is 180


# --- the FHIR API ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path_factory.mktemp("limits"))
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("limits", Role.SYSTEM)
        headers = {"Authorization": f"Bearer {token}", **JSON}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            yield client


BAD: dict[str, tuple[list[dict[str, Any]], str, str]] = {
    "unknown sub-extension": (
        [_mmhg("systolic-highest", 140)],
        "Patient.extension[1].extension[0]",
        "is not a vital-limits sub-extension",
    ),
    "kPa for mmHg": (
        [_mmhg("systolic-high", 18.7, "kPa")],
        "Patient.extension[1].extension[0].valueQuantity.code",
        "mm[Hg]",
    ),
    "a string": (
        [_mmhg("systolic-high", "140")],
        "Patient.extension[1].extension[0].valueQuantity.value",
        "",
    ),
    "systolic 0": (
        [_mmhg("systolic-high", 0)],
        "Patient.extension[1].extension[0].valueQuantity.value",
        "from 90 to 250",
    ),
    "systolic 400": (
        [_mmhg("systolic-high", 400)],
        "Patient.extension[1].extension[0].valueQuantity.value",
        "from 90 to 250",
    ),
    "high at urgent": (
        [_mmhg("systolic-high", 150), _mmhg("systolic-urgent", 150)],
        "Patient.extension[1].extension[0].valueQuantity.value",
        "below the urgent level (150)",
    ),
    "pulse low above high": (
        [
            {"url": "pulse-low", "valueQuantity": {"value": 90, "code": "/min"}},
            {"url": "pulse-high", "valueQuantity": {"value": 80, "code": "/min"}},
        ],
        "Patient.extension[1].extension[0].valueQuantity.value",
        "below the upper pulse limit (80)",
    ),
    "unknown scale": (
        [{"url": "spo2-scale", "valueCode": "scale-3"}],
        "Patient.extension[1].extension[0]",
        "standard or target-88-92",
    ),
    "twice": (
        [_mmhg("systolic-high", 140), _mmhg("systolic-high", 145)],
        "Patient.extension[1].extension[1]",
        "more than once",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_faulty_vital_limits_extension_is_a_400_naming_the_element_and_stores_nothing(
    api: httpx.Client, case: str
) -> None:
    parts, where, text = BAD[case]
    created = api.post("/Patient", json=_patient())
    assert created.status_code == 201, created.text
    patient = created.json()
    answer = api.post("/Patient", json=_patient(*parts))
    assert answer.status_code == 400, answer.text
    issues = answer.json()["issue"]
    assert any(where in i.get("expression", []) and text in i["diagnostics"] for i in issues), (
        issues
    )
    changed = copy.deepcopy(patient)
    changed["extension"] = _patient(*parts)["extension"]
    put = api.put(f"/Patient/{patient['id']}", json=changed)
    assert put.status_code == 400, put.text
    now = api.get(f"/Patient/{patient['id']}").json()
    assert now["meta"]["versionId"] == "1" and now["extension"] == patient["extension"]


def test_valid_limits_are_stored_as_sent(api: httpx.Client) -> None:
    body = with_limits(_patient(), {"pulse_high": 90, "target_systolic": 130}, Spo2Scale.STANDARD)
    answer = api.post("/Patient", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["extension"] == body["extension"]
    assert limits_of(answer.json()).pulse_high == 90


def _daily_counts(api: httpx.Client, patient_id: str) -> dict[str, int]:
    answer = api.get(
        "/Observation/$stats",
        params={
            "subject": f"Patient/{patient_id}",
            "code": "8480-6",
            "start": "2026-11-29",
            "end": "2026-12-01",
        },
    )
    assert answer.status_code == 200, answer.text
    days: dict[str, int] = {}
    for series in answer.json()["parameter"]:
        for day in (p for p in series.get("part", ()) if p["name"] == "day"):
            parts = {p["name"]: p for p in day["part"]}
            days[parts["date"]["valueDate"]] = parts["count"]["valueInteger"]
    return days


def test_a_new_time_zone_shifts_stats_days_at_once(api: httpx.Client) -> None:
    """The updating worker drops its cached zone: the next `$stats` uses the new zone."""
    patient = api.post("/Patient", json=_patient()).json()
    subject = f"Patient/{patient['id']}"
    # 01:00 on the 30th in Tokyo is 16:00 on the 29th in London.
    reading = blood_pressure(subject, "2026-11-30T01:00:00+09:00", 128, 80)
    assert api.post("/Observation", json=reading).status_code == 201
    assert _daily_counts(api, patient["id"]) == {"2026-11-30": 1}
    patient["extension"] = [{"url": TZ, "valueCode": "Europe/London"}]
    assert api.put(f"/Patient/{patient['id']}", json=patient).status_code == 200
    assert _daily_counts(api, patient["id"]) == {"2026-11-29": 1}


def test_a_time_zone_changed_in_a_transaction_counts_at_once_too(api: httpx.Client) -> None:
    patient = api.post("/Patient", json=_patient()).json()
    subject = f"Patient/{patient['id']}"
    reading = blood_pressure(subject, "2026-11-30T01:00:00+09:00", 128, 80)
    assert api.post("/Observation", json=reading).status_code == 201
    assert _daily_counts(api, patient["id"]) == {"2026-11-30": 1}
    patient["extension"] = [{"url": TZ, "valueCode": "Europe/London"}]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient, "request": {"method": "PUT", "url": f"Patient/{patient['id']}"}}
        ],
    }
    assert api.post("/", json=bundle).status_code == 200
    assert _daily_counts(api, patient["id"]) == {"2026-11-29": 1}


def test_another_worker_sees_a_new_time_zone_within_a_second(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two servers on one store (two workers): the one that did not make the change has
    the old zone cached, and must use the new one within its cache's second."""
    import time

    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path_factory.mktemp("zones"))
        first, store = stack.enter_context(serve(settings))
        second, _ = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("zones", Role.SYSTEM)
        headers = {"Authorization": f"Bearer {token}", **JSON}
        a = stack.enter_context(httpx.Client(base_url=first, headers=headers, timeout=30))
        b = stack.enter_context(httpx.Client(base_url=second, headers=headers, timeout=30))
        patient = a.post("/Patient", json=_patient()).json()
        reading = blood_pressure(f"Patient/{patient['id']}", "2026-11-30T01:00:00+09:00", 128, 80)
        assert a.post("/Observation", json=reading).status_code == 201
        assert _daily_counts(b, patient["id"]) == {"2026-11-30": 1}  # b caches Tokyo
        patient["extension"] = [{"url": TZ, "valueCode": "Europe/London"}]
        assert a.put(f"/Patient/{patient['id']}", json=patient).status_code == 200
        time.sleep(1.1)
        assert _daily_counts(b, patient["id"]) == {"2026-11-29": 1}

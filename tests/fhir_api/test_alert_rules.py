"""A patient's own alert rules (issue 13): read, written, turned into the core's
overrides; the FHIR API refusing a faulty alert-rules extension with a 400 naming the
element (nothing stored)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import httpx
import pytest

from fhir_api.alert_rules import (
    ALERT_RULES_EXTENSION,
    AlertRules,
    alert_rules_of,
    with_alert_rules,
)
from fhir_api.alerts import defaults
from fhir_api.alerts.model import Kind
from fhir_api.alerts.rules import rules_for
from fhir_api.auth import Role, TokenStore

from .conftest import serve, settings_for

TZ = "http://hl7.org/fhir/StructureDefinition/tz-code"
JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
UCUM = "http://unitsofmeasure.org"


def _days(url: str, value: Any, code: str = "d") -> dict[str, Any]:
    return {
        "url": url,
        "valueDuration": {"value": value, "unit": code, "system": UCUM, "code": code},
    }


def _patient(*parts: dict[str, Any]) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"text": "山田 太郎"}],
        "extension": [{"url": TZ, "valueCode": "Asia/Tokyo"}],
    }
    if parts:
        patient["extension"].append({"url": ALERT_RULES_EXTENSION, "extension": list(parts)})
    return patient


# --- pure --------------------------------------------------------------------------------


def test_without_the_extension_the_clinic_defaults_apply():
    rules = rules_for(alert_rules_of(_patient()).overrides())
    assert rules.no_reading == defaults.NO_READING
    assert [r.id for r in rules.thresholds] == [r.id for r in defaults.RULES]


def test_own_rules_round_trip_and_only_differences_are_written():
    own = AlertRules(
        weight_gain_kg=1.5,
        no_reading={Kind.SYSTOLIC: timedelta(days=1), Kind.WEIGHT: timedelta(hours=36)},
        off=frozenset({"temperature-high"}),
    )
    body = with_alert_rules(_patient(), own)
    assert body["extension"][1] == {
        "url": ALERT_RULES_EXTENSION,
        "extension": [
            {
                "url": "weight-gain",
                "valueQuantity": {"value": 1.5, "unit": "kg", "system": UCUM, "code": "kg"},
            },
            _days("no-reading-systolic", 1),
            _days("no-reading-weight", 36, "h"),
            {"url": "rule-off", "valueCode": "temperature-high"},
        ],
    }
    assert alert_rules_of(body) == own
    rules = rules_for(own.overrides())
    assert rules.no_reading == {Kind.SYSTOLIC: timedelta(days=1), Kind.WEIGHT: timedelta(hours=36)}
    assert rules.rule("temperature-high") is None
    gain = rules.rule("weight-gain")
    assert gain is not None and gain.limits[Kind.WEIGHT] == 1.5
    # back to the defaults: the extension goes, the time zone stays
    assert with_alert_rules(body, AlertRules(2.0, {Kind.SYSTOLIC: timedelta(days=3)})) == _patient()


def test_a_patients_own_temperature_limit_moves_the_rule_and_keeps_its_margin():
    own = AlertRules(limits={"temperature-high": 37.5, "respiration-low": 6})
    body = with_alert_rules(_patient(), own)
    assert body["extension"][1]["extension"] == [
        {
            "url": "temperature-high",
            "valueQuantity": {"value": 37.5, "unit": "Cel", "system": UCUM, "code": "Cel"},
        },
        {
            "url": "respiration-low",
            "valueQuantity": {"value": 6, "unit": "/min", "system": UCUM, "code": "/min"},
        },
    ]
    assert alert_rules_of(body) == own
    rules = rules_for(own.overrides())
    fever = rules.rule("temperature-high")
    assert fever is not None and fever.limits == {Kind.TEMPERATURE: 37.5}
    assert fever.margins == {Kind.TEMPERATURE: 0.6}


def test_turning_the_no_reading_rule_off_empties_its_kind():
    own = AlertRules(off=frozenset({"no-reading-systolic"}))
    assert rules_for(own.overrides()).no_reading == {}


def test_a_stored_part_the_validator_would_refuse_is_the_default():
    body = _patient(_days("no-reading-systolic", 0), {"url": "rule-off", "valueCode": "bp-urgent"})
    assert alert_rules_of(body) == AlertRules()


# --- the FHIR API ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path_factory.mktemp("alert-rules"))
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("alert-rules", Role.SYSTEM)
        headers = {"Authorization": f"Bearer {token}", **JSON}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            yield client


AT = "Patient.extension[1].extension[0]"
BAD: dict[str, tuple[list[dict[str, Any]], str, str]] = {
    "unknown sub-extension": (
        [_days("no-reading-glucose", 1)],
        AT,
        "is not an alert-rules sub-extension",
    ),
    "weeks for days": ([_days("no-reading-systolic", 1, "wk")], f"{AT}.valueDuration", "hours"),
    "no-reading 0": (
        [_days("no-reading-systolic", 0)],
        f"{AT}.valueDuration.value",
        "1 hour to 90 days",
    ),
    "no-reading 400 days": (
        [_days("no-reading-systolic", 400)],
        f"{AT}.valueDuration.value",
        "1 hour to 90 days",
    ),
    "a quantity for a duration": (
        [{"url": "no-reading-systolic", "valueQuantity": {"value": 1, "code": "d"}}],
        AT,
        "valueDuration",
    ),
    "weight gain in lb": (
        [{"url": "weight-gain", "valueQuantity": {"value": 4, "code": "[lb_av]"}}],
        f"{AT}.valueQuantity.code",
        "kg",
    ),
    "weight gain 50 kg": (
        [{"url": "weight-gain", "valueQuantity": {"value": 50, "code": "kg"}}],
        f"{AT}.valueQuantity.value",
        "from 0.5 to 10.0",
    ),
    "an urgent rule off": (
        [{"url": "rule-off", "valueCode": "bp-urgent"}],
        f"{AT}.valueCode",
        "an urgent rule cannot be turned off",
    ),
    "an unknown rule off": (
        [{"url": "rule-off", "valueCode": "glucose-high"}],
        f"{AT}.valueCode",
        "not a rule",
    ),
    "temperature in Fahrenheit": (
        [{"url": "temperature-high", "valueQuantity": {"value": 100.4, "code": "[degF]"}}],
        f"{AT}.valueQuantity.code",
        "Cel",
    ),
    "a fever at 42": (
        [{"url": "temperature-high", "valueQuantity": {"value": 42, "code": "Cel"}}],
        f"{AT}.valueQuantity.value",
        "from 37 to 40",
    ),
    "respiration low above high": (
        [
            {"url": "respiration-low", "valueQuantity": {"value": 16, "code": "/min"}},
            {"url": "respiration-high", "valueQuantity": {"value": 14, "code": "/min"}},
        ],
        f"{AT}.valueQuantity.value",
        "must be below respiration-high (14)",
    ),
    "twice": (
        [_days("no-reading-systolic", 1), _days("no-reading-systolic", 2)],
        "Patient.extension[1].extension[1]",
        "more than once",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_faulty_alert_rules_extension_is_a_400_naming_the_element_and_stores_nothing(
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


def test_valid_alert_rules_are_stored_as_sent(api: httpx.Client) -> None:
    own = AlertRules(1.0, {Kind.SPO2: timedelta(hours=12)}, frozenset({"respiration-low"}))
    answer = api.post("/Patient", json=with_alert_rules(_patient(), own))
    assert answer.status_code == 201, answer.text
    assert alert_rules_of(answer.json()) == own

"""The validation layer: the official examples must pass, one-defect mutations must not.

Each mutation changes one thing in a valid resource; the expected answer is the
HTTP status class (400 base rules, 422 profiles) and the element it names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fhir_api.errors import BadRequest, FhirError, Unprocessable
from fhir_api.validation import validate_resource

from .helpers import CONTRACT, OFFICIAL, blood_pressure, clone, load, spo2

BP = blood_pressure("Patient/p1", "2024-11-27T07:00:00+09:00", 120, 80)
SPO2 = spo2("Patient/p1", "2024-11-27T07:00:00+09:00", 97)
PHD_SPO2 = next(
    e["resource"]
    for e in load(next(p for p in CONTRACT if p.stem == "bundle-spo2-spot-stored-low-perfusion"))[
        "entry"
    ]
    if e["resource"]["resourceType"] == "Observation"
    and e["resource"]["code"]["coding"][0]["code"] == "2708-6"
)
TRANSACTION = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [{"resource": clone(BP), "request": {"method": "POST", "url": "Observation"}}],
}


@pytest.mark.parametrize("path", OFFICIAL + CONTRACT, ids=lambda p: p.stem)
def test_must_accept_official_examples_and_contract_fixtures(path):
    validate_resource(load(path))


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _add(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.__setitem__(key, value)


# (name, base, mutation, error class, element named)
MUTATIONS: list[
    tuple[str, dict[str, Any], Callable[[dict[str, Any]], None], type[FhirError], str]
] = [
    (
        "null-effective",
        SPO2,
        _set(["effectiveDateTime"], None),
        BadRequest,
        "Observation.effectiveDateTime",
    ),
    (
        "null-in-component",
        BP,
        _set(["component", 0, "valueQuantity", "value"], None),
        BadRequest,
        "Observation.component[0].valueQuantity.value",
    ),
    (
        "empty-string-unit",
        SPO2,
        _set(["valueQuantity", "unit"], ""),
        BadRequest,
        "Observation.valueQuantity.unit",
    ),
    (
        "blank-code",
        SPO2,
        _set(["code", "coding", 0, "code"], "  "),
        BadRequest,
        "Observation.code.coding[0].code",
    ),
    (
        "string-number",
        SPO2,
        _set(["valueQuantity", "value"], "97"),
        BadRequest,
        "Observation.valueQuantity.value",
    ),
    (
        "boolean-number",
        SPO2,
        _set(["valueQuantity", "value"], True),
        BadRequest,
        "Observation.valueQuantity.value",
    ),
    (
        "float-integer",
        SPO2,
        lambda d: (d.pop("valueQuantity"), d.__setitem__("valueInteger", 1.5)),
        BadRequest,
        "Observation.valueInteger",
    ),
    ("empty-array", SPO2, _set(["category"], []), BadRequest, "Observation.category"),
    ("empty-object", SPO2, _set(["subject"], {}), BadRequest, "Observation.subject"),
    (
        "object-for-array",
        SPO2,
        _set(["category"], {"text": "x"}),
        BadRequest,
        "Observation.category",
    ),
    ("unknown-element", SPO2, _add("colour", "blue"), BadRequest, "Observation.colour"),
    ("status-done", SPO2, _set(["status"], "done"), BadRequest, "Observation.status"),
    ("missing-status", SPO2, _delete(["status"]), BadRequest, "Observation.status"),
    (
        "comparator",
        SPO2,
        _set(["valueQuantity", "comparator"], "~"),
        BadRequest,
        "Observation.valueQuantity.comparator",
    ),
    (
        "obs-6",
        SPO2,
        _add("dataAbsentReason", {"text": "lost"}),
        BadRequest,
        "Observation.dataAbsentReason",
    ),
    (
        "obs-7",
        SPO2,
        _add(
            "component",
            [
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "2708-6"}]},
                    "valueQuantity": {
                        "value": 1,
                        "system": "http://unitsofmeasure.org",
                        "code": "%",
                    },
                }
            ],
        ),
        BadRequest,
        "Observation.value[x]",
    ),
    (
        "bp-panel-value",
        BP,
        _add(
            "valueQuantity", {"value": 1, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
        ),
        Unprocessable,
        "Observation.value[x]",
    ),
    (
        "per-1",
        SPO2,
        lambda d: (
            d.pop("effectiveDateTime"),
            d.__setitem__(
                "effectivePeriod",
                {"start": "2024-11-27T08:00:00+09:00", "end": "2024-11-27T07:00:00+09:00"},
            ),
        ),
        BadRequest,
        "Observation.effectivePeriod",
    ),
    (
        "naive-time",
        SPO2,
        _set(["effectiveDateTime"], "2024-11-27T07:00:00"),
        BadRequest,
        "Observation.effectiveDateTime",
    ),
    (
        "month-13",
        SPO2,
        _set(["effectiveDateTime"], "2024-13-01"),
        BadRequest,
        "Observation.effectiveDateTime",
    ),
    (
        "gender",
        {"resourceType": "Patient", "gender": "f"},
        lambda d: None,
        BadRequest,
        "Patient.gender",
    ),
    ("bundle-type", TRANSACTION, _set(["type"], "upload"), BadRequest, "Bundle.type"),
    (
        "request-method",
        TRANSACTION,
        _set(["entry", 0, "request", "method"], "SEND"),
        BadRequest,
        "Bundle.entry[0].request.method",
    ),
    ("bdl-3", TRANSACTION, _delete(["entry", 0, "request"]), BadRequest, "Bundle.entry[0].request"),
    (
        "bdl-3-collection",
        {**TRANSACTION, "type": "collection"},
        lambda d: None,
        BadRequest,
        "Bundle.entry[0].request",
    ),
    ("vs-no-category", SPO2, _delete(["category"]), Unprocessable, "Observation.category"),
    (
        "vs-other-category",
        SPO2,
        _set(["category", 0, "coding", 0, "code"], "laboratory"),
        Unprocessable,
        "Observation.category",
    ),
    ("vs-no-subject", SPO2, _delete(["subject"]), Unprocessable, "Observation.subject"),
    (
        "vs-group-subject",
        SPO2,
        _set(["subject", "reference"], "Group/g1"),
        Unprocessable,
        "Observation.subject",
    ),
    (
        "vs-no-effective",
        SPO2,
        _delete(["effectiveDateTime"]),
        Unprocessable,
        "Observation.effective[x]",
    ),
    (
        "vs-1-year-only",
        SPO2,
        _set(["effectiveDateTime"], "2024"),
        Unprocessable,
        "Observation.effectiveDateTime",
    ),
    ("vs-2-no-value", SPO2, _delete(["valueQuantity"]), Unprocessable, "Observation.value[x]"),
    (
        "oxygensat-unit",
        SPO2,
        _set(["valueQuantity", "code"], "percent"),
        Unprocessable,
        "Observation.valueQuantity.code",
    ),
    (
        "ucum-system",
        SPO2,
        _set(["valueQuantity", "system"], "http://example.org/units"),
        Unprocessable,
        "Observation.valueQuantity.system",
    ),
    (
        "no-unit-code",
        SPO2,
        _delete(["valueQuantity", "code"]),
        Unprocessable,
        "Observation.valueQuantity.code",
    ),
    ("bp-no-diastolic", BP, _delete(["component", 1]), Unprocessable, "Observation.component"),
    (
        "bp-mmhg-spelling",
        BP,
        _set(["component", 0, "valueQuantity", "code"], "mmHg"),
        Unprocessable,
        "Observation.component:systolic.valueQuantity.code",
    ),
    (
        "vs-3-component",
        BP,
        _delete(["component", 0, "valueQuantity"]),
        Unprocessable,
        "Observation.component[0]",
    ),
    (
        "heart-rate-unit",
        {
            **SPO2,
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "valueQuantity": {
                "value": 70,
                "system": "http://unitsofmeasure.org",
                "code": "beats/min",
            },
        },
        lambda d: None,
        Unprocessable,
        "Observation.valueQuantity.code",
    ),
    (
        "profile-claim",
        {
            **SPO2,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]},
            "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/bodytemp"]},
            "valueQuantity": {"value": 36.5, "system": "http://unitsofmeasure.org", "code": "K"},
        },
        lambda d: None,
        Unprocessable,
        "Observation.valueQuantity.code",
    ),
    ("phd-no-gateway", PHD_SPO2, _delete(["extension", 0]), Unprocessable, "Observation.extension"),
    ("phd-no-device", PHD_SPO2, _delete(["device"]), Unprocessable, "Observation.device"),
    (
        "phd-profile-no-category",
        {
            **SPO2,
            "meta": {
                "profile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdNumericObservation"]
            },
        },
        lambda d: None,
        Unprocessable,
        "Observation.category",
    ),
]


@pytest.mark.parametrize(
    ("base", "mutate", "error", "element"),
    [m[1:] for m in MUTATIONS],
    ids=[m[0] for m in MUTATIONS],
)
def test_must_reject_one_defect_mutations(base, mutate, error, element):
    document = clone(base)
    mutate(document)
    with pytest.raises(FhirError) as info:
        validate_resource(document)
    assert type(info.value) is error, info.value.outcome()
    named = [info.value.expression[0], *(expr[0] for _, expr in info.value.more if expr)]
    assert any(element == e or e.startswith(element) for e in named), named


def test_the_unmutated_bases_are_valid():
    for base in (BP, SPO2, PHD_SPO2, TRANSACTION):
        validate_resource(clone(base))


def test_resource_type_must_match_the_expected_type():
    with pytest.raises(BadRequest, match="does not match the URL"):
        validate_resource(clone(SPO2), "Patient")


@pytest.mark.parametrize(
    "body", [[], "text", 3, None, {"no": "type"}, {"resourceType": "Medication"}]
)
def test_non_resources_are_400(body):
    with pytest.raises(BadRequest):
        validate_resource(body)


def test_every_problem_is_reported_not_only_the_first():
    document = clone(SPO2)
    document["valueQuantity"]["value"] = "97"
    document["effectiveDateTime"] = None
    with pytest.raises(BadRequest) as info:
        validate_resource(document)
    outcome = info.value.outcome()
    assert len(outcome["issue"]) == 2

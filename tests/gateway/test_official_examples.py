"""Our Observations agree with the FHIR R4 and PHD IG examples: codes, units, structure.

The examples are in tests/fixtures/fhir/official/ (sources in SOURCES.md).
"""

import json
from pathlib import Path

import pytest

from gateway.mapping.codes import GATEWAY_DEVICE_EXTENSION, UCUM

from . import fixture_cases as fc

OFFICIAL = fc.FIXTURES / "official"


def load(relative: str) -> dict:
    return json.loads((OFFICIAL / relative).read_text(encoding="utf-8"))


def ours(case: str, code: str) -> dict:
    """The first Observation of a fixture case whose code has `code`."""
    for entry in fc.CASES[case].bundle()["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation" and code in {
            c["code"] for c in resource["code"]["coding"]
        }:
            return resource
    raise AssertionError(f"no Observation with code {code} in {case}")


STANDARD = {"http://loinc.org", "urn:iso:std:iso:11073:10101"}


def codings(element: dict) -> set[tuple[str, str]]:
    """LOINC and MDC codings (the spec examples add SNOMED CT and local codes too)."""
    return {(c["system"], c["code"]) for c in element["code"]["coding"] if c["system"] in STANDARD}


def categories(resource: dict) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for cat in resource.get("category", []) for c in cat["coding"]}


def value_shape(resource: dict) -> set[str]:
    return {k for k in resource if k.startswith("value") or k == "component"}


R4_CASES = [
    # (official file, our case, a code our Observation has, allowed units)
    ("r4/Observation-blood-pressure.json", "bp-clock-in-step", "85354-9", {"mm[Hg]"}),
    ("r4/Observation-heart-rate.json", "heart-rate", "8867-4", {"/min"}),
    ("r4/Observation-satO2.json", "spo2-spot-stored-low-perfusion", "2708-6", {"%"}),
    ("r4/Observation-respiratory-rate.json", "sleep-epoch", "9279-1", {"/min"}),
    ("r4/Observation-body-temperature.json", "body-temperature", "8310-5", {"Cel", "[degF]"}),
    ("r4/Observation-example.json", "body-weight-bmi-height", "29463-7", {"kg", "g", "[lb_av]"}),
    ("r4/Observation-body-height.json", "body-weight-bmi-height", "8302-2", {"cm", "[in_i]"}),
    ("r4/Observation-bmi.json", "body-weight-bmi-height", "39156-5", {"kg/m2"}),
]


@pytest.mark.parametrize(("official_file", "case", "code", "units"), R4_CASES)
def test_agrees_with_fhir_r4_vital_sign_example(official_file, case, code, units):
    official, mine = load(official_file), ours(case, code)
    assert codings(official) <= codings(mine), "every coding of the spec example is ours too"
    assert categories(official) <= categories(mine)
    # PHD supplemental components may be added; the value element must be the same.
    assert value_shape(mine) - {"component"} == value_shape(official) - {"component"}
    assert ("component" in official) <= ("component" in mine)
    if "valueQuantity" in official:
        assert official["valueQuantity"]["system"] == mine["valueQuantity"]["system"] == UCUM
        assert mine["valueQuantity"]["code"] in units
        assert official["valueQuantity"]["code"] in units
    assert mine["subject"]["reference"].startswith("Patient/")
    assert "effectiveDateTime" in mine or "effectivePeriod" in mine


def test_blood_pressure_components_agree_with_the_spec_example():
    official, mine = load("r4/Observation-blood-pressure.json"), ours("bp-clock-in-step", "85354-9")
    by_loinc = {
        c["code"]["coding"][0]["code"]: c
        for c in mine["component"]
        if c["code"]["coding"][0]["system"] == "http://loinc.org"
    }
    for component in official["component"]:
        loinc = component["code"]["coding"][0]["code"]
        assert codings(component) <= codings(by_loinc[loinc])
        assert (
            by_loinc[loinc]["valueQuantity"]["code"]
            == component["valueQuantity"]["code"]
            == "mm[Hg]"
        )
        assert by_loinc[loinc]["valueQuantity"]["system"] == component["valueQuantity"]["system"]


def test_agrees_with_phd_blood_pressure_example():
    official = load("phd/Observation-compound-numeric-blood-pressure.json")
    mine = ours("bp-clock-in-step", "150020")
    assert codings(official) <= codings(mine)
    assert ("http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories", "phd") in categories(
        mine
    )
    assert {c for comp in official["component"] for c in codings(comp)} <= {
        c for comp in mine["component"] for c in codings(comp)
    }
    assert "device" in mine and mine["device"]["reference"]
    assert {e["url"] for e in mine["extension"]} >= {
        "http://hl7.org/fhir/uv/phd/StructureDefinition/CoincidentTimeStampReference"
    }


@pytest.mark.parametrize(
    ("official_file", "code"),
    [
        ("phd/Observation-numeric-spo2-alarm.json", "150456"),
        ("phd/Observation-numeric-spotnumeric.json", "149530"),
    ],
)
def test_agrees_with_phd_oximeter_examples(official_file, code):
    official, mine = load(official_file), ours("spo2-spot-stored-low-perfusion", code)
    assert codings(official) <= codings(mine)
    assert mine["valueQuantity"]["code"] == official["valueQuantity"]["code"]
    assert mine["valueQuantity"]["system"] == official["valueQuantity"]["system"]
    official_gateway = [e for e in official["extension"] if e["url"] == GATEWAY_DEVICE_EXTENSION]
    mine_gateway = [e for e in mine["extension"] if e["url"] == GATEWAY_DEVICE_EXTENSION]
    assert official_gateway and mine_gateway
    assert set(official_gateway[0]) == set(mine_gateway[0])  # same shape: url + valueReference
    for component in official.get("component", []):
        mine_component = next(c for c in mine["component"] if codings(c) == codings(component))
        assert (
            mine_component["valueCodeableConcept"]["coding"][0]["code"]
            == (component["valueCodeableConcept"]["coding"][0]["code"])
        )


def test_agrees_with_phd_coincident_time_stamp_example():
    official = load("phd/Observation-coin-20181119174911.json")
    mine = ours("bp-clock-in-step", "67975")
    assert codings(official) <= codings(mine)
    assert {c for comp in official["component"] for c in codings(comp)} <= {
        c for comp in mine["component"] for c in codings(comp)
    }
    assert "T" in mine["valueString"] and "+" not in mine["valueString"]  # device time, no zone
    assert mine["subject"]["reference"] == fc.CUFF.reference  # about the sensor
    assert mine["device"]["reference"] == fc.GATEWAY.reference  # measured by the gateway


def test_every_official_example_has_its_source_noted():
    sources = (OFFICIAL / "SOURCES.md").read_text(encoding="utf-8")
    for path in Path(OFFICIAL).glob("*/*.json"):
        assert (
            path.name.removeprefix("Observation-").removesuffix(".json") in sources
            or path.name in sources
        )

"""Readings to Observations: codes, units, categories, references, identifiers, status."""

import json
import typing
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings

import device_adapters as da
from device_adapters import uuids
from gateway.mapping import (
    MappingContext,
    NotAMeasurement,
    map_reading,
    transaction_bundle,
    upload_entries,
)
from gateway.mapping.bundle import observation_entry
from gateway.mapping.codes import (
    COINCIDENT_TIME_STAMP_EXTENSION,
    GATEWAY_DEVICE_EXTENSION,
    IN_BED_CATEGORY,
    LOINC,
    MDC,
    PHD_CATEGORY,
    PHD_IDENTIFIER_SYSTEM,
    TIME_SOURCE_EXTENSION,
    UCUM,
)
from gateway.mapping.models import validate
from gateway.mapping.observations import _MAPPERS, NOT_MEASUREMENTS

from ..device_adapters import captures
from ..device_adapters import strategies as gen
from . import fixture_cases as fc


def ctx(**changes):
    base = MappingContext(fc.CUFF, fc.GATEWAY, fc.TANAKA, fc.RECEIVED, fc.CLOCK_IN_STEP)
    return replace(base, **changes)


def codes(resource, system):
    return [c["code"] for c in resource["code"]["coding"] if c["system"] == system]


def category_codes(resource):
    return {(c["system"], c["code"]) for cat in resource["category"] for c in cat["coding"]}


def extension(resource, url):
    return [e for e in resource.get("extension", []) if e["url"] == url]


def measurements(resources):
    return [r for r in resources if r["code"]["coding"][0]["code"] != "67975"]


def test_every_reading_type_is_mapped_or_explicitly_not_a_measurement():
    reading_types = set(typing.get_args(da.Reading))
    assert reading_types == set(_MAPPERS) | set(NOT_MEASUREMENTS)
    assert not set(_MAPPERS) & set(NOT_MEASUREMENTS)


@pytest.mark.parametrize(
    ("uuid", "payload"),
    [
        ("2a2b", captures.CURRENT_TIME),
        ("2a52", captures.RACP_SUCCESS),
        ("2a49", b"\x01\x00"),
        ("2a29", b"Example"),
        ("2a36", captures.ICP_TYPICAL),
    ],
)
def test_device_and_procedure_readings_are_not_measurements(uuid, payload):
    with pytest.raises(NotAMeasurement):
        map_reading(da.parse(uuid, payload), ctx())


def test_blood_pressure_panel_carries_all_codings_categories_and_references():
    resources = map_reading(da.parse("2a35", captures.BPM_TYPICAL), ctx())
    cts, panel, pulse = resources
    assert codes(cts, MDC) == ["67975"]
    assert codes(panel, LOINC) == ["85354-9"]
    assert codes(panel, MDC) == ["150020"]
    assert panel["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bp"]
    assert (
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "vital-signs",
    ) in category_codes(panel)
    assert (PHD_CATEGORY, "phd") in category_codes(panel)
    assert (
        "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS",
        "vital-signs",
    ) in category_codes(panel)
    assert panel["subject"] == {"reference": "Patient/tanaka-hanako"}
    assert panel["device"] == {"reference": fc.CUFF.reference}
    assert (
        extension(panel, GATEWAY_DEVICE_EXTENSION)[0]["valueReference"]["reference"]
        == fc.GATEWAY.reference
    )
    cts_url = observation_entry(cts).full_url
    assert (
        extension(panel, COINCIDENT_TIME_STAMP_EXTENSION)[0]["valueReference"]["reference"]
        == cts_url
    )
    assert panel["effectiveDateTime"] == "2024-11-27T10:30:00+09:00"
    systolic, diastolic, mean = panel["component"]
    assert (codes(systolic, LOINC), codes(systolic, MDC)) == (["8480-6"], ["150021"])
    assert (codes(diastolic, LOINC), codes(diastolic, MDC)) == (["8462-4"], ["150022"])
    assert (codes(mean, LOINC), codes(mean, MDC)) == (["8478-0"], ["150023"])
    assert systolic["valueQuantity"] == {
        "value": 122,
        "unit": "mm[Hg]",
        "system": UCUM,
        "code": "mm[Hg]",
    }
    assert "valueQuantity" not in panel  # obs-7: the panel's value is in its components
    assert (codes(pulse, LOINC), codes(pulse, MDC)) == (["8867-4"], ["149546"])
    assert pulse["valueQuantity"]["code"] == "/min"


def test_identifier_uses_the_device_time_stamp_not_the_corrected_time():
    slow = fc.CLOCK_TWO_MINUTES_SLOW
    panel = measurements(map_reading(da.parse("2a35", fc.BPM_IRREGULAR), ctx(clock=slow)))[0]
    assert panel["effectiveDateTime"] == "2024-11-27T10:32:00+09:00"  # corrected by +2 min
    assert extension(panel, TIME_SOURCE_EXTENSION)[0]["valueCode"] == "device-corrected"
    identifier = panel["identifier"][0]
    assert identifier["system"] == PHD_IDENTIFIER_SYSTEM
    seconds = int((datetime(2024, 11, 27, 10, 30) - datetime(2000, 1, 1)).total_seconds())
    assert (
        identifier["value"]
        == f"FEEDABEEDEAD77C3-tanaka-hanako-150020-{seconds}-122/80/96mm[Hg]s4u1"
    )


def test_kpa_reading_is_sent_in_mm_hg_with_the_original_kept():
    panel = measurements(map_reading(da.parse("2a35", captures.BPM_NORDIC_KPA), ctx()))[0]
    systolic = panel["component"][0]["valueQuantity"]
    assert (systolic["value"], systolic["code"]) == (141.8, "mm[Hg]")
    original = systolic["extension"][0]["valueQuantity"]
    assert (original["value"], original["code"]) == (18.9, "kPa")


def test_special_values_become_data_absent_reason_without_a_value():
    panel = measurements(map_reading(da.parse("2a35", captures.BPM_SPECIAL_VALUES), ctx()))[0]
    reasons = [c["dataAbsentReason"]["coding"][0]["code"] for c in panel["component"]]
    assert reasons == ["not-a-number", "error", "positive-infinity"]
    assert all("valueQuantity" not in c for c in panel["component"])


def test_status_bits_become_phd_components():
    status = bytes.fromhex(
        "107a00500060002f00"
    )  # movement, loose cuff, irregular, 01 range, position
    panel = measurements(map_reading(da.parse("2a35", status), ctx()))[0]
    flagged = {c["code"]["coding"][0]["code"]: c["code"]["text"] for c in panel["component"][3:]}
    assert flagged == {
        "8410608.0": "body-movement",
        "8410608.1": "cuff-too-loose",
        "8410608.2": "irregular-pulse",
        "8410608.5": "improper-body-position",
        "8410608.3": "pulse-rate-exceeds-upper-limit",
    }


def test_unset_clock_uses_reception_time_and_says_so():
    received = fc.RECEIVED + timedelta(minutes=1)
    resources = map_reading(
        da.parse("2a35", captures.BPM_NORDIC_FULL), ctx(clock=None, received_at=received)
    )
    for resource in resources:
        assert resource["effectiveDateTime"] == "2024-11-27T10:32:05+09:00"
        assert extension(resource, TIME_SOURCE_EXTENSION)[0]["valueCode"] == "gateway-reception"
        assert not extension(resource, COINCIDENT_TIME_STAMP_EXTENSION)
        assert "-r785986325.250000-" in resource["identifier"][0]["value"]


def test_unassigned_reading_has_the_device_as_subject():
    resources = measurements(map_reading(da.parse("2a35", captures.BPM_TYPICAL), ctx(patient=None)))
    assert {r["subject"]["reference"] for r in resources} == {fc.CUFF.reference}
    assert all("-unassigned-" in r["identifier"][0]["value"] for r in resources)


def test_spo2_has_both_loincs_mdc_and_spot_modality():
    spo2, pulse = measurements(
        map_reading(da.parse("2a5e", captures.PLX_SPOT_FULL), ctx(sensor=fc.OXIMETER))
    )
    assert codes(spo2, LOINC) == ["2708-6", "59408-5"]
    assert codes(spo2, MDC) == ["150456"]
    assert spo2["valueQuantity"]["code"] == "%"
    assert codes(pulse, MDC) == ["149530"]
    modality = spo2["component"][0]
    assert modality["code"]["coding"][0]["code"] == "68193"
    assert modality["valueCodeableConcept"]["coding"][0]["code"] == "150588"
    sensor_flags = [c["code"]["coding"][0]["code"] for c in spo2["component"][1:]]
    assert sensor_flags == ["low-perfusion"]


def test_continuous_spo2_is_marked_continuous():
    spo2 = map_reading(da.parse("2a5f", captures.PLX_CONTINUOUS), ctx(sensor=fc.OXIMETER))[0]
    assert spo2["component"][0]["valueCodeableConcept"]["coding"][0]["code"] == "continuous"
    assert spo2["identifier"][0]["value"].endswith("-continuous")


@pytest.mark.parametrize(
    ("status", "expected_status", "interpretation", "absent"),
    [
        (0x0040, "preliminary", "early-indication", None),  # early estimate
        (0x4000, "final", "questionable", None),
        (0x1000, "final", "calibration-ongoing", None),
        (0x8000, "entered-in-error", None, "error"),  # invalid
        (0x2000, "final", None, "not-performed"),  # unavailable
    ],
)
def test_plx_measurement_status_follows_the_phd_ig_table(
    status, expected_status, interpretation, absent
):
    payload = bytes.fromhex("0261004000") + status.to_bytes(2, "little")
    spo2 = map_reading(da.parse("2a5e", payload), ctx(sensor=fc.OXIMETER, clock=None))[0]
    assert spo2["status"] == expected_status
    found = [i["coding"][0]["code"] for i in spo2.get("interpretation", [])]
    assert found == ([interpretation] if interpretation else [])
    if absent:
        assert spo2["dataAbsentReason"]["coding"][0]["code"] == absent
        assert "valueQuantity" not in spo2
    else:
        assert spo2["valueQuantity"]["value"] == 97


def test_test_data_is_labelled_htest():
    payload = bytes.fromhex("02610040000008")  # "data for testing"
    spo2 = map_reading(da.parse("2a5e", payload), ctx(sensor=fc.OXIMETER, clock=None))[0]
    assert spo2["meta"]["security"][0]["code"] == "HTEST"
    simulated = map_reading(da.parse("2a35", captures.BPM_TYPICAL), ctx(test_data=True))[1]
    assert simulated["meta"]["security"][0]["code"] == "HTEST"


def test_temperature_weight_glucose_heart_rate_and_battery_codes_and_units():
    def first(uuid, payload, sensor):
        return measurements(map_reading(da.parse(uuid, payload), ctx(sensor=sensor, clock=None)))

    (temp,) = first("2a1c", fc.TEMPERATURE_ARMPIT, fc.THERMOMETER)
    assert (codes(temp, LOINC), temp["valueQuantity"]["code"], temp["valueQuantity"]["value"]) == (
        ["8310-5"],
        "Cel",
        36.8,
    )
    weight, bmi, height = first("2a9d", captures.WEIGHT_SI, fc.SCALE)
    assert (codes(weight, LOINC), weight["valueQuantity"]["code"]) == (["29463-7", "3141-9"], "kg")
    assert (codes(bmi, LOINC), bmi["valueQuantity"]["code"]) == (["39156-5"], "kg/m2")
    assert (codes(height, LOINC), height["valueQuantity"]) == (
        ["8302-2"],
        {
            "value": 163.2,
            "unit": "cm",
            "system": UCUM,
            "code": "cm",
            "extension": height["valueQuantity"]["extension"],
        },
    )
    (glucose,) = first("2a18", captures.GLUCOSE_105_MG_DL, fc.GLUCOMETER)
    assert codes(glucose, LOINC) == ["41653-7"]
    assert (glucose["valueQuantity"]["value"], glucose["valueQuantity"]["code"]) == (105, "mg/dL")
    assert "vital-signs" not in {code for _, code in category_codes(glucose)}
    (heart,) = first("2a37", captures.HEART_RATE_FULL, fc.HEART_MONITOR)
    assert (codes(heart, LOINC), heart["valueQuantity"]["value"]) == (["8867-4"], 72)
    (battery,) = first("2a19", b"\x5a", fc.OXIMETER)
    assert codes(battery, MDC) == ["67996"]
    assert battery["subject"]["reference"] == fc.OXIMETER.reference  # a device property


def test_fahrenheit_is_sent_in_celsius():
    payload = bytes.fromhex("01a00300ff")  # 92.8 degF
    (temp,) = measurements(map_reading(da.parse("2a1c", payload), ctx(sensor=fc.THERMOMETER)))
    assert (temp["valueQuantity"]["value"], temp["valueQuantity"]["code"]) == (33.8, "Cel")


def test_sleep_epoch_gives_stage_and_vitals_over_the_epoch():
    resources = measurements(
        map_reading(
            da.parse(uuids.SLEEP_EPOCH_RECORD, captures.SLEEP_EPOCH),
            ctx(sensor=fc.SLEEP_SENSOR, clock=None),
        )
    )
    stage, heart, breathing = resources
    assert stage["code"]["coding"][0]["code"] == "258158006"
    assert stage["valueCodeableConcept"]["coding"][0]["code"] == "deep"
    assert stage["effectivePeriod"] == {
        "start": "2024-11-27T02:30:00+09:00",
        "end": "2024-11-27T02:35:00+09:00",
    }
    assert codes(heart, LOINC) == ["8867-4"]
    assert codes(breathing, LOINC) == ["9279-1"]
    assert breathing["valueQuantity"] == {
        "value": 13.5,
        "unit": "/min",
        "system": UCUM,
        "code": "/min",
    }
    assert "..300-" in stage["identifier"][0]["value"]


def test_sleep_live_vitals_are_timed_by_the_gateway_and_differ_from_daytime_ones():
    live = da.SleepLive(
        in_bed=True,
        stage=da.SleepStage.LIGHT,
        heart_rate=da.Quantity(54.0, da.Unit.PER_MIN),
        respiration_rate=None,
    )
    context = ctx(sensor=fc.SLEEP_SENSOR, clock=None)
    (heart,) = measurements(map_reading(live, context))
    assert codes(heart, LOINC) == ["8867-4"]
    assert heart["valueQuantity"]["value"] == 54
    assert heart["effectiveDateTime"] == "2024-11-27T10:31:05+09:00"  # reception time
    assert extension(heart, TIME_SOURCE_EXTENSION)[0]["valueCode"] == "gateway-reception"
    daytime = da.HeartRateMeasurement(heart_rate=da.Quantity(54.0, da.Unit.PER_MIN))
    (awake,) = measurements(map_reading(daytime, context))
    assert heart["identifier"][0]["value"] != awake["identifier"][0]["value"]
    # The server keeps rates in bed apart from spot pulses by this mark (issue 15).
    assert IN_BED_CATEGORY in heart["category"]
    assert IN_BED_CATEGORY not in awake["category"]


def test_sleep_night_summary():
    *samples, night = fc.CASES["sleep-night"].observations()
    assert [s["code"]["coding"][0]["code"] for s in samples] == ["147842", "151562", "258158006"]
    assert codes(night, LOINC) == ["93832-4"]
    assert night["valueQuantity"]["value"] == 100.0  # 20 asleep epochs of 5 minutes
    assert night["effectivePeriod"] == {
        "start": "2024-11-26T23:00:00+09:00",
        "end": "2024-11-27T01:00:00+09:00",
    }
    stages = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in night["component"]
    }
    assert stages == {"93831-6": 40.0, "93830-8": 40.0, "93829-0": 20.0}


def test_nights_split_on_long_gaps():
    from gateway.mapping import nights_from_epochs

    epochs = [da.parse(uuids.SLEEP_EPOCH_RECORD, p) for p in fc.NIGHT]
    later = [
        replace(
            e,
            device_time=e.device_time + timedelta(days=1),
            sequence_number=e.sequence_number + 100,
        )
        for e in epochs
    ]
    nights = nights_from_epochs(later + epochs)
    assert [n.start for n in nights] == [
        datetime(2024, 11, 26, 23, 0),
        datetime(2024, 11, 27, 23, 0),
    ]


def test_every_produced_resource_validates_with_the_pinned_models():
    for case in fc.CASES.values():
        for entry in case.bundle()["entry"]:
            validate(entry["resource"])


def test_same_reading_gives_same_identifier_and_same_bundle():
    for name, case in fc.CASES.items():
        assert json.dumps(case.bundle(), sort_keys=True) == json.dumps(
            case.bundle(), sort_keys=True
        ), name


def _measured(reading):
    """What a reading says, as numbers: 120 sent at exponent 0 or as 12e1 is the same value."""
    quantities = (reading.systolic, reading.diastolic, reading.mean_arterial_pressure)
    return (
        tuple((q.value, q.unit, q.absent_reason) for q in quantities),
        reading.device_time,
        reading.device_clock_unreliable,
        reading.measurement_status,
        reading.pulse_rate_range,
        reading.user_id,
    )


@settings(max_examples=300, deadline=None)
@given(first=gen.blood_pressure(0x1E), second=gen.blood_pressure(0x1E))
def test_two_different_readings_never_share_an_identifier(first, second):
    context = ctx(clock=None)
    panel_a = map_reading(first, context)[0]["identifier"][0]["value"]
    panel_b = map_reading(second, context)[0]["identifier"][0]["value"]
    assert (panel_a == panel_b) == (_measured(first) == _measured(second))


def test_identifiers_are_unique_across_all_fixtures_but_for_shared_facts():
    from collections import Counter

    counts = Counter(
        e["resource"]["identifier"][0]["value"]
        for case in fc.CASES.values()
        for e in case.bundle()["entry"]
        if e["resource"]["resourceType"] == "Observation"
    )
    shared = {value for value, n in counts.items() if n > 1}
    # Cases built from the same connection share facts on purpose: the same coincident
    # time stamp (in step, unassigned) and the same pulse (in step, drifted-irregular).
    assert shared == {
        "FEEDABEEDEAD77C3-B827EBFFFE4A6C01-67975-r785986200.000000-2024-11-27T10:30:00",
        "FEEDABEEDEAD77C3-tanaka-hanako-149546-786018600-72/min",
    }


def test_upload_entries_are_conditional_creates_with_resolvable_references():
    observations = map_reading(
        da.parse("2a35", captures.BPM_TYPICAL), ctx(patient=fc.BY_IDENTIFIER)
    )
    bundle = transaction_bundle(upload_entries(observations, fc.CUFF, fc.GATEWAY, fc.BY_IDENTIFIER))
    assert bundle["type"] == "transaction"
    urls = {e["fullUrl"] for e in bundle["entry"]}
    kinds = sorted(e["resource"]["resourceType"] for e in bundle["entry"])
    assert kinds == ["Device", "Device", "Observation", "Observation", "Observation", "Patient"]
    for entry in bundle["entry"]:
        assert entry["request"]["method"] == "POST"
        assert entry["request"]["ifNoneExist"].startswith("identifier=")
        for ref in json.dumps(entry["resource"]).split('"reference": "')[1:]:
            target = ref.split('"')[0]
            assert not target.startswith("urn:uuid:") or target in urls
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert (
        patient["request"]["ifNoneExist"] == "identifier=urn:oid:1.2.392.100495.20.3.51.1|00012345"
    )


def test_bundle_refuses_dangling_references():
    observations = map_reading(da.parse("2a35", captures.BPM_TYPICAL), ctx())
    with pytest.raises(ValueError, match="not in the Bundle"):
        transaction_bundle([observation_entry(o) for o in observations])


def test_naive_reception_time_is_refused():
    with pytest.raises(ValueError, match="zone-aware"):
        ctx(received_at=datetime(2024, 11, 27, 1, 0))
    assert ctx().received_at.tzinfo is UTC


def test_sensor_identity_and_device_from_device_information_readings():
    from gateway.mapping import sensor_device
    from gateway.mapping.devices import DeviceKind, SensorIdentity

    readings = [
        da.parse("2a29", b"Example Medical"),
        da.parse("2a24", b"BP-100"),
        da.parse("2a25", b"5140001"),
        da.parse("2a26", b"1.2.0"),
        da.parse("2a23", bytes.fromhex("c377addeeeabedfe")),
    ]
    sensor = SensorIdentity.from_readings("d0:00:00:00:00:02", DeviceKind.BLOOD_PRESSURE, readings)
    assert sensor == fc.CUFF
    device = sensor_device(sensor)
    validate(device)
    assert [i["type"]["coding"][0]["code"] for i in device["identifier"]] == ["SYSID", "BTMAC"]
    assert device["identifier"][0]["value"] == "FE-ED-AB-EE-DE-AD-77-C3"
    assert device["identifier"][1]["value"] == "D0-00-00-00-00-02"
    assert (device["manufacturer"], device["modelNumber"], device["serialNumber"]) == (
        "Example Medical",
        "BP-100",
        "5140001",
    )
    assert device["type"]["coding"][0]["code"] == "528391"
    assert device["version"][0]["value"] == "1.2.0"


def test_identities_reject_malformed_addresses():
    from gateway.mapping.devices import DeviceKind, GatewayIdentity, SensorIdentity

    with pytest.raises(ValueError, match="Bluetooth address"):
        SensorIdentity("D0:00:00", DeviceKind.THERMOMETER)
    with pytest.raises(ValueError, match="EUI-64"):
        SensorIdentity("D0:00:00:00:00:01", DeviceKind.THERMOMETER, system_id="ABCD")
    with pytest.raises(ValueError, match="EUI-64"):
        GatewayIdentity("1234", "0.1.0")


def test_night_summary_brings_its_coincident_time_stamp_into_the_bundle():
    # Found by the kill test: a session that received no epoch (they came in a session
    # killed before its summary) made the summary alone; it referred to a coincident
    # time stamp never queued, and the Bundle was refused for good (422, rejected).
    from gateway.mapping import map_sleep_night, nights_from_epochs

    case = fc.CASES["sleep-night"]
    ctx = replace(case.context(), clock=fc.CLOCK_IN_STEP)
    epochs = [da.parse(uuid, payload) for uuid, payload in case.payloads]
    (night,) = nights_from_epochs([e for e in epochs if isinstance(e, da.SleepEpoch)])
    resources = map_sleep_night(night, ctx)
    assert [r["code"]["coding"][0]["code"] for r in resources] == ["67975", "93832-4"]
    transaction_bundle(upload_entries(resources, case.sensor, fc.GATEWAY, case.patient))

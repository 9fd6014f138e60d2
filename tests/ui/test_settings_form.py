"""The settings form's pure part: reading a submission, showing it again, applying it."""

from __future__ import annotations

from clinician_ui.settings_form import apply, fields_of, read_form, zone_choices
from fhir_api.vital_limits import VITAL_LIMITS_EXTENSION, Spo2Scale, limits_of, with_limits

TZ = "http://hl7.org/fhir/StructureDefinition/tz-code"
ZONES = frozenset({"Asia/Tokyo", "Europe/London"})
PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "extension": [
        {"url": "http://example.org/other", "valueString": "kept"},
        {"url": TZ, "valueCode": "Asia/Tokyo"},
    ],
    "name": [{"text": "山田 太郎"}],
}
SHOWN = {
    "version": "3",
    "zone": "Asia/Tokyo",
    "shown_scale": "standard",
    "target_systolic": "125",
    "target_diastolic": "75",
    "systolic": "135",
    "diastolic": "85",
    "systolic_urgent": "180",
    "diastolic_urgent": "110",
    "pulse_low": "50",
    "pulse_high": "100",
    "spo2_low": "90",
    "spo2_scale": "standard",
}


def test_the_form_as_shown_chooses_nothing():
    submission = read_form(SHOWN, ZONES)
    assert (submission.chosen, submission.errors, submission.zone) == ({}, {}, "Asia/Tokyo")
    assert apply(PATIENT, submission) == PATIENT


def test_full_width_digits_from_a_japanese_ime_are_numbers():
    full_width = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
    typed = {
        "pulse_high": "110".translate(full_width),
        "target_systolic": "130".translate(full_width),
    }
    assert typed["pulse_high"] == "\uff11\uff11\uff10"
    submission = read_form({**SHOWN, **typed}, ZONES)
    assert submission.errors == {}
    assert submission.chosen == {"pulse_high": 110.0, "target_systolic": 130.0}
    updated = apply(PATIENT, submission)
    assert updated["extension"][:2] == PATIENT["extension"]  # others kept, in their place
    assert updated["extension"][2]["url"] == VITAL_LIMITS_EXTENSION
    assert (limits_of(updated).pulse_high, limits_of(updated).target_systolic) == (110, 130)


def test_switching_the_spo2_scale_moves_the_spo2_low_to_its_default():
    submission = read_form({**SHOWN, "spo2_scale": "target-88-92"}, ZONES)
    assert (submission.chosen, submission.scale) == ({}, Spo2Scale.TARGET_88_92)
    assert limits_of(apply(PATIENT, submission)).spo2_low == 88


def test_use_the_default_drops_the_patients_own_value():
    own = with_limits(PATIENT, {"pulse_high": 120}, Spo2Scale.STANDARD)
    rows = {f.name: f for _, fields in fields_of(own) for f in fields}
    assert (rows["pulse_high"].value, rows["pulse_high"].own) == ("120", True)
    assert (rows["pulse_low"].own, rows["pulse_low"].default_text) == (False, "50")
    submission = read_form({**SHOWN, "pulse_high": "120", "reset_pulse_high": "1"}, ZONES)
    assert submission.chosen == {}
    assert apply(own, submission) == PATIENT


def test_refusals_name_their_field_and_keep_the_typing():
    submission = read_form(
        {**SHOWN, "systolic": "abc", "pulse_low": "", "zone_other": "Mars/Olympus"}, ZONES
    )
    assert set(submission.errors) == {"systolic", "zone"}
    assert submission.errors["systolic"].text == "Enter a number."
    rows = {f.name: f for _, fields in fields_of(PATIENT, submission) for f in fields}
    assert rows["systolic"].value == "abc" and rows["systolic"].error is not None
    ordered = read_form({**SHOWN, "systolic": "180"}, ZONES)
    assert [(n, p.message()) for n, p in ordered.errors.items()] == [
        ("systolic", "Must be below the urgent level (180).")
    ]


def test_a_typed_zone_wins_and_the_server_zone_removes_the_tz_code():
    moved = apply(PATIENT, read_form({**SHOWN, "zone_other": " Europe/London "}, ZONES))
    assert moved["extension"][1] == {"url": TZ, "valueCode": "Europe/London"}
    assert zone_choices(moved) == ("Europe/London", list(zone_choices(PATIENT)[1]))
    server = apply(PATIENT, read_form({**SHOWN, "zone": ""}, ZONES))
    assert server["extension"] == PATIENT["extension"][:1]
    assert zone_choices({"resourceType": "Patient"})[0] is None

"""Who the patient is (pure): age in whole years, sex, the clinic's patient number."""

from __future__ import annotations

from datetime import date

from clinician_ui.patient_facts import Facts, age_years, facts_of, patient_number

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
JP_CORE = "urn:oid:1.2.392.100495.20.3.51.11312345678"  # patient ID at institution 1312345678


def test_age_turns_on_the_birthday_not_before() -> None:
    assert age_years(date(1948, 5, 3), date(2026, 5, 2)) == 77
    assert age_years(date(1948, 5, 3), date(2026, 5, 3)) == 78
    assert age_years(date(1948, 2, 29), date(2026, 2, 28)) == 77  # a year older on 1 March
    assert age_years(date(1948, 2, 29), date(2026, 3, 1)) == 78


def test_facts_from_a_patient() -> None:
    patient = {"birthDate": "1948-05-03", "gender": "female", "identifier": []}
    assert facts_of(patient, date(2026, 11, 30)) == Facts(date(1948, 5, 3), 78, "female", None)
    # A year alone gives no age in years, an unknown code no sex, a future birth no age.
    assert facts_of({"birthDate": "1948", "gender": "x"}, date(2026, 1, 1)) == Facts(
        None, None, None, None
    )
    assert facts_of({"birthDate": "2027-01-01"}, date(2026, 1, 1)).age is None


def test_the_patient_number_is_the_mr_then_jp_cores_then_the_first() -> None:
    insurance = {"system": "urn:example:insurance", "value": "INS-99"}
    jp_core = {"system": JP_CORE, "value": "00042"}
    typed = {"type": MR, "system": "urn:example:clinic", "value": "MRN-7"}
    assert patient_number({"identifier": [insurance, jp_core, typed]}) == "MRN-7"
    assert patient_number({"identifier": [insurance, jp_core]}) == "00042"
    assert patient_number({"identifier": [insurance]}) == "INS-99"
    assert patient_number({"identifier": [{"system": "x"}]}) is None
    assert patient_number({}) is None

"""Who the patient is, as a page's header and the printed summary name them (pure).

A doctor with five minutes per patient reads age, sex and the clinic's patient number
before any number (issue 12 review): a name alone is not enough to tell two patients
apart on paper. Ages are whole years on the patient's local date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_api.codes import codings

__all__ = ["SEXES", "Facts", "age_years", "birth_date", "facts_of", "patient_number"]

_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
# JP Core: the patient number a medical institution gives (患者ID) is identified by
# urn:oid:1.2.392.100495.20.3.51.1 followed by the institution's 10-digit code.
_JP_CORE_PATIENT_ID = "urn:oid:1.2.392.100495.20.3.51.1"
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# FHIR administrative gender -> the page's word (a msgid of the catalogs).
SEXES = {"female": "Female", "male": "Male", "other": "Other", "unknown": "Unknown"}


@dataclass(frozen=True, slots=True)
class Facts:
    """Birth date, age in years, sex and the clinic's patient number, each when known."""

    birth: date | None
    age: int | None
    sex: str | None  # a key of SEXES
    number: str | None


def birth_date(patient: Mapping[str, Any]) -> date | None:
    """`Patient.birthDate` when it is a full date (a year alone gives no age in years)."""
    text = patient.get("birthDate")
    if not isinstance(text, str) or not _FULL_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def age_years(birth: date, today: date) -> int:
    """Whole years from `birth` to `today` (born on 29 February: a year older on 1 March)."""
    before_birthday = (today.month, today.day) < (birth.month, birth.day)
    return max(0, today.year - birth.year - before_birthday)


def patient_number(patient: Mapping[str, Any]) -> str | None:
    """The clinic's number for the patient: an identifier typed MR (medical record
    number), else JP Core's patient ID, else the first identifier with a value."""
    identifiers = [
        i for i in patient.get("identifier", ()) if isinstance(i, dict) and i.get("value")
    ]
    for identifier in identifiers:
        if (_V2_0203, "MR") in codings(identifier.get("type")):
            return str(identifier["value"])
    for identifier in identifiers:
        if str(identifier.get("system", "")).startswith(_JP_CORE_PATIENT_ID):
            return str(identifier["value"])
    return str(identifiers[0]["value"]) if identifiers else None


def facts_of(patient: Mapping[str, Any], today: date) -> Facts:
    """The patient's facts, the age on `today` (the patient's local date)."""
    birth = birth_date(patient)
    gender = patient.get("gender")
    return Facts(
        birth=birth,
        age=None if birth is None or birth > today else age_years(birth, today),
        sex=gender if gender in SEXES else None,
        number=patient_number(patient),
    )

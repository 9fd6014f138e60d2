"""The codes of a CodeableConcept, in one place (pure).

Search indexes every coding, `$lastn` groups by each coding, and series pick
the LOINC one: all read codings the same way, skipping codings without a code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["HOMEVITALS_TASK", "LOINC", "VITALS_REVIEW", "codings", "preferred_code"]

LOINC = "http://loinc.org"
# HomeVitals' own CodeSystem of Task codes (the base the gateway's codes use too).
HOMEVITALS_TASK = "http://homevitals.org/fhir/CodeSystem/task"
# A clinician looked at a patient's home vital signs over a period (issue 12): a completed
# Task with this code, `for` the Patient, `owner` the Practitioner, `executionPeriod` the
# period reviewed.
VITALS_REVIEW = "vitals-review"


def codings(concept: Any) -> Iterator[tuple[str, str]]:
    """(system, code) of each coding that has a code; system "" when absent."""
    if isinstance(concept, dict):
        for coding in concept.get("coding", ()):
            if isinstance(coding, dict) and coding.get("code"):
                yield str(coding.get("system", "")), str(coding["code"])


def preferred_code(concept: Any, system: str = LOINC) -> str | None:
    """The code of the first coding in `system`, else of the first coding, else None."""
    found = list(codings(concept))
    for coding_system, code in found:
        if coding_system == system:
            return code
    return found[0][1] if found else None

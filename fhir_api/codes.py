"""The codes of a CodeableConcept, in one place (pure).

Search indexes every coding, `$lastn` groups by each coding, and series pick
the LOINC one: all read codings the same way, skipping codings without a code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["LOINC", "MDC", "codings", "preferred_code"]

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"  # IEEE 11073-10101 nomenclature, codes in decimal


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

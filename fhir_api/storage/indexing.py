"""What a resource contributes to the search index (pure).

Search parameters (FHIR R4 names): Observation `code`, `component-code`,
`category`, `status`, `subject`/`patient`, `device`, `date`, `identifier`;
Patient `identifier`, `name`, `family`, `given`, `birthdate`; Device `identifier`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from ..dates import DateRange, parse_date_range
from ..fhir import GATEWAY_EXTENSIONS

__all__ = [
    "GATEWAY_PARAM",
    "REFERENCE_PARAMS",
    "IndexEntries",
    "index_resource",
    "normalize_string",
]

GATEWAY_PARAM = "gateway-device"
# The indexed references of an Observation: who refers to a Patient or Device.
REFERENCE_PARAMS = ("subject", "device", GATEWAY_PARAM)


@dataclass
class IndexEntries:
    """Rows for the search tables."""

    tokens: list[tuple[str, str, str]] = field(default_factory=list)  # param, system, code
    references: list[tuple[str, str]] = field(default_factory=list)  # param, target
    dates: list[tuple[str, int, int]] = field(default_factory=list)  # param, start, end
    strings: list[tuple[str, str]] = field(default_factory=list)  # param, normalized value
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # system, value


def normalize_string(text: str) -> str:
    """FHIR string search: case- and accent-insensitive (NFKC for full-width kana too)."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()[:512]


def _codings(concept: Any) -> Iterator[tuple[str, str]]:
    if isinstance(concept, dict):
        for coding in concept.get("coding", ()):
            if isinstance(coding, dict) and coding.get("code"):
                yield coding.get("system", ""), str(coding["code"])


def _reference(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return None


def _date(resource: dict[str, Any], zone: tzinfo) -> DateRange | None:
    if "effectiveDateTime" in resource:
        return parse_date_range(resource["effectiveDateTime"], zone)
    if "effectiveInstant" in resource:
        return parse_date_range(resource["effectiveInstant"], zone)
    period = resource.get("effectivePeriod")
    if isinstance(period, dict) and (period.get("start") or period.get("end")):
        start = (
            parse_date_range(period["start"], zone).start_ms if period.get("start") else -(2**62)
        )
        end = parse_date_range(period["end"], zone).end_ms if period.get("end") else 2**62
        return DateRange(start, end)
    return None


def index_resource(resource: dict[str, Any], zone: tzinfo) -> IndexEntries:
    """The index rows of a (validated) resource."""
    entries = IndexEntries()
    for identifier in resource.get("identifier", ()):
        if isinstance(identifier, dict) and identifier.get("value"):
            system = identifier.get("system", "")
            entries.identifiers.append((system, identifier["value"]))
            entries.tokens.append(("identifier", system, identifier["value"]))
    kind = resource["resourceType"]
    if kind == "Observation":
        entries.tokens += [("code", s, c) for s, c in _codings(resource.get("code"))]
        for component in resource.get("component", ()):
            entries.tokens += [("component-code", s, c) for s, c in _codings(component.get("code"))]
        for category in resource.get("category", ()):
            entries.tokens += [("category", s, c) for s, c in _codings(category)]
        entries.tokens.append(("status", "", resource.get("status", "")))
        if subject := _reference(resource.get("subject")):
            entries.references.append(("subject", subject))
        if device := _reference(resource.get("device")):
            entries.references.append(("device", device))
        for extension in resource.get("extension", ()):
            if isinstance(extension, dict) and extension.get("url") in GATEWAY_EXTENSIONS:
                if gateway := _reference(extension.get("valueReference")):
                    # Not a search parameter: what keeps a gateway Device from being deleted.
                    entries.references.append((GATEWAY_PARAM, gateway))
        if (when := _date(resource, zone)) is not None:
            entries.dates.append(("date", when.start_ms, when.end_ms))
    elif kind == "Patient":
        for name in resource.get("name", ()):
            family = name.get("family")
            given = name.get("given", [])
            if family:
                entries.strings.append(("family", normalize_string(family)))
            entries.strings += [("given", normalize_string(g)) for g in given]
            parts = [name.get("text"), family, *given]
            entries.strings += [("name", normalize_string(p)) for p in parts if p]
        if birth := resource.get("birthDate"):
            when = parse_date_range(birth, zone)
            entries.dates.append(("birthdate", when.start_ms, when.end_ms))
    elif kind == "Device":
        for s, c in _codings(resource.get("type")):
            entries.tokens.append(("type", s, c))
    return entries

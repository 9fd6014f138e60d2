"""What a resource contributes to the search index (pure).

Search parameters (FHIR R4 names): Observation `code`, `component-code`,
`category`, `status`, `subject`/`patient`, `device`, `date`, `identifier`;
Patient `identifier`, `name`, `family`, `given`, `birthdate`; Device `identifier`,
`type` (and its `patient` reference, indexed for referential integrity only);
Practitioner `identifier`, `name`, `family`, `given`, `active`; CareTeam
`identifier`, `status`, `category`, `subject`/`patient`, `participant`
(participant.member), `date` (period). A CareTeam's references are what the access
layer follows to tell which patients a staff member's Practitioner may see (issue 11).
Task `identifier`, `status`, `intent`, `code`, `subject`/`patient` (Task.for), `owner`,
`requester`, `authored-on`, `period` (executionPeriod): a completed `vitals-review`
Task is a clinician's review of a patient's readings (issue 12).

The index holds no time zone: a date with an offset is stored as instants, a date
without one (a birthDate, a date-only effectiveDateTime) as its wall-clock range,
marked floating. A search applies the patient's zone when it runs (a Patient's
zone is indexed as the hidden token `_tz`), so a patient who moves, or a new
server default zone, needs no re-indexing, and search and `$stats` agree on days.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from ..codes import codings
from ..dates import parse_date, patient_zone_name, wall_or_instants
from ..fhir import GATEWAY_EXTENSIONS

__all__ = [
    "GATEWAY_PARAM",
    "OPEN_END",
    "REFERENCE_PARAMS",
    "REFERRING",
    "ZONE_PARAM",
    "IndexEntries",
    "index_resource",
    "normalize_string",
]

ZONE_PARAM = "_tz"  # a Patient's tz-code; never a client's search parameter (they start with _)
OPEN_END = 2**62  # an effectivePeriod without start or end reaches this far
_MAX_STRING = 512  # the string index columns' length
GATEWAY_PARAM = "gateway-device"
# The indexed references of an Observation: who refers to a Patient or Device.
REFERENCE_PARAMS = ("subject", "device", GATEWAY_PARAM)
# Every indexed reference that must keep resolving: a Patient, Device or Practitioner is
# not deleted while one of these refers to it (409), or is deleted with them
# (_cascade=delete).
REFERRING: dict[str, tuple[str, ...]] = {
    "Observation": REFERENCE_PARAMS,
    "Device": ("patient",),
    "CareTeam": ("subject", "participant"),
    "Task": ("subject", "owner", "requester"),
}


@dataclass
class IndexEntries:
    """Rows for the search tables."""

    tokens: list[tuple[str, str, str]] = field(default_factory=list)  # param, system, code
    references: list[tuple[str, str]] = field(default_factory=list)  # param, target
    # param, start, end, floating (wall-clock range of a date without offset)
    dates: list[tuple[str, int, int, bool]] = field(default_factory=list)
    # param, normalized value, value as written (for :exact)
    strings: list[tuple[str, str, str]] = field(default_factory=list)
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # system, value


def normalize_string(text: str) -> str:
    """FHIR string search: case- and accent-insensitive (NFKC for full-width kana too)."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()[:_MAX_STRING]


def _strings(param: str, values: Iterator[str] | list[str]) -> list[tuple[str, str, str]]:
    return [(param, normalize_string(v), v[:_MAX_STRING]) for v in values if v]


def _reference(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return None


def _versionless(reference: str | None) -> str | None:
    """`Type/id` of `Type/id/_history/n`: a search or a referential check names no version."""
    return reference.split("/_history/", 1)[0] if reference is not None else None


def _date(resource: dict[str, Any], zone: tzinfo) -> tuple[int, int, bool] | None:
    """(start, end, floating) of an Observation's effective[x]."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        if key in resource:
            span, floating = wall_or_instants(parse_date(resource[key]), zone)
            return span.start_ms, span.end_ms, floating
    return _period(resource.get("effectivePeriod"), zone)


def _period(period: Any, zone: tzinfo) -> tuple[int, int, bool] | None:
    """(start, end, floating) of a Period; an end left out is open (still going)."""
    if isinstance(period, dict) and (period.get("start") or period.get("end")):
        ends = [parse_date(period[k]) if period.get(k) else None for k in ("start", "end")]
        # Floating only when no end names an offset; a mixed period reads its
        # zone-less end in `zone` (the server's), as instants.
        floating = all(e is None or e.offset_ms is None for e in ends)
        spans = [
            None if e is None else wall_or_instants(e, zone, floating=floating)[0] for e in ends
        ]
        start = spans[0].start_ms if spans[0] else -OPEN_END
        end = spans[1].end_ms if spans[1] else OPEN_END
        return start, end, floating
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
        entries.tokens += [("code", s, c) for s, c in codings(resource.get("code"))]
        for component in resource.get("component", ()):
            entries.tokens += [("component-code", s, c) for s, c in codings(component.get("code"))]
        for category in resource.get("category", ()):
            entries.tokens += [("category", s, c) for s, c in codings(category)]
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
            entries.dates.append(("date", *when))
    elif kind == "Patient":
        entries.strings += _names(resource)
        if birth := resource.get("birthDate"):
            span, floating = wall_or_instants(parse_date(birth), zone)
            entries.dates.append(("birthdate", span.start_ms, span.end_ms, floating))
        if (tz := patient_zone_name(resource)) is not None:
            entries.tokens.append((ZONE_PARAM, "", tz))
    elif kind == "Device":
        for s, c in codings(resource.get("type")):
            entries.tokens.append(("type", s, c))
        if owner := _reference(resource.get("patient")):
            # Not a search parameter here: what keeps the Patient from being deleted under it.
            entries.references.append(("patient", owner))
    elif kind == "Practitioner":
        entries.strings += _names(resource)
        if isinstance(resource.get("active"), bool):
            entries.tokens.append(("active", "", "true" if resource["active"] else "false"))
    elif kind == "CareTeam":
        _index_care_team(resource, zone, entries)
    elif kind == "Task":
        _index_task(resource, zone, entries)
    return entries


def _index_task(resource: dict[str, Any], zone: tzinfo, entries: IndexEntries) -> None:
    """A Task's status, intent, code, references and dates.

    `for` is indexed as `subject`, the name FHIR R4 gives its search parameter, so the
    access layer's reach (references to Patients) and the patient's zone for dates
    work for Tasks as for Observations. References are stored without a version.
    """
    for param in ("status", "intent"):
        if isinstance(resource.get(param), str):
            entries.tokens.append((param, "", resource[param]))
    entries.tokens += [("code", s, c) for s, c in codings(resource.get("code"))]
    for param, element in (("subject", "for"), ("owner", "owner"), ("requester", "requester")):
        if target := _versionless(_reference(resource.get(element))):
            entries.references.append((param, target))
    if authored := resource.get("authoredOn"):
        span, floating = wall_or_instants(parse_date(authored), zone)
        entries.dates.append(("authored-on", span.start_ms, span.end_ms, floating))
    if (when := _period(resource.get("executionPeriod"), zone)) is not None:
        entries.dates.append(("period", *when))


def _names(resource: dict[str, Any]) -> list[tuple[str, str, str]]:
    """`family`, `given` and `name` (text, family and given) of a Patient or Practitioner."""
    found: list[tuple[str, str, str]] = []
    for name in resource.get("name", ()):
        family = name.get("family")
        given = name.get("given", [])
        found += _strings("family", [family] if family else [])
        found += _strings("given", given)
        found += _strings("name", [name.get("text"), family, *given])
    return found


def _index_care_team(resource: dict[str, Any], zone: tzinfo, entries: IndexEntries) -> None:
    """A CareTeam's status, categories, subject, members and period.

    Its references are stored without a version, so `participant=Practitioner/x`
    finds a team that names `Practitioner/x/_history/2`, and neither the Patient nor
    the Practitioner is deleted under it.
    """
    if status := resource.get("status"):
        entries.tokens.append(("status", "", status))
    for category in resource.get("category", ()):
        entries.tokens += [("category", s, c) for s, c in codings(category)]
    if subject := _versionless(_reference(resource.get("subject"))):
        entries.references.append(("subject", subject))
    members = {
        member
        for participant in resource.get("participant", ())
        if isinstance(participant, dict)
        if (member := _versionless(_reference(participant.get("member"))))
    }
    entries.references += [("participant", member) for member in sorted(members)]
    if (when := _period(resource.get("period"), zone)) is not None:
        entries.dates.append(("date", *when))

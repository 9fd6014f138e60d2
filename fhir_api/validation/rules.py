"""Base FHIR R4 rules the models do not enforce: required bindings and invariants.

Resource rules (`check_rules`): Observation.status, Bundle.type,
Bundle.entry.request.method, Patient.gender, a Patient's tz-code and vital limits
(limits.py), Device.status, Practitioner.gender, CareTeam.status, Task.status and
Task.intent, Communication.status and priority, and the invariants obs-6, obs-7, bdl-1,
bdl-2, bdl-3, bdl-4 and ctm-1 (R4 numbering); what a HomeVitals review Task (code
`vitals-review`, issue 12) must say: completed, for a Patient, owned by a Practitioner,
over a period with a start and an end; and what a patient's request from home (a
Communication with a `patient-request` category, issue 14) must say: from its Patient,
sent when. Data type
rules (`check_datatype`, applied to every element of that type wherever it occurs):
Quantity.comparator (and the Quantity profiles Age, Duration, ...), sqty-1 where the
position makes a Quantity a SimpleQuantity (`SIMPLE_QUANTITY`), HumanName.use,
Identifier.use, ContactPoint.system/use, Narrative.status, txt-1 and txt-2 on
Narrative.div (narrative.py), and per-1 on Period; and the lengths of values stored
in index columns (Identifier, Coding, Reference), which FHIR leaves
open but the database does not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

import orjson

from ..codes import (
    CALL_ME,
    FINE_TODAY,
    HOMEVITALS_TASK,
    PATIENT_REQUEST,
    VITALS_REVIEW,
    codings,
)
from ..dates import TIMEZONE_EXTENSION, parse_date_range, to_ms
from ..home_settings import settings_problems
from ..sampled_data import last_offset_ms, problems
from .alert_rules import check_alert_rules
from .limits import check_vital_limits
from .narrative import narrative_problem

__all__ = ["DATATYPE_RULES", "SIMPLE_QUANTITY", "check_datatype", "check_references", "check_rules"]

Issue = tuple[str, str]

OBSERVATION_STATUS = {
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
}
BUNDLE_TYPE = {
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
}
HTTP_VERB = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}
COMPARATOR = {"<", "<=", ">=", ">"}
GENDER = {"male", "female", "other", "unknown"}
DEVICE_STATUS = {"active", "inactive", "entered-in-error", "unknown"}
CARE_TEAM_STATUS = {"proposed", "active", "suspended", "inactive", "entered-in-error"}
TASK_STATUS = {
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
}
# Communication.status (R4 event-status) and .priority (request-priority).
EVENT_STATUS = {
    "preparation",
    "in-progress",
    "not-done",
    "on-hold",
    "stopped",
    "completed",
    "entered-in-error",
    "unknown",
}
REQUEST_PRIORITY = {"routine", "urgent", "asap", "stat"}
TASK_INTENT = {
    "unknown",
    "proposal",
    "plan",
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
    "option",
}
NAME_USE = {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"}
IDENTIFIER_USE = {"usual", "official", "temp", "secondary", "old"}
CONTACT_SYSTEM = {"phone", "fax", "email", "pager", "url", "sms", "other"}
CONTACT_USE = {"home", "work", "temp", "old", "mobile"}
NARRATIVE_STATUS = {"generated", "extensions", "additional", "empty"}
# The dates the server indexes and places on calendar days (time zones reach +-14 h).
_CALENDAR_DATES = {
    "Observation": ("effectiveDateTime", "effectiveInstant", "issued"),
    "Patient": ("birthDate",),
    "Task": ("authoredOn", "lastModified"),
    "Communication": ("sent", "received"),
}
_EARLIEST_MS = to_ms(datetime(1, 1, 2, tzinfo=UTC))
_LATEST_MS = to_ms(datetime(9999, 12, 30, tzinfo=UTC))
# Widths of the index columns these values are stored in (storage/schema.py; a test
# compares): identifier and token system/value, reference targets, series code and unit.
INDEXED_LENGTH = 512
REFERENCE_LENGTH = 256
SERIES_CODE_LENGTH = 64
SERIES_UNIT_LENGTH = 32


def _binding(value: Any, allowed: set[str], where: str, issues: list[Issue]) -> None:
    if isinstance(value, str) and value not in allowed:
        issues.append(
            (f"{value!r} is not in the required value set ({', '.join(sorted(allowed))})", where)
        )


def _has_value(element: dict[str, Any]) -> bool:
    return any(key.startswith("value") for key in element)


def _codes(concept: Any) -> set[tuple[str, str]]:
    return set(codings(concept))


def check_rules(resource: dict[str, Any], path: str) -> list[Issue]:
    """Binding and invariant problems of a structurally clean resource."""
    issues: list[Issue] = []
    kind = resource.get("resourceType")
    for key in _CALENDAR_DATES.get(str(kind), ()):
        _on_calendar(resource.get(key), f"{path}.{key}", issues)
    if kind == "Observation":
        period = resource.get("effectivePeriod")
        if isinstance(period, dict):
            for key in ("start", "end"):
                _on_calendar(period.get(key), f"{path}.effectivePeriod.{key}", issues)
        _binding(resource.get("status"), OBSERVATION_STATUS, f"{path}.status", issues)
        if _has_value(resource) and "dataAbsentReason" in resource:
            issues.append(
                (
                    "obs-6: dataAbsentReason only when there is no value[x]",
                    f"{path}.dataAbsentReason",
                )
            )
        own = _codes(resource.get("code"))
        _series_columns(resource, path, issues)
        _samples_in_period(resource, path, issues)
        for index, component in enumerate(resource.get("component", ())):
            where = f"{path}.component[{index}]"
            if _has_value(component) and "dataAbsentReason" in component:
                issues.append(
                    (
                        "obs-6: dataAbsentReason only when there is no value[x]",
                        f"{where}.dataAbsentReason",
                    )
                )
            if _has_value(resource) and own & _codes(component.get("code")):
                issues.append(
                    (
                        "obs-7: the Observation's code is also a component code, "
                        "so it has no value[x]",
                        f"{path}.value[x]",
                    )
                )
    elif kind == "Bundle":
        bundle_type = resource.get("type")
        _binding(bundle_type, BUNDLE_TYPE, f"{path}.type", issues)
        if "total" in resource and bundle_type not in ("searchset", "history"):
            issues.append(("bdl-1: total only when a search or history", f"{path}.total"))
        for index, entry in enumerate(resource.get("entry", ())):
            where = f"{path}.entry[{index}]"
            if "search" in entry and bundle_type != "searchset":
                issues.append(("bdl-2: entry.search only when a search", f"{where}.search"))
            needs_request = bundle_type in ("batch", "transaction", "history")
            if needs_request and "request" not in entry:
                issues.append(
                    (
                        "bdl-3: entry.request mandatory for batch/transaction/history",
                        f"{where}.request",
                    )
                )
            if not needs_request and "request" in entry:
                issues.append(
                    ("bdl-3: entry.request only for batch/transaction/history", f"{where}.request")
                )
            needs_response = bundle_type in ("batch-response", "transaction-response", "history")
            if not needs_response and "response" in entry:
                issues.append(
                    (
                        "bdl-4: entry.response only for batch-response, "
                        "transaction-response and history",
                        f"{where}.response",
                    )
                )
            request = entry.get("request")
            if isinstance(request, dict):
                _binding(request.get("method"), HTTP_VERB, f"{where}.request.method", issues)
    elif kind == "Patient":
        _binding(resource.get("gender"), GENDER, f"{path}.gender", issues)
        _time_zone(resource, path, issues)
        issues += check_vital_limits(resource, path)
        issues += check_alert_rules(resource, path)
        issues += settings_problems(resource, path)
    elif kind == "Device":
        _binding(resource.get("status"), DEVICE_STATUS, f"{path}.status", issues)
    elif kind == "Practitioner":
        _binding(resource.get("gender"), GENDER, f"{path}.gender", issues)
    elif kind == "CareTeam":
        _care_team(resource, path, issues)
    elif kind == "Task":
        _task(resource, path, issues)
    elif kind == "Communication":
        _communication(resource, path, issues)
    return issues


def _communication(message: dict[str, Any], path: str, issues: list[Issue]) -> None:
    """Communication.status and priority, and what a patient's request from home (issue 14,
    category `patient-request`) must say: who asked (subject and sender the same Patient)
    and when (sent), which the patient page and the care team's alert read."""
    _binding(message.get("status"), EVENT_STATUS, f"{path}.status", issues)
    _binding(message.get("priority"), REQUEST_PRIORITY, f"{path}.priority", issues)
    asked = {
        code
        for category in message.get("category", ())
        for system, code in codings(category)
        if system == PATIENT_REQUEST
    }
    if not asked:
        return
    unknown = sorted(asked - {CALL_ME, FINE_TODAY})
    if unknown:
        issues.append(
            (
                f"{unknown[0]!r} is not a patient request here ({CALL_ME}, {FINE_TODAY})",
                f"{path}.category",
            )
        )
    subject = _node_reference(message.get("subject"))
    if _reference_type(message, subject) != "Patient":
        issues.append(("a patient's request names the Patient as subject", f"{path}.subject"))
    elif _node_reference(message.get("sender")) != subject:
        issues.append(("a patient's request is sent by its subject, the Patient", f"{path}.sender"))
    if not isinstance(message.get("sent"), str):
        issues.append(("a patient's request says when it was sent (sent)", path))


def _node_reference(node: Any) -> str | None:
    return node.get("reference") if isinstance(node, dict) else None


def _task(task: dict[str, Any], path: str, issues: list[Issue]) -> None:
    """Task.status and intent, its executionPeriod's dates (indexed for `period`), and a
    review Task's shape: what the patient list and other systems read from it."""
    _binding(task.get("status"), TASK_STATUS, f"{path}.status", issues)
    _binding(task.get("intent"), TASK_INTENT, f"{path}.intent", issues)
    period = task.get("executionPeriod")
    if isinstance(period, dict):
        for key in ("start", "end"):
            _on_calendar(period.get(key), f"{path}.executionPeriod.{key}", issues)
    if (HOMEVITALS_TASK, VITALS_REVIEW) not in _codes(task.get("code")):
        return
    if task.get("status") != "completed":
        issues.append(("a vitals-review Task records a review done: status completed", path))
    for element, kind, who in (
        ("for", "Patient", "the Patient reviewed"),
        ("owner", "Practitioner", "the reviewer, a Practitioner,"),
    ):
        node = task.get(element)
        reference = node.get("reference") if isinstance(node, dict) else None
        named = _reference_type(task, reference)
        if not isinstance(reference, str) or (named is not None and named != kind):
            issues.append((f"a vitals-review Task names {who} in {element}", f"{path}.{element}"))
    if not (isinstance(period, dict) and period.get("start") and period.get("end")):
        issues.append(
            (
                "a vitals-review Task names the period reviewed (executionPeriod start and end)",
                f"{path}.executionPeriod",
            )
        )
    elif not isinstance(task.get("authoredOn"), str):
        issues.append(("a vitals-review Task says when it was done (authoredOn)", path))
    elif _starts_after(period["start"], task["authoredOn"]):
        issues.append(
            (
                "a review covers readings already taken: the period reviewed starts after "
                "authoredOn",
                f"{path}.executionPeriod.start",
            )
        )


def _starts_after(start: Any, moment: str) -> bool:
    """Whether the date `start` begins after the date-time `moment` ends. A date without
    offset is read as UTC, so 14 h of slack (the widest zone offset) keeps a patient's
    local day from being refused near midnight."""
    try:
        return bool(
            parse_date_range(str(start), UTC).start_ms
            >= parse_date_range(moment, UTC).end_ms + 14 * 3_600_000
        )
    except (ValueError, OverflowError):
        return False  # _on_calendar reports it


def _care_team(team: dict[str, Any], path: str, issues: list[Issue]) -> None:
    """CareTeam.status, its period's dates (indexed for `date`), and ctm-1."""
    _binding(team.get("status"), CARE_TEAM_STATUS, f"{path}.status", issues)
    period = team.get("period")
    if isinstance(period, dict):
        for key in ("start", "end"):
            _on_calendar(period.get(key), f"{path}.period.{key}", issues)
    for index, participant in enumerate(team.get("participant", ())):
        if not isinstance(participant, dict) or "onBehalfOf" not in participant:
            continue
        member = participant.get("member")
        reference = member.get("reference") if isinstance(member, dict) else None
        # ctm-1 resolves the member; only a literal or conditional reference tells its type
        # here (a contained one is checked against its resourceType).
        kind = _reference_type(team, reference)
        if kind is not None and kind != "Practitioner":
            issues.append(
                (
                    "ctm-1: onBehalfOf only when the participant's member is a Practitioner",
                    f"{path}.participant[{index}].onBehalfOf",
                )
            )


_TYPED_REFERENCE = re.compile(r"^([A-Z][A-Za-z]{1,63})[/?]")


def _reference_type(resource: dict[str, Any], reference: Any) -> str | None:
    """The resource type a reference names: `Type/id`, `Type?query` or a contained `#id`."""
    if not isinstance(reference, str):
        return None
    if reference.startswith("#"):
        for inner in resource.get("contained", ()):
            if isinstance(inner, dict) and inner.get("id") == reference[1:]:
                kind = inner.get("resourceType")
                return kind if isinstance(kind, str) else None
        return None
    found = _TYPED_REFERENCE.match(reference)  # urn:uuid: ones resolve later, in a transaction
    return found.group(1) if found else None


@cache
def _iana_zones() -> frozenset[str]:
    """The IANA zone names zoneinfo knows, without the system's aliases of no IANA zone."""
    return frozenset(available_timezones() - {"localtime", "Factory", "posixrules"})


def _time_zone(patient: dict[str, Any], path: str, issues: list[Issue]) -> None:
    """At most one tz-code extension, with a valueCode naming an IANA zone.

    The zone decides which calendar day a reading falls on, in searches and `$stats`:
    an unknown one used to be stored, and then every `$stats` for the patient was a
    400 while date searches silently used the server's zone.
    """
    extensions = patient.get("extension")
    found = [
        (index, extension)
        for index, extension in enumerate(extensions if isinstance(extensions, list) else ())
        if isinstance(extension, dict) and extension.get("url") == TIMEZONE_EXTENSION
    ]
    for index, _ in found[1:]:
        issues.append(("a Patient has at most one tz-code extension", f"{path}.extension[{index}]"))
    for index, extension in found[:1]:
        where = f"{path}.extension[{index}]"
        values = [key for key in extension if key.startswith("value")]
        code = extension.get("valueCode")
        if values != ["valueCode"] or not isinstance(code, str):
            issues.append(("tz-code takes a valueCode, an IANA time zone", where))
        elif code not in _iana_zones():
            issues.append((f"tz-code {code!r} is not an IANA time zone (e.g. Asia/Tokyo)", where))


def _on_calendar(value: Any, where: str, issues: list[Issue]) -> None:
    """A date the server indexes and rolls up by day must stay a day away from the ends
    of the calendar: 0001-01-01T00:00+14:00 is year 0 in UTC (issue 10: a 500)."""
    if not isinstance(value, str):
        return
    try:
        found = parse_date_range(value, UTC)
    except (ValueError, OverflowError):  # 9999-12-31T23:59:59-12:00 ends in year 10000
        issues.append((f"{value!r} is not a FHIR date", where))
        return
    if found.start_ms < _EARLIEST_MS or found.end_ms > _LATEST_MS:
        issues.append((f"{value} is outside the years 0001 to 9999 in every time zone", where))


def _series_columns(observation: dict[str, Any], path: str, issues: list[Issue]) -> None:
    """The code and unit of each value go into the series tables' narrower columns."""
    components = observation.get("component", ())
    for index, element in enumerate([observation, *components]):
        where = path if index == 0 else f"{path}.component[{index - 1}]"
        code = element.get("code")
        for n, coding in enumerate(code.get("coding", ()) if isinstance(code, dict) else ()):
            value = coding.get("code") if isinstance(coding, dict) else None
            if isinstance(value, str) and len(value) > SERIES_CODE_LENGTH:
                issues.append(
                    (
                        f"a code of {len(value)} characters; at most {SERIES_CODE_LENGTH}",
                        f"{where}.code.coding[{n}].code",
                    )
                )
        sampled = element.get("valueSampledData")
        for name, quantity in (
            ("valueQuantity", element.get("valueQuantity")),
            (
                "valueSampledData.origin",
                sampled.get("origin") if isinstance(sampled, dict) else None,
            ),
        ):
            if not isinstance(quantity, dict):
                continue
            for key in ("code", "unit"):
                unit = quantity.get(key)
                if isinstance(unit, str) and len(unit) > SERIES_UNIT_LENGTH:
                    issues.append(
                        (
                            f"a unit of {len(unit)} characters; at most {SERIES_UNIT_LENGTH}",
                            f"{where}.{name}.{key}",
                        )
                    )


def _samples_in_period(observation: dict[str, Any], path: str, issues: list[Issue]) -> None:
    """A SampledData's samples lie within the Observation's effectivePeriod: one past its
    end is a wrong period or a wrong count, and would be charted at the wrong time."""
    sampled, period = observation.get("valueSampledData"), observation.get("effectivePeriod")
    if not isinstance(sampled, dict) or not isinstance(period, dict):
        return
    start, end, last = period.get("start"), period.get("end"), last_offset_ms(sampled)
    if not isinstance(start, str) or not isinstance(end, str) or last is None:
        return
    try:
        first_ms, end_ms = parse_date_range(start, UTC).start_ms, parse_date_range(end, UTC).end_ms
    except (ValueError, OverflowError):
        return  # reported by _on_calendar
    if first_ms + last >= end_ms:
        issues.append(
            (
                f"the last sample, {last / 1000:g} s after effectivePeriod.start, is after "
                "effectivePeriod.end: period or data is wrong",
                f"{path}.valueSampledData",
            )
        )


def check_references(resource: dict[str, Any], path: str) -> list[Issue]:
    """ref-1 (a `#id` reference names a contained resource), dom-2 and dom-3 (R4).

    The verdict depends on the whole resource (its `contained` ids), so it is not an
    element rule the element memo could remember. Cheap when there is nothing local:
    one scan of the compact JSON for `"#`.
    """
    contained = resource.get("contained")
    if not contained and b'"reference":"#' not in orjson.dumps(resource):
        return []
    issues: list[Issue] = []
    ids: set[str] = set()
    for index, inner in enumerate(contained or ()):
        where = f"{path}.contained[{index}]"
        if not isinstance(inner, dict):
            continue
        if "contained" in inner:
            issues.append(("dom-2: a contained resource has no contained resources", where))
        if isinstance(inner.get("id"), str):
            ids.add(inner["id"])
        else:
            issues.append(("a contained resource needs an id to be referenced by", f"{where}.id"))
    local: set[str] = set()
    stack: list[tuple[Any, str]] = [(resource, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            reference = node.get("reference")
            if isinstance(reference, str) and reference.startswith("#"):
                local.add(reference[1:])
                if reference != "#" and reference[1:] not in ids:
                    issues.append(
                        (
                            f"ref-1: {reference} names no contained resource of this resource",
                            f"{where}.reference",
                        )
                    )
            stack += [(v, f"{where}.{k}") for k, v in node.items() if isinstance(v, (dict, list))]
        else:
            stack += [
                (v, f"{where}[{i}]") for i, v in enumerate(node) if isinstance(v, (dict, list))
            ]
    for index, inner in enumerate(contained or ()):
        if isinstance(inner, dict) and inner.get("id") in ids - local:
            issues.append(
                (
                    f"dom-3: contained resource #{inner['id']} is not referenced from the resource",
                    f"{path}.contained[{index}]",
                )
            )
    return issues


def _quantity(element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _binding(element.get("comparator"), COMPARATOR, f"{where}.comparator", issues)


def _simple_quantity(element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _quantity(element, where, issues)
    if "comparator" in element:
        issues.append(
            (
                "sqty-1: a SimpleQuantity has no comparator (it is an exact value)",
                f"{where}.comparator",
            )
        )


def _human_name(element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _binding(element.get("use"), NAME_USE, f"{where}.use", issues)


def _identifier(element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _binding(element.get("use"), IDENTIFIER_USE, f"{where}.use", issues)
    _fits(element, ("system", "value"), INDEXED_LENGTH, where, issues)


def _coding(element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _fits(element, ("system", "code"), INDEXED_LENGTH, where, issues)


def _reference(element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _fits(element, ("reference",), REFERENCE_LENGTH, where, issues)


def _fits(
    element: dict[str, Any], keys: tuple[str, ...], limit: int, where: str, issues: list[Issue]
) -> None:
    """Values that go into an index column must fit it (PostgreSQL refuses, SQLite stores)."""
    for key in keys:
        value = element.get(key)
        if isinstance(value, str) and len(value) > limit:
            issues.append(
                (f"{len(value)} characters; at most {limit} are taken here", f"{where}.{key}")
            )


def _contact_point(element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _binding(element.get("system"), CONTACT_SYSTEM, f"{where}.system", issues)
    _binding(element.get("use"), CONTACT_USE, f"{where}.use", issues)


def _narrative(element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    _binding(element.get("status"), NARRATIVE_STATUS, f"{where}.status", issues)
    div = element.get("div")
    if isinstance(div, str):
        problem = narrative_problem(div)
        if problem is not None:
            issues.append((problem, f"{where}.div"))


def _sampled_data(element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    issues.extend((message, f"{where}.{name}") for message, name in problems(element))


def _period(period: dict[str, Any], where: str, issues: list[Issue]) -> None:
    start, end = period.get("start"), period.get("end")
    if not (isinstance(start, str) and isinstance(end, str)):
        return
    try:
        if parse_date_range(start, UTC).start_ms > parse_date_range(end, UTC).end_ms - 1:
            issues.append(("per-1: start must not be after end", where))
    except (ValueError, OverflowError):
        return


# FHIR data type name -> its rules (a profile of a type, like Age of Quantity, gets its base's).
DATATYPE_RULES: dict[str, Callable[[dict[str, Any], str, list[Issue]], None]] = {
    "Quantity": _quantity,
    "SimpleQuantity": _simple_quantity,
    "Coding": _coding,
    "Reference": _reference,
    "Period": _period,
    "SampledData": _sampled_data,
    "HumanName": _human_name,
    "Identifier": _identifier,
    "ContactPoint": _contact_point,
    "Narrative": _narrative,
}


# (model class, element) -> "SimpleQuantity": the places FHIR R4 gives that profile of
# Quantity, in the data types and the resources this server stores (the models type them
# all as Quantity). The data type of an element thus depends on its position.
SIMPLE_QUANTITY: dict[tuple[str, str], str] = {
    (parent, element): "SimpleQuantity"
    for parent, element in (
        ("Range", "low"),
        ("Range", "high"),
        ("SampledData", "origin"),
        ("ObservationReferenceRange", "low"),
        ("ObservationReferenceRange", "high"),
        ("Dosage", "maxDosePerAdministration"),
        ("Dosage", "maxDosePerLifetime"),
        ("DosageDoseAndRate", "doseQuantity"),
    )
}


def check_datatype(datatype: str, element: dict[str, Any], where: str, issues: list[Issue]) -> None:
    """Add the problems of one element of FHIR data type `datatype` to `issues`."""
    rule = DATATYPE_RULES.get(datatype)
    if rule is not None:
        rule(element, where, issues)

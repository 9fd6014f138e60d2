"""The CapabilityStatement and OperationDefinitions: exactly what this server supports.

The software's version is the installed distribution's (`importlib.metadata`), and
its release date is when the running code was made: the commit date of the Git
checkout it runs from, or else the time its distribution was built and installed
(the mtime of the `.dist-info` METADATA file). Neither is a literal to forget.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .alerts.conformance import OPERATION_DEFINITIONS as ALERT_OPERATIONS
from .alerts.conformance import capability_entry as detected_issue_entry
from .fhir import FHIR_VERSION
from .storage.search import SEARCH_PARAMETERS

__all__ = [
    "OPERATION_DEFINITIONS",
    "SoftwareRelease",
    "capability_statement",
    "operation_definition",
    "software_release",
]

_LOGGER = logging.getLogger(__name__)
_DISTRIBUTION = "homevitals"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent

_TYPES = {
    "reference": "reference",
    "token": "token",
    "date": "date",
    "string": "string",
    "id": "token",
}
_DOCUMENTATION = {
    "_id": "the logical id",
    "patient": "the Patient the Observation is about (Patient/id or id)",
    "subject": "the subject reference",
    "date": "effective time, with prefixes (ge, lt, ...); a date alone is a day in the "
    "patient's time zone",
}
# Where a parameter means something else on another type: (type, name) -> text.
_TYPE_DOCUMENTATION = {
    ("Practitioner", "active"): "whether the record is in active use: true or false",
    ("CareTeam", "patient"): "the Patient the team cares for (Patient/id or id)",
    ("CareTeam", "subject"): "the Patient the team cares for (Patient/id)",
    ("CareTeam", "participant"): "a member of the team (Practitioner/id or Patient/id)",
    ("CareTeam", "status"): "proposed, active, suspended, inactive or entered-in-error",
    ("CareTeam", "date"): "the team's period overlaps or matches, with prefixes (ge, lt, "
    "...); a date alone is a day in the patient's time zone",
    ("Task", "patient"): "the Patient the task is for (Patient/id or id)",
    ("Task", "subject"): "what the task is for: Task.for (Patient/id)",
    ("Task", "owner"): "who did the task: Task.owner (Practitioner/id)",
    ("Task", "requester"): "who asked for the task (Practitioner/id)",
    ("Task", "status"): "draft, requested, ..., completed or entered-in-error; a review "
    "of vital signs is completed",
    ("Task", "intent"): "order, plan, proposal, ...",
    ("Task", "code"): "what the task is; a review of home vital signs is "
    "http://homevitals.org/fhir/CodeSystem/task|vitals-review",
    ("Task", "authored-on"): "when the task was written, with prefixes (ge, lt, ...)",
    ("Task", "period"): "the executionPeriod (for a review: the period reviewed) overlaps "
    "or matches, with prefixes (ge, lt, ...); a date alone is a day in the patient's "
    "time zone",
    ("Communication", "patient"): "the Patient the message is about (Patient/id or id)",
    ("Communication", "subject"): "what the message is about (Patient/id)",
    ("Communication", "sender"): "who sent it; a request from home is sent by the Patient",
    ("Communication", "recipient"): "who it is for (CareTeam/id, Practitioner/id, ...)",
    ("Communication", "status"): "preparation, in-progress, ..., completed or entered-in-error",
    ("Communication", "category"): "what kind of message; a patient's request from home is "
    "http://homevitals.org/fhir/CodeSystem/patient-request|call-me (please call me) or "
    "|fine-today (I am fine today)",
    ("Communication", "priority"): "routine, urgent, asap or stat",
    ("Communication", "sent"): "when it was sent, with prefixes (ge, lt, ...); a date alone "
    "is a day in the patient's time zone",
}
# The modifiers search accepts per parameter type; any other is a 400.
_MODIFIERS = {
    "token": "modifiers :not, :missing",
    "string": "modifiers :exact (as written), :contains, :missing",
    "reference": "modifiers :missing, :[type]",
    "date": "modifier :missing",
}
# Result parameters every search type takes, beside its own search parameters.
_RESULT_PARAMETERS: list[dict[str, str]] = [
    {
        "name": "_count",
        "type": "number",
        "documentation": "page size (0 to 1000; the server's default_page_size when absent)",
    },
    {"name": "_summary", "type": "token", "documentation": "count only"},
    {
        "name": "_total",
        "type": "token",
        "documentation": "none, estimate or accurate (counted on the first page and carried "
        "in the next links unless accurate)",
    },
    {
        "name": "_elements",
        "type": "string",
        "documentation": "top-level elements to return; mandatory ones kept, tagged SUBSETTED",
    },
]
_SORT = {
    "name": "_sort",
    "type": "string",
    "documentation": "date or -date (effective time, oldest or newest first)",
}


@dataclass(frozen=True, slots=True)
class SoftwareRelease:
    """The running software: version, and release date (YYYY-MM-DD) when it can be told."""

    version: str
    date: str | None


def _git_commit_date(root: Path) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, our own checkout
            ["git", "-C", str(root), "log", "-1", "--format=%cI"],  # noqa: S607 - git on PATH
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    stamp = done.stdout.strip()
    return stamp[:10] if len(stamp) >= 10 else None


def _installed_date(distribution: importlib.metadata.Distribution) -> str | None:
    files = distribution.files or []
    for file in files:
        if file.name == "METADATA" and file.parent.name.endswith(".dist-info"):
            path = Path(str(distribution.locate_file(file)))
            try:
                return datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
            except OSError:
                return None
    return None


@functools.cache
def software_release() -> SoftwareRelease:
    """The running server's version and release date (computed once per process)."""
    try:
        distribution = importlib.metadata.distribution(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        _LOGGER.warning("homevitals is not installed; its version is unknown")
        return SoftwareRelease("0+unknown", _git_commit_date(_SOURCE_ROOT))
    date = _git_commit_date(_SOURCE_ROOT) or _installed_date(distribution)
    return SoftwareRelease(distribution.version, date)


def _stats_definition(base: str) -> dict[str, Any]:
    def parameter(
        name: str, use: str, low: int, high: str, kind: str | None, text: str
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name, "use": use, "min": low, "max": high}
        if kind is not None:
            entry["type"] = kind
        entry["documentation"] = text
        return entry

    return {
        "resourceType": "OperationDefinition",
        "id": "Observation-stats",
        "url": f"{base}/OperationDefinition/Observation-stats",
        "name": "ObservationDailyStatistics",
        "title": "Per-day statistics of a patient's vital signs",
        "status": "active",
        "kind": "operation",
        "description": "Per calendar day in the patient's time zone: minimum, maximum, mean "
        "and count of each code's values, for charts over months or years.",
        "affectsState": False,
        "code": "stats",
        "resource": ["Observation"],
        "system": False,
        "type": True,
        "instance": False,
        "parameter": [
            parameter("subject", "in", 0, "1", "string", "Patient/id (or patient=)"),
            parameter("patient", "in", 0, "1", "string", "Patient id, as subject"),
            parameter("code", "in", 1, "1", "string", "comma-separated LOINC codes"),
            parameter("start", "in", 1, "1", "date", "first day (inclusive)"),
            parameter("end", "in", 1, "1", "date", "last day (exclusive)"),
            parameter("tz", "in", 0, "1", "code", "IANA time zone; default the patient's"),
            parameter(
                "setting",
                "in",
                0,
                "1",
                "code",
                "spot (default) or in-bed: the heart rate (8867-4) and respiratory rate "
                "(9279-1) measured in bed, i.e. marked with the category "
                "http://homevitals.org/fhir/CodeSystem/measurement-setting|in-bed or over an "
                "epoch (effectivePeriod), are a series of their own, apart from spot readings",
            ),
            parameter(
                "return",
                "out",
                1,
                "1",
                "Parameters",
                "subject, timezone, then one series part per code: code, unit and one "
                "day part (date, min, max, mean, count) per day with readings",
            ),
        ],
    }


def _gateway_settings_definition(base: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationDefinition",
        "id": "Device-gateway-settings",
        "url": f"{base}/OperationDefinition/Device-gateway-settings",
        "name": "GatewaySettings",
        "title": "A home gateway's settings from the clinic",
        "status": "active",
        "kind": "operation",
        "description": "For a gateway token only: the settings its home's patients carry "
        "(Patient extension http://homevitals.org/fhir/StructureDefinition/home-settings), "
        "merged for one home. Answers with an ETag; If-None-Match gives 304 when unchanged.",
        "affectsState": False,
        "code": "gateway-settings",
        "resource": ["Device"],
        "system": False,
        "type": True,
        "instance": False,
        "parameter": [
            {
                "name": "return",
                "use": "out",
                "min": 1,
                "max": "1",
                "type": "Parameters",
                "documentation": "language, speech, volume, quietHours (the home's voice: the "
                "first patient by id who sets each), readValuesFor (patient ids), and one "
                "reminder part (patient, kind, time...) per patient and kind of device, and one "
                "device part (address, kind, patient, slot when one user slot) per device and "
                "slot bound to a patient (the first patient by id who claims it)",
            }
        ],
    }


OPERATION_DEFINITIONS = {
    "Observation-stats": _stats_definition,
    "Device-gateway-settings": _gateway_settings_definition,
}
OPERATION_DEFINITIONS.update(ALERT_OPERATIONS)  # DetectedIssue's $acknowledge and $resolve


def operation_definition(definition_id: str, base: str) -> dict[str, Any] | None:
    """The OperationDefinition this server publishes under `definition_id`, if any."""
    build = OPERATION_DEFINITIONS.get(definition_id)
    return build(base) if build is not None else None


def _search_parameters(resource_type: str, params: dict[str, str]) -> list[dict[str, str]]:
    entries = []
    for name, kind in params.items():
        search_type = _TYPES[kind.split(":")[0]]
        entry = {"name": name, "type": search_type}
        text = _TYPE_DOCUMENTATION.get((resource_type, name), _DOCUMENTATION.get(name, ""))
        notes = [text, _MODIFIERS.get(kind.split(":")[0], "")]
        if name != "_id" and any(notes):
            entry["documentation"] = "; ".join(note for note in notes if note)
        entries.append(entry)
    entries += [dict(p) for p in _RESULT_PARAMETERS]
    if resource_type == "Observation":
        entries.append(dict(_SORT))
    return entries


# AuditEvent: read and search only (fhir_api/audit/query.py), for those allowed to
# read the audit trail; every change is refused with 405.
_AUDIT_PARAMETERS = [
    ("patient", "reference", "events that touched this Patient (Patient/id or id)"),
    ("agent", "token", "who: staff:<username>, gateway:<name>, system:<token name>, anonymous"),
    ("date", "date", "when recorded, with eq, ge, gt, le or lt"),
    ("action", "token", "C, R, U, D or E"),
    ("subtype", "token", "read, search, create, update, delete, transaction, $stats, login, ..."),
    ("outcome", "token", "0 success, 4 refused or failed by the client, 8 server failure"),
]


def _audit_event_resource() -> dict[str, Any]:
    return {
        "type": "AuditEvent",
        "documentation": "The audit trail, newest first; read-only, hash-chained "
        "('homevitals admin audit verify'); readable with a system token.",
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {"name": name, "type": kind, "documentation": text}
            for name, kind, text in _AUDIT_PARAMETERS
        ]
        + [
            {"name": "_count", "type": "number", "documentation": "page size (1 to 1000)"},
        ],
    }


def capability_statement(base: str) -> dict[str, Any]:
    """The server's CapabilityStatement (kind: instance)."""
    release = software_release()
    resources = []
    for resource_type, params in SEARCH_PARAMETERS.items():
        entry: dict[str, Any] = {
            "type": resource_type,
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-supported",
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "interaction": [
                {"code": code}
                for code in (
                    "read",
                    "vread",
                    "update",
                    "delete",
                    "history-instance",
                    "create",
                    "search-type",
                )
            ],
            "searchParam": _search_parameters(resource_type, params),
        }
        if resource_type == "Observation":
            entry["searchInclude"] = ["Observation:device"]
            entry["operation"] = [
                {
                    "name": "lastn",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Observation-lastn",
                    "documentation": "Without a category parameter, Observations marked "
                    "measurement-setting|in-bed (rates measured in bed) are left out; epochs "
                    "stored without the mark still come.",
                },
                {
                    "name": "stats",
                    "definition": f"{base}/OperationDefinition/Observation-stats",
                },
            ]
        if resource_type == "Device":
            entry["operation"] = [
                {
                    "name": "gateway-settings",
                    "definition": f"{base}/OperationDefinition/Device-gateway-settings",
                }
            ]
        resources.append(entry)
    resources.append(_audit_event_resource())
    resources.append(detected_issue_entry(base))
    software: dict[str, Any] = {"name": "HomeVitals FHIR server", "version": release.version}
    if release.date is not None:
        software["releaseDate"] = release.date
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": release.date or datetime.now(UTC).date().isoformat(),
        "publisher": "HomeVitals",
        "kind": "instance",
        "software": software,
        "implementation": {"description": "HomeVitals home telemedicine FHIR server", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "description": "Every request but this CapabilityStatement and the "
                    "OperationDefinitions needs 'Authorization: Bearer <token>'; tokens are "
                    "issued with 'homevitals token create'.",
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
    return statement

"""An `AuditRecord` as a FHIR R4 `AuditEvent`, and back to the columns searches use.

Pure: no database, no clock. `render` never raises: a record comes from a request
handler, and an audit trail that refused an odd record would lose it. Strings are
made storable everywhere (a lone surrogate or a control character from a URL
becomes U+FFFD) and cut to their columns' sizes; an unknown action is recorded
as `E` and an unknown outcome as `8`, each with a note in `outcomeDesc`.

Codes:

- `type`: `rest` (audit-event-type) for FHIR interactions; DICOM `110114` User
  Authentication for login, logout and failed logins.
- `subtype`: the restful-interaction code (`read`, `search-type`, `create`, ...;
  `operation` for `$stats` and `$lastn`), DICOM `110122` Login / `110123` Logout,
  and the HomeVitals code (`SUBTYPES`) wherever the standard code alone does not
  say what happened (`$stats`, `login-failed`, `search`, ...). The record's own
  subtype string is what `subtype=` searches.
- `agent`: the requestor; `who.identifier` holds the agent string
  (`staff:alice`, `gateway:home-12`, `system:ops`, `anonymous`), `who.reference`
  the Practitioner or Device when known; `network` the client's address.
- `entity`: one per patient (type 1 Person, role 1 Patient), one per other
  resource (type 2 System Object, role 4 Domain Resource), the query of a search
  or operation base64 in `entity.query` (role 24 Query), and the record's extra
  context as `entity.detail`.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .record import AuditRecord

__all__ = [
    "AGENT_SYSTEM",
    "OBSERVER",
    "SUBTYPES",
    "Indexed",
    "indexed",
    "instant",
    "render",
    "render_with_fields",
]

OBSERVER = "HomeVitals FHIR server"
AGENT_SYSTEM = "urn:homevitals:audit-agent"
SUBTYPES = "urn:homevitals:audit-subtype"

_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_DICOM = "http://dicom.nema.org/resources/ontology/DCM"
_RESTFUL = "http://hl7.org/fhir/restful-interaction"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"

_ACTIONS = frozenset("CRUDE")
_OUTCOMES = frozenset({"0", "4", "8", "12"})
# Column sizes (fhir_api/storage/schema.py: audit_events, audit_event_patients).
AGENT_MAX = 256
SUBTYPE_MAX = 64
ID_MAX = 64
# Beyond these an event names how many more there were instead (one transaction
# Bundle of 1,000 readings is one event, not a 100 KB row).
MAX_ENTITIES = 100
MAX_PATIENTS = 1_000
_TEXT_MAX = 2_000
_QUERY_MAX = 8_192

_REST = {"system": _EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
_AUTHENTICATION = {"system": _DICOM, "code": "110114", "display": "User Authentication"}
_LOGIN = {"system": _DICOM, "code": "110122", "display": "Login"}
_LOGOUT = {"system": _DICOM, "code": "110123", "display": "Logout"}
# The record's subtype -> the standard coding, and whether our own code goes with it.
_STANDARD: dict[str, tuple[dict[str, str], bool]] = {
    "login": (_LOGIN, True),
    "login-failed": (_LOGIN, True),
    "logout": (_LOGOUT, True),
    "$stats": ({"system": _RESTFUL, "code": "operation"}, True),
    "$lastn": ({"system": _RESTFUL, "code": "operation"}, True),
    "search": ({"system": _RESTFUL, "code": "search-type"}, True),
    **{
        code: ({"system": _RESTFUL, "code": code}, False)
        for code in (
            "read",
            "vread",
            "update",
            "patch",
            "delete",
            "history",
            "history-instance",
            "history-type",
            "history-system",
            "create",
            "search-type",
            "search-system",
            "capabilities",
            "transaction",
            "batch",
            "operation",
        )
    },
}
_AUTHENTICATION_SUBTYPES = frozenset({"login", "login-failed", "logout"})
_PERSON = {"system": _ENTITY_TYPE, "code": "1", "display": "Person"}
_SYSTEM_OBJECT = {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"}
_PATIENT_ROLE = {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"}
_RESOURCE_ROLE = {"system": _OBJECT_ROLE, "code": "4", "display": "Domain Resource"}
_QUERY_ROLE = {"system": _OBJECT_ROLE, "code": "24", "display": "Query"}
_SERVER = {"system": _SOURCE_TYPE, "code": "4", "display": "Application Server"}

_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _clean(text: str, limit: int = _TEXT_MAX) -> str:
    """`text` as any store and JSON encoder takes it, at most `limit` characters."""
    text = text[:limit]
    if text.isascii() and text.isprintable():  # nearly always: nothing to replace
        return text
    if not text.isascii():
        text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return _UNSTORABLE.sub("\ufffd", text)


def instant(recorded_ms: int) -> str:
    """Epoch milliseconds as a FHIR instant, `2026-11-30T09:14:43.123Z`."""
    moment = _EPOCH + recorded_ms * _MS
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=1024)
def _network_type(address: str) -> str:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return "1"  # machine name
    return "2"  # IP address


def _subtypes(subtype: str) -> list[dict[str, str]]:
    standard = _STANDARD.get(subtype)
    if standard is None:
        return [{"system": SUBTYPES, "code": subtype}]
    coding, ours = standard
    return [dict(coding), {"system": SUBTYPES, "code": subtype}] if ours else [dict(coding)]


def _unique(values: tuple[str, ...], limit: int) -> list[str]:
    return list(dict.fromkeys(_clean(value, limit) for value in values if value))


def render(record: AuditRecord, observer: str = OBSERVER) -> dict[str, Any]:
    """The AuditEvent (without an id: the store gives it its sequence number)."""
    return render_with_fields(record, observer)[0]


def render_with_fields(
    record: AuditRecord, observer: str = OBSERVER
) -> tuple[dict[str, Any], Indexed]:
    """The AuditEvent and its search columns, from the same cleaned values.

    What `indexed` reads back from the document, without parsing it again (tested
    to agree, and `verify` checks every stored row).
    """
    notes = []
    action = record.action
    if action not in _ACTIONS:
        notes.append(f"unknown action {_clean(action, 16)!r} recorded as E")
        action = "E"
    outcome = record.outcome
    if outcome not in _OUTCOMES:
        notes.append(f"unknown outcome {_clean(outcome, 16)!r} recorded as 8")
        outcome = "8"
    subtype = _clean(record.subtype, SUBTYPE_MAX) or "unknown"
    agent_name = _clean(record.agent, AGENT_MAX) or "anonymous"
    who: dict[str, Any] = {"identifier": {"system": AGENT_SYSTEM, "value": agent_name}}
    if record.agent_reference:
        who["reference"] = _clean(record.agent_reference, 256)
    agent: dict[str, Any] = {"who": who, "requestor": True}
    if record.address:
        address = _clean(record.address, 256)
        agent["network"] = {"address": address, "type": _network_type(address)}
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": _AUTHENTICATION if subtype in _AUTHENTICATION_SUBTYPES else _REST,
        "subtype": _subtypes(subtype),
        "action": action,
        "recorded": instant(record.recorded_ms),
        "outcome": outcome,
    }
    if record.detail:
        notes.insert(0, _clean(record.detail))
    if notes:
        event["outcomeDesc"] = "; ".join(notes)
    event["agent"] = [agent]
    event["source"] = {"observer": {"display": _clean(observer, 256)}, "type": [_SERVER]}
    patients = _unique(record.patients, ID_MAX)
    entities = _entities(record, patients)
    if entities:
        event["entity"] = entities
    fields = Indexed(
        recorded_ms=record.recorded_ms,
        agent=agent_name,
        action=action,
        subtype=subtype,
        outcome=outcome,
        patients=tuple(sorted(patients[:MAX_PATIENTS])),
    )
    return event, fields


def _entities(record: AuditRecord, patients: list[str]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    for patient in patients[:MAX_PATIENTS]:
        entities.append(
            {"what": {"reference": f"Patient/{patient}"}, "type": _PERSON, "role": _PATIENT_ROLE}
        )
    others = _unique(record.entities, 256)
    for reference in others[:MAX_ENTITIES]:
        entities.append(
            {"what": {"reference": reference}, "type": _SYSTEM_OBJECT, "role": _RESOURCE_ROLE}
        )
    if record.query:
        query = _clean(record.query, _QUERY_MAX).encode("utf-8")
        entities.append(
            {
                "type": _SYSTEM_OBJECT,
                "role": _QUERY_ROLE,
                "query": base64.b64encode(query).decode("ascii"),
            }
        )
    details = [
        {"type": _clean(key, 64), "valueString": _clean(value)}
        for key, value in sorted(record.extra.items())
        if key and value
    ]
    if len(patients) > MAX_PATIENTS:
        details.append(
            {"type": "patients-omitted", "valueString": str(len(patients) - MAX_PATIENTS)}
        )
    if len(others) > MAX_ENTITIES:
        details.append({"type": "entities-omitted", "valueString": str(len(others) - MAX_ENTITIES)})
    if details:
        entities.append({"name": "context", "type": _SYSTEM_OBJECT, "detail": details})
    return entities


@dataclass(frozen=True, slots=True)
class Indexed:
    """What an AuditEvent says in the columns searches use."""

    recorded_ms: int
    agent: str
    action: str
    subtype: str
    outcome: str
    patients: tuple[str, ...]  # sorted, unique

    def columns(self) -> tuple[object, ...]:
        """As one comparable tuple (verify compares it with the stored columns)."""
        return (
            self.recorded_ms,
            self.agent,
            self.action,
            self.subtype,
            self.outcome,
            self.patients,
        )


def _subtype_of(codings: Any) -> str:
    for coding in codings:
        if coding.get("system") == SUBTYPES:
            return str(coding["code"])
    for coding in codings:
        if coding.get("system") == _RESTFUL:
            return str(coding["code"])
    raise ValueError("no subtype")


def indexed(document: Any) -> Indexed | None:
    """The searchable fields of a stored AuditEvent; None if it is not one of ours."""
    try:
        recorded = datetime.fromisoformat(document["recorded"])
        agent = next(a for a in document["agent"] if a.get("requestor"))
        patients = sorted(
            {
                entity["what"]["reference"].removeprefix("Patient/")
                for entity in document.get("entity", ())
                if entity.get("role", {}).get("code") == "1"
                and entity.get("role", {}).get("system") == _OBJECT_ROLE
            }
        )
        return Indexed(
            recorded_ms=(recorded - _EPOCH) // _MS,
            agent=str(agent["who"]["identifier"]["value"]),
            action=str(document["action"]),
            subtype=_subtype_of(document["subtype"]),
            outcome=str(document["outcome"]),
            patients=tuple(patients),
        )
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration):
        return None

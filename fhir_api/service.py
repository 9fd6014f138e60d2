"""FHIR interactions (create, read, update, delete, history, search, Bundles, operations).

HTTP-free: routes parse the request and call these; this module decides what a
FHIR server does and raises `FhirError`s, and the store does the SQL.
De-duplication relies on the identifiers table's primary key: a conditional
create first looks for a match, and if a concurrent request commits the same
identifier first, the unique violation rolls the transaction back and it is
retried, now finding the match. Every well-known FHIR server has had that race.

References hold (issue 10): an Observation's subject, device and gateway Device
must name a live resource the server holds (urn:uuid and conditional references
resolve within a transaction), as must a Device's patient and a CareTeam's subject and
members; a Patient, Device or Practitioner others refer to is only deleted with
`_cascade=delete`, which deletes the referrers with it. A batch's
entries succeed or fail on their own; a transaction is all or nothing.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, tzinfo
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError, OperationalError

from .access.compartment import claim, owners, visibility_clause, visible_ids
from .access.policy import patient_ids, referenced_devices
from .access.principal import Access, system_access
from .access.scopes import Interaction
from .alerts.queue import record_requests, record_work
from .codes import LOINC
from .dates import parse_date_range
from .errors import (
    BadRequest,
    Conflict,
    FhirError,
    Forbidden,
    Gone,
    NotFound,
    PreconditionFailed,
    UnresolvedReference,
    operation_outcome,
)
from .fhir import GATEWAY_EXTENSIONS
from .roles import TokenKind
from .search_values import EscapeError, split_alternatives, split_token
from .storage.ids import new_id
from .storage.overview import (
    newest_in_series,
    newest_per_patient,
    newest_reviews,
    patient_zones,
    reading_days,
    visible_resources,
)
from .storage.resources import ConcurrentUpdate, ResourceStore, Stored, Tx
from .storage.search import (
    Cursor,
    SearchError,
    SearchQuery,
    SearchResult,
    history_page,
    lastn,
    parse_search,
    run_search,
    subset,
)
from .storage.series.base import DayStatistics, daily_statistics
from .storage.series.in_bed import IN_BED, IN_BED_CODES, SETTING_SYSTEM, loinc_of, series_code
from .storage.series.sql import SqlSeriesStore
from .storage.series.units import CHARTED
from .validation import SUPPORTED, Issue, validate_resource

__all__ = ["FhirService", "WriteResult", "warnings_outcome"]

_METHOD_NEEDS = {
    "POST": Interaction.CREATE,
    "PUT": Interaction.UPDATE,
    "DELETE": Interaction.DELETE,
}

_LOGGER = logging.getLogger(__name__)
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_ENTRY_INDEX = re.compile(r"^Bundle\.entry\[(\d+)\]")
_RETRIES = 8
_VERSION = re.compile(r"^[0-9]{1,9}$")  # version ids are INTEGER columns: 2**31 - 1 at most
_MAX_LASTN = 1000  # newest readings per code; a chart of more wants $stats
_REFERRERS_NAMED = 5  # a 409 names a few of the resources that refer to the target
_MAX_STATS_CODES = 20  # a chart shows a handful of series; more is a mistake or abuse
_STATS_PARAMETERS = frozenset(
    {"subject", "patient", "code", "start", "end", "tz", "setting", "_format"}
)
# A patient's time zone is read once per second at most per worker: it saves a read on
# every `$stats` of a chart, and a changed tz-code reaches every worker within a second
# (the same promise as the token and reach caches).
_ZONE_CACHE_SECONDS = 1.0
T = TypeVar("T")
RESOURCE_TYPES = SUPPORTED - {"Bundle"}
TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/tz-code"


class _LostRace(Exception):
    """A concurrent transaction committed what this one was about to create: start over."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A stored version, whether the interaction created it, and validation warnings."""

    stored: Stored
    created: bool
    warnings: tuple[Issue, ...] = ()

    def outcome(self) -> dict[str, Any]:
        """An OperationOutcome of the warnings (one informational issue when none)."""
        if not self.warnings:
            text = "created" if self.created else "stored"
            return operation_outcome([("information", "informational", text, ())])
        return warnings_outcome(self.warnings)


def warnings_outcome(warnings: Sequence[Issue]) -> dict[str, Any]:
    """An OperationOutcome of validation warnings."""
    return operation_outcome(
        [("warning", "informational", text, [where]) for text, where in warnings]
    )


def parse_conditional(query: str) -> tuple[str | None, str]:
    """The identifier of an `If-None-Exist` / `ifNoneExist` query.

    Raises:
        BadRequest: for anything but one `identifier=[system|]value`.
    """
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "identifier" or not pairs[0][1]:
        raise BadRequest(f"conditional create supports one identifier=system|value, not {query!r}")
    try:
        return split_token(pairs[0][1])
    except EscapeError as exc:
        raise BadRequest(f"conditional create: {exc}") from None


def _stats_codes(text: str) -> list[str]:
    """The LOINC codes of a `$stats` `code` parameter (`[system|]code`, comma-separated).

    Raises:
        BadRequest: for no codes, too many, or a code `$stats` never has a series for
            (a code of another system, or not a Quantity code in `CHARTED`): an empty
            answer would read as "no readings" (issue 10).
    """
    try:
        tokens = [token for token in split_alternatives(text) if token]
    except EscapeError as exc:
        raise BadRequest(f"$stats code: {exc}", expression=["code"]) from None
    if not tokens or len(tokens) > _MAX_STATS_CODES:
        raise BadRequest(f"$stats takes 1 to {_MAX_STATS_CODES} codes")
    codes: list[str] = []
    refused: list[str] = []
    for token in tokens:
        system, code = split_token(token)
        if system not in (None, LOINC) or code not in CHARTED:
            refused.append(token)
        elif code not in codes:
            codes.append(code)
    if refused:
        raise BadRequest(
            f"$stats has no series for {', '.join(refused)}: it aggregates the LOINC "
            f"codes of numeric vital signs, {', '.join(sorted(CHARTED))}",
            expression=["code"],
        )
    return codes


def _stats_in_bed(text: str | None) -> bool:
    """Whether a `$stats` `setting` asks for the rates measured in bed (default: spot).

    Raises:
        BadRequest: for a setting other than `spot` or `in-bed`.
    """
    if text is None or text == "spot":
        return False
    if text == IN_BED:
        return True
    raise BadRequest(
        f"$stats setting={text!r}: spot (the default) or {IN_BED}", expression=["setting"]
    )


def _stats_bound(text: str, zone: tzinfo) -> int:
    """The instant a `$stats` start or end date begins at.

    `parse_date_range` also computes where the date's range ends, and after the
    last second of year 9999 there is no Python datetime (issue 10: 500s). The
    start of a date is the start of the same date written to the millisecond,
    whose range ends a millisecond later: that one is parsed instead.

    Raises:
        BadRequest: when `text` is not a FHIR date.
    """
    try:
        return parse_date_range(text, zone).start_ms
    except (ValueError, OverflowError) as exc:
        try:
            return parse_date_range(_to_the_millisecond(text), zone).start_ms
        except (ValueError, OverflowError):
            raise BadRequest(f"$stats start and end must be FHIR dates: {exc}") from None


def _to_the_millisecond(text: str) -> str:
    """A FHIR date written out to the millisecond (`9999` -> `9999-01-01T00:00:00.0`)."""
    day, has_time, rest = text.partition("T")
    if not has_time:
        pieces = day.split("-")
        return "-".join(pieces + ["01"] * (3 - len(pieces))) + "T00:00:00.0"
    zone_at = max(rest.find("Z"), rest.find("+"), rest.find("-"))
    clock, zone = (rest[:zone_at], rest[zone_at:]) if zone_at >= 0 else (rest, "")
    if clock.count(":") == 1:
        clock += ":00"
    if "." not in clock:
        clock += ".0"
    return f"{day}T{clock}{zone}"


def _references(node: Any) -> list[dict[str, Any]]:
    """Every object with a string `reference` in a resource (plain recursion: hot on ingest)."""
    found: list[dict[str, Any]] = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("reference"), str):
                found.append(value)
            for child in value.values():
                if isinstance(child, (dict, list)):
                    visit(child)
        else:
            for child in value:
                if isinstance(child, (dict, list)):
                    visit(child)

    if isinstance(node, (dict, list)):
        visit(node)
    return found


_TARGET = re.compile(r"^([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/[0-9]{1,18})?$")


def _checked_references(resource: dict[str, Any], path: str) -> list[tuple[dict[str, Any], str]]:
    """The references that must resolve, with their place: an Observation's subject, device
    and gateway Device (the references charts, alerts and access rights follow), a
    Device's patient (who the device's readings belong to), and a CareTeam's subject and
    members.

    Raises:
        BadRequest: a Device.patient that names another resource type than Patient, or a
            CareTeam subject or member of a type it cannot be here.
    """
    if resource.get("resourceType") == "Device":
        node = resource.get("patient")
        if not (isinstance(node, dict) and isinstance(node.get("reference"), str)):
            return []
        reference, where = node["reference"], f"{path}.patient.reference"
        if not reference.startswith(("#", "Patient/", "Patient?")):
            raise BadRequest(
                f"Device.patient refers to a Patient, not {reference!r}", expression=[where]
            )
        return [(node, where)]
    if resource.get("resourceType") == "CareTeam":
        return _care_team_references(resource, path)
    if resource.get("resourceType") == "Task":
        return _task_references(resource, path)
    if resource.get("resourceType") == "Communication":
        return _communication_references(resource, path)
    if resource.get("resourceType") != "Observation":
        return []
    found: list[tuple[dict[str, Any], str]] = []
    for key in ("subject", "device"):
        node = resource.get(key)
        if isinstance(node, dict) and isinstance(node.get("reference"), str):
            found.append((node, f"{path}.{key}.reference"))
    for index, extension in enumerate(resource.get("extension", ())):
        if isinstance(extension, dict) and extension.get("url") in GATEWAY_EXTENSIONS:
            node = extension.get("valueReference")
            if isinstance(node, dict) and isinstance(node.get("reference"), str):
                found.append((node, f"{path}.extension[{index}].valueReference.reference"))
    for node, where in found:
        if "/_history/" in node["reference"]:
            # Indexed as written, `Patient/x/_history/1` would be another patient than
            # `Patient/x` to search, deletion checks and access rights (issue 11).
            raise BadRequest(
                f"reference {node['reference']!r}: an Observation names its subject, device "
                "and gateway without a version",
                expression=[where],
            )
    return found


# What a CareTeam's subject and members may name here: the R4 types this server holds
# (Group, RelatedPerson, Organization, ... it does not; a team in a team it refuses, so
# the patients a Practitioner may see are one look-up away, issue 11).
_CARE_TEAM_TARGETS = {"subject": ("Patient",), "member": ("Practitioner", "Patient")}


def _care_team_references(team: dict[str, Any], path: str) -> list[tuple[dict[str, Any], str]]:
    """A CareTeam's subject and participant members: who the team is for and who is in it,
    the references the access layer follows (issue 11).

    Raises:
        BadRequest: a subject or member of a type this server does not hold for it, or
            ctm-1 broken by a member a transaction's urn:uuid named (validation could
            not tell its type).
    """
    nodes: list[tuple[str, Any, str]] = [("subject", team.get("subject"), f"{path}.subject")]
    for index, participant in enumerate(team.get("participant", ())):
        if isinstance(participant, dict):
            where = f"{path}.participant[{index}]"
            member = participant.get("member")
            nodes.append(("member", member, f"{where}.member"))
            reference = member.get("reference") if isinstance(member, dict) else None
            if "onBehalfOf" in participant and str(reference).startswith("Patient"):
                raise BadRequest(
                    "ctm-1: onBehalfOf only when the participant's member is a Practitioner",
                    expression=[f"{where}.onBehalfOf"],
                )
    found: list[tuple[dict[str, Any], str]] = []
    for element, node, where in nodes:
        if not (isinstance(node, dict) and isinstance(node.get("reference"), str)):
            continue
        reference, allowed = node["reference"], _CARE_TEAM_TARGETS[element]
        if not reference.startswith(("#", "urn:uuid:")) and not reference.startswith(
            tuple(f"{kind}{sep}" for kind in allowed for sep in "/?")
        ):
            raise BadRequest(
                f"CareTeam.{'participant.' if element == 'member' else ''}{element} refers to "
                f"{' or '.join(allowed)} here, not {reference!r}",
                expression=[f"{where}.reference"],
            )
        found.append((node, f"{where}.reference"))
    return found


# What a Task's references may name here (issue 12): it is for a Patient, done by and
# asked for by Practitioners; the types this server holds for them.
_TASK_TARGETS = {"for": ("Patient",), "owner": ("Practitioner",), "requester": ("Practitioner",)}


def _task_references(task: dict[str, Any], path: str) -> list[tuple[dict[str, Any], str]]:
    """A Task's `for`, `owner` and `requester`: whose record it is (the access layer
    follows `for`) and who did it, both shown to clinicians, so both must resolve.

    Raises:
        BadRequest: a reference to a type this server does not hold for that element.
    """
    found: list[tuple[dict[str, Any], str]] = []
    for element, allowed in _TASK_TARGETS.items():
        node = task.get(element)
        if not (isinstance(node, dict) and isinstance(node.get("reference"), str)):
            continue
        reference, where = node["reference"], f"{path}.{element}.reference"
        if not reference.startswith(("#", "urn:uuid:")) and not reference.startswith(
            tuple(f"{kind}{sep}" for kind in allowed for sep in "/?")
        ):
            raise BadRequest(
                f"Task.{element} refers to {' or '.join(allowed)} here, not {reference!r}",
                expression=[where],
            )
        found.append((node, where))
    return found


# What a Communication's references may name here (issue 14): the R4 targets this server
# holds. Its Patients are what the access layer follows, so all of them must resolve.
_COMMUNICATION_TARGETS = {
    "subject": ("Patient",),
    "sender": ("Patient", "Practitioner", "Device"),
    "recipient": ("Patient", "Practitioner", "CareTeam", "Device"),
}


def _communication_references(
    message: dict[str, Any], path: str
) -> list[tuple[dict[str, Any], str]]:
    """A Communication's subject, sender and recipients: whose record it is and between whom.

    Raises:
        BadRequest: a reference to a type this server does not hold for that element.
    """
    nodes = [
        ("subject", message.get("subject"), f"{path}.subject"),
        ("sender", message.get("sender"), f"{path}.sender"),
    ]
    nodes += [
        ("recipient", node, f"{path}.recipient[{index}]")
        for index, node in enumerate(message.get("recipient", ()))
    ]
    found: list[tuple[dict[str, Any], str]] = []
    for element, node, where in nodes:
        if not (isinstance(node, dict) and isinstance(node.get("reference"), str)):
            continue
        reference, allowed = node["reference"], _COMMUNICATION_TARGETS[element]
        if not reference.startswith(("#", "urn:uuid:")) and not reference.startswith(
            tuple(f"{kind}{sep}" for kind in allowed for sep in "/?")
        ):
            raise BadRequest(
                f"Communication.{element} refers to {' or '.join(allowed)} here, not {reference!r}",
                expression=[f"{where}.reference"],
            )
        found.append((node, f"{where}.reference"))
    return found


def _target(reference: str, where: str) -> str:
    """`Type/id` of a literal reference to a resource on this server.

    Raises:
        BadRequest: an absolute URL or anything else the server cannot hold.
    """
    match = _TARGET.match(reference)
    if match is None:
        raise BadRequest(
            f"reference {reference!r} does not name a resource on this server "
            "(use [type]/[id], or urn:uuid: and conditional references in a transaction)",
            expression=[where],
        )
    return f"{match.group(1)}/{match.group(2)}"


class FhirService:
    """The server's FHIR behaviour over a `ResourceStore`."""

    def __init__(
        self,
        store: ResourceStore,
        *,
        default_page_size: int = 50,
        after_write: Callable[[], None] | None = None,
        after_alert_work: Callable[[], None] | None = None,
    ) -> None:
        """`after_alert_work` turns alerts on: each write of Observations queues their
        evaluation (alert_work) in its own transaction, and this is called after the commit
        (it wakes this process's alert worker)."""
        self.store = store
        self._zones: dict[str, tuple[float, tzinfo]] = {}
        self.default_page_size = default_page_size
        self._after_write = after_write
        self._after_alert_work = after_alert_work

    # --- plumbing ---------------------------------------------------------------------------

    def _write(self, work: Callable[[Tx], T], access: Access | None = None) -> T:
        """Run `work` in a transaction, retrying when a concurrent writer won a race.

        The request's AuditEvent (`access.write_audit`) is written in the same
        transaction: a committed write is never missing from the audit trail. So is the
        alerts' work for the Observations written (issue 13) and for the patients'
        "please call me" Communications (issue 14): a crash after the commit leaves them
        queued for evaluation, and a failed write queues nothing.
        """
        queued = 0
        for attempt in range(_RETRIES):
            try:
                with self.store.transaction() as tx:
                    result = work(tx)
                    if self._after_alert_work is not None:
                        queued = record_work(
                            tx.connection, tx.observations_written, self.store.now_ms()
                        ) + record_requests(
                            tx.connection, tx.communications_written, self.store.now_ms()
                        )
                    if access is not None and access.write_audit is not None:
                        access.write_audit(tx.connection)
                    pending = tx.series_pending
                if access is not None and access.write_audit is not None:
                    access.audited = True
                break
            except (IntegrityError, _LostRace, ConcurrentUpdate):
                if attempt == _RETRIES - 1:
                    raise Conflict("the resource was changed concurrently; try again") from None
                _LOGGER.debug("unique constraint race, retrying (attempt %s)", attempt + 1)
            except OperationalError as exc:
                # SQLite "database is locked" under heavy contention; a PostgreSQL deadlock
                # between two transactions' row or advisory locks (one of them is rolled back).
                transient = "locked" in str(exc) or "deadlock detected" in str(exc)
                if not transient or attempt == _RETRIES - 1:
                    raise
        if pending and self._after_write is not None:
            self._after_write()
        if queued and self._after_alert_work is not None:
            self._after_alert_work()
        return result

    @staticmethod
    def _check_type(resource_type: str) -> None:
        if resource_type not in RESOURCE_TYPES:
            raise NotFound(f"resource type {resource_type!r} is not supported")

    @staticmethod
    def _check_id(resource_id: str) -> None:
        if not _ID.match(resource_id):
            raise BadRequest(f"{resource_id!r} is not a FHIR id")

    # --- access -----------------------------------------------------------------------

    @staticmethod
    def _hidden(tx: Tx, access: Access, resource_type: str, resource_id: str) -> bool:
        """True when the live resource is outside what `access` may see (it answers 404)."""
        if access.sees_all(resource_type):
            return False
        return resource_id not in visible_ids(tx.connection, access, resource_type, [resource_id])

    @staticmethod
    def _check_write(
        tx: Tx,
        access: Access,
        resource_type: str,
        content: dict[str, Any],
        new_devices: set[str],
        where: str,
        known_owners: dict[str, str | None] | None = None,
    ) -> None:
        """Refuse a resource naming a patient, or (for a gateway) a Device, the caller may not
        write for, as if that patient or Device did not exist (issue 11: 404-like, never a
        hint that it does). A gateway's own Devices are those it created, `new_devices`
        those this transaction creates; `known_owners` keeps the owners a transaction
        has looked up (its entries name the same few Devices)."""
        if access.sees_all(resource_type):
            return
        if resource_type == "Task":
            _refuse_foreign_owner(access, content, where)
        outside = sorted(patient_ids(resource_type, content) - (access.patients or frozenset()))
        if outside:
            raise UnresolvedReference(
                f"reference Patient/{outside[0]} points at a resource this server does not hold",
                expression=[where],
            )
        if access.principal.kind is TokenKind.GATEWAY:
            devices = sorted(referenced_devices(resource_type, content) - new_devices)
            cache = known_owners if known_owners is not None else {}
            unknown = [d for d in devices if d not in cache]
            if unknown:
                found = owners(tx.connection, "Device", unknown)
                cache.update({d: found.get(d) for d in unknown})
            foreign = [d for d in devices if cache[d] != access.principal.gateway]
            if foreign:
                raise UnresolvedReference(
                    f"reference Device/{foreign[0]} points at a resource this server does not "
                    "hold for this gateway",
                    expression=[where],
                )

    @staticmethod
    def _require_create_after_no_match(
        access: Access, resource_type: str, entry: int | None
    ) -> None:
        """A conditional create that matched nothing needs the create scope.

        A gateway naming its patient by identifier (`Patient?identifier=…`) may not
        create Patients: the clinic registers them. Until it has, that is the same
        answer as for a reference to a Patient the server does not hold (400,
        not-found), which a gateway retries later rather than dropping the reading.
        """
        if access.principal.scopes.allows(resource_type, Interaction.CREATE):
            return
        if access.principal.kind is TokenKind.GATEWAY:
            where = f"Bundle.entry[{entry}].resource" if entry is not None else resource_type
            raise UnresolvedReference(
                f"no {resource_type} matches this conditional create, and a gateway does "
                f"not create {resource_type}s: register it on the server first",
                expression=[where],
            )
        access.require(resource_type, Interaction.CREATE)

    @staticmethod
    def _claim(tx: Tx, access: Access, created: Sequence[tuple[str, str]]) -> None:
        """A gateway's new Devices and call-button presses (Communications) become its own:
        what its token may see (a retried press's conditional create finds the first)."""
        if access.principal.kind is TokenKind.GATEWAY and access.principal.gateway:
            owned = [(t, i) for t, i in created if t in ("Device", "Communication")]
            claim(tx.connection, owned, access.principal.gateway)

    # --- references -------------------------------------------------------------------

    def _resolve_references(
        self,
        tx: Tx,
        resource: dict[str, Any],
        path: str,
        pending: dict[str, str] | None = None,
    ) -> list[tuple[str, str]]:
        """Rewrite conditional references to `Type/id`; the (target, place) to verify.

        `pending` maps `Type|system|value` of identifiers this transaction creates to
        their `Type/id`: a conditional reference finds those before the stored ones.
        """
        targets: list[tuple[str, str]] = []
        for node, where in _checked_references(resource, path):
            reference = node["reference"]
            if reference.startswith("#"):
                continue  # a contained resource: ref-1 has checked it is there
            if "?" in reference:
                resource_type, query = reference.split("?", 1)
                self._check_type(resource_type)
                system, value = parse_conditional(query)
                found = (pending or {}).get(f"{resource_type}|{system or ''}|{value}")
                if found is None and system is None and pending:
                    found = next(
                        (
                            t
                            for key, t in pending.items()
                            if key.startswith(f"{resource_type}|") and key.endswith(f"|{value}")
                        ),
                        None,
                    )
                if found is None:
                    ids = tx.match_identifier(resource_type, system, value)
                    if len(ids) > 1:
                        raise PreconditionFailed(
                            f"{len(ids)} resources match the conditional reference {reference}",
                            expression=[where],
                        )
                    if not ids:
                        raise BadRequest(
                            f"no {resource_type} matches the conditional reference {reference}",
                            expression=[where],
                        )
                    found = f"{resource_type}/{ids[0]}"
                node["reference"] = found
                continue
            targets.append((_target(reference, where), where))
        return targets

    @staticmethod
    def _verify_targets(tx: Tx, targets: Sequence[tuple[str, str]], known: set[str]) -> None:
        """400 naming the first reference whose target the server does not hold (live)."""
        by_type: dict[str, set[str]] = {}
        for target, _ in targets:
            if target not in known:
                resource_type, resource_id = target.split("/")
                by_type.setdefault(resource_type, set()).add(resource_id)
        live = {
            f"{resource_type}/{rid}"
            for resource_type, ids in by_type.items()
            if resource_type in RESOURCE_TYPES
            for rid in tx.current_versions(resource_type, sorted(ids))
        }
        for target, where in targets:
            if target not in known and target not in live:
                raise UnresolvedReference(
                    f"reference {target} points at a resource this server does not hold; "
                    "create it first (or in the same transaction)",
                    expression=[where],
                )

    @staticmethod
    def _refuse_if_referred(tx: Tx, resource_type: str, resource_id: str) -> None:
        """409 when live Observations, Devices or CareTeams still refer to this Patient,
        Device or Practitioner."""
        if resource_type not in ("Patient", "Device", "Practitioner"):
            return
        target = f"{resource_type}/{resource_id}"
        referrers = tx.referrers(target, limit=_REFERRERS_NAMED + 1)
        if referrers:
            named = ", ".join(f"{t}/{i}" for t, i in referrers[:_REFERRERS_NAMED])
            more = " and more" if len(referrers) > _REFERRERS_NAMED else ""
            raise Conflict(
                f"{target} is referred to by {named}{more}; delete those first, "
                "or delete with _cascade=delete to delete them with it",
                expression=[resource_type],
            )

    # --- instance interactions ----------------------------------------------------------

    def create(
        self,
        resource_type: str,
        raw: Any,
        if_none_exist: str | None = None,
        *,
        access: Access | None = None,
    ) -> WriteResult:
        """POST [type]: create, or return the match of a conditional create."""
        self._check_type(resource_type)
        access = access or system_access()
        condition = parse_conditional(if_none_exist) if if_none_exist else None
        if condition is None:
            access.require(resource_type, Interaction.CREATE)
        warnings = tuple(validate_resource(raw, resource_type))

        def work(tx: Tx) -> WriteResult:
            if condition is not None:
                existing = self._match(tx, resource_type, condition)
                if existing is not None:
                    if self._hidden(tx, access, resource_type, existing.id):
                        raise Conflict(
                            f"the identifier of this {resource_type} is already taken "
                            "by a resource this token may not see",
                            expression=[f"{resource_type}.identifier"],
                        )
                    access.note_resource(resource_type, existing.content)
                    return WriteResult(existing, False)
                # A conditional create that matches nothing creates: only now is it one.
                self._require_create_after_no_match(access, resource_type, None)
            content = copy.deepcopy(raw)
            content.pop("id", None)
            targets = self._resolve_references(tx, content, resource_type)
            self._verify_targets(tx, targets, set())
            self._check_write(tx, access, resource_type, content, set(), resource_type)
            if condition is not None and tx.identifier_owner(resource_type, content) is not None:
                raise _LostRace  # a concurrent create of the same resource committed meanwhile
            self._check_identifiers(tx, resource_type, content, None)
            stored = tx.create(resource_type, content)
            self._claim(tx, access, [(resource_type, stored.id)])
            access.note_resource(resource_type, stored.content)
            return WriteResult(stored, True)

        return replace(self._write(work, access), warnings=warnings)

    @staticmethod
    def _check_identifiers(
        tx: Tx, resource_type: str, content: dict[str, Any], resource_id: str | None
    ) -> None:
        """409 when an identifier already belongs to another resource (they are unique here)."""
        taken = tx.identifier_owner(resource_type, content, resource_id)
        if taken is not None:
            system, value, owner = taken
            raise Conflict(
                f"identifier {system}|{value} already identifies {resource_type}/{owner}; "
                "use a conditional create (If-None-Exist) to upload idempotently",
                expression=[f"{resource_type}.identifier"],
            )

    def _match(
        self, tx: Tx, resource_type: str, condition: tuple[str | None, str]
    ) -> Stored | None:
        ids = tx.match_identifier(resource_type, *condition)
        if len(ids) > 1:
            raise PreconditionFailed(f"{len(ids)} {resource_type} resources match the condition")
        if not ids:
            return None
        stored = tx.read(resource_type, ids[0])
        return stored

    def read(self, resource_type: str, resource_id: str, *, access: Access | None = None) -> Stored:
        """GET [type]/[id]."""
        self._check_type(resource_type)
        self._check_id(resource_id)
        access = access or system_access()
        access.require(resource_type, Interaction.READ)
        with self.store.reading() as tx:
            stored = tx.read(resource_type, resource_id)
            self._refuse_hidden(tx, access, resource_type, resource_id, stored)
        if stored is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if stored.deleted:
            raise Gone(f"{resource_type}/{resource_id} was deleted")
        access.note_resource(resource_type, stored.content)
        return stored

    def _refuse_hidden(
        self,
        tx: Tx,
        access: Access,
        resource_type: str,
        resource_id: str,
        current: Stored | None,
    ) -> None:
        """404, as if unknown, when `current` is outside the caller's reach (a deleted one
        too: its search rows, which decide the reach, went with it)."""
        if current is None or access.sees_all(resource_type):
            return
        if current.deleted or self._hidden(tx, access, resource_type, resource_id):
            raise NotFound(f"{resource_type}/{resource_id} is not known")

    def vread(
        self, resource_type: str, resource_id: str, version: str, *, access: Access | None = None
    ) -> Stored:
        """GET [type]/[id]/_history/[vid] (visible when the current version is)."""
        self._check_type(resource_type)
        self._check_id(resource_id)
        access = access or system_access()
        access.require(resource_type, Interaction.READ)
        if not _VERSION.match(version):
            raise NotFound(f"version {version!r} is not known")
        with self.store.reading() as tx:
            if not access.sees_all(resource_type):
                current = tx.read(resource_type, resource_id)
                if current is None:
                    raise NotFound(f"{resource_type}/{resource_id} is not known")
                self._refuse_hidden(tx, access, resource_type, resource_id, current)
            stored = tx.vread(resource_type, resource_id, int(version))
        if stored is None:
            raise NotFound(f"{resource_type}/{resource_id}/_history/{version} is not known")
        if stored.deleted:
            raise Gone(f"{resource_type}/{resource_id} version {version} is a deletion")
        access.note_resource(resource_type, stored.content)
        return stored

    def update(
        self,
        resource_type: str,
        resource_id: str,
        raw: Any,
        if_match: str | None = None,
        *,
        access: Access | None = None,
    ) -> WriteResult:
        """PUT [type]/[id], with optimistic locking through If-Match."""
        self._check_type(resource_type)
        self._check_id(resource_id)
        access = access or system_access()
        access.require(resource_type, Interaction.UPDATE)
        warnings = tuple(validate_resource(raw, resource_type))
        if raw.get("id") != resource_id:
            raise BadRequest(
                f"the body's id {raw.get('id')!r} must equal the URL's {resource_id!r}",
                expression=[f"{resource_type}.id"],
            )
        wanted = _etag_version(if_match) if if_match else None

        def work(tx: Tx) -> WriteResult:
            current = tx.read(resource_type, resource_id)
            self._refuse_hidden(tx, access, resource_type, resource_id, current)
            if current is None:
                access.require(resource_type, Interaction.CREATE)
            if wanted is not None and (current is None or current.version_id != wanted):
                have = "none" if current is None else current.version_id
                raise PreconditionFailed(
                    f"If-Match wants version {wanted}, the current version is {have}"
                )
            content = copy.deepcopy(raw)
            targets = self._resolve_references(tx, content, resource_type)
            self._verify_targets(tx, targets, set())
            self._check_write(tx, access, resource_type, content, set(), resource_type)
            self._check_identifiers(tx, resource_type, content, resource_id)
            stored = tx.update(resource_type, resource_id, content, current)
            if current is None:
                self._claim(tx, access, [(resource_type, resource_id)])
            else:
                access.note_resource(resource_type, current.content)
            access.note_resource(resource_type, stored.content)
            return WriteResult(stored, current is None)

        result = self._write(work, access)
        self._forget_zone(resource_type, resource_id)  # a new tz-code counts at once
        return replace(result, warnings=warnings)

    def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        cascade: bool = False,
        access: Access | None = None,
    ) -> None:
        """DELETE [type]/[id] (idempotent).

        A Patient, Device or Practitioner that live Observations (subject, device,
        gateway), Devices (patient) or CareTeams (subject, member) refer to is not
        deleted (409) unless `cascade`: then those are deleted
        with it, and what refers to them, in the same transaction (`_cascade=delete`, as
        HAPI FHIR spells it). Only a system token cascades (it deletes what the caller may
        not see). Callers that see part of the data get 404 for an unknown resource, as
        for one outside their reach; a system token's delete of an unknown one is a no-op.
        """
        self._check_type(resource_type)
        self._check_id(resource_id)
        access = access or system_access()
        access.require(resource_type, Interaction.DELETE)
        if cascade and not access.unrestricted:
            raise Forbidden("_cascade=delete takes a system token")

        def work(tx: Tx) -> None:
            current = tx.read(resource_type, resource_id)
            if not access.sees_all(resource_type) and (current is None or current.deleted):
                raise NotFound(f"{resource_type}/{resource_id} is not known")
            self._refuse_hidden(tx, access, resource_type, resource_id, current)
            if current is None or current.deleted:
                return
            access.note_resource(resource_type, current.content)
            if cascade:
                self._delete_referrers(tx, f"{resource_type}/{resource_id}")
            else:
                self._refuse_if_referred(tx, resource_type, resource_id)
            tx.delete(resource_type, current)

        self._write(work, access)
        self._forget_zone(resource_type, resource_id)  # $stats: 404 from now on

    def _forget_zone(self, resource_type: str, resource_id: str) -> None:
        """Drop a Patient's cached `$stats` zone after it changed (updated or deleted).

        The cache saves a read per `$stats`; this worker sees a changed tz-code at once
        (issue 12: settings take effect at once), other workers within the cache's
        second.
        """
        self._zones.pop(f"{resource_type}/{resource_id}", None)

    @staticmethod
    def _delete_referrers(tx: Tx, target: str) -> None:
        """Delete what refers to `target`, and what refers to those (`_cascade=delete`).

        A Patient's Device goes with the Patient, and the Observations that name that
        Device as theirs go with the Device: no reference is left dangling.
        """
        pending, seen = [target], {target}
        while pending:
            for referrer_type, referrer_id in tx.referrers(pending.pop()):
                name = f"{referrer_type}/{referrer_id}"
                if name in seen:
                    continue
                seen.add(name)
                referrer = tx.read(referrer_type, referrer_id)
                if referrer is not None and not referrer.deleted:
                    tx.delete(referrer_type, referrer)
                    pending.append(name)

    def history(
        self,
        resource_type: str,
        resource_id: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        access: Access | None = None,
    ) -> tuple[list[Stored], int, Cursor | None, int]:
        """GET [type]/[id]/_history: (a page of versions newest first, total, next page, count).

        Paged like a search (`_count`, and `_cursor` from the next link): a resource
        corrected every day for years has thousands of versions.
        """
        self._check_type(resource_type)
        self._check_id(resource_id)
        access = access or system_access()
        access.require(resource_type, Interaction.READ)
        try:
            unknown = [name for name, _ in params if name not in ("_count", "_cursor")]
            if unknown:
                raise SearchError(f"_history takes _count and _cursor, not {unknown[0]!r}")
            query = parse_search("Observation", params, default_count=self.default_page_size)
        except SearchError as exc:
            raise BadRequest(str(exc)) from None
        with self.store.reading() as tx:
            if not access.sees_all(resource_type):
                current = tx.read(resource_type, resource_id)
                if current is None:
                    raise NotFound(f"{resource_type}/{resource_id} is not known")
                self._refuse_hidden(tx, access, resource_type, resource_id, current)
            versions, total, following = history_page(
                tx, resource_type, resource_id, query.count, query.cursor
            )
        if not total:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        for version in versions:
            access.note_resource(resource_type, version.content)
        return versions, total, following, query.count

    # --- search and operations ------------------------------------------------------------

    def search(
        self,
        resource_type: str,
        params: Sequence[tuple[str, str]],
        *,
        access: Access | None = None,
    ) -> tuple[SearchResult, SearchQuery]:
        """GET [type]?...: the result and the parsed query (for the Bundle's links).

        The caller's reach is one more clause of the query, so matches, `total` and
        the pages count only what the caller may see; `_include`d Devices are filtered
        the same way.
        """
        self._check_type(resource_type)
        access = access or system_access()
        access.require(resource_type, Interaction.SEARCH)
        try:
            query = parse_search(resource_type, params, default_count=self.default_page_size)
        except SearchError as exc:
            raise BadRequest(str(exc)) from None
        if (clause := visibility_clause(access, resource_type)) is not None:
            query.clauses.append(clause)
        with self.store.reading() as tx:
            result = run_search(tx, query, self.store.zone)
            if result.included and not access.sees_all("Device"):
                allowed = (
                    visible_ids(tx.connection, access, "Device", [d.id for d in result.included])
                    if access.principal.scopes.allows("Device", Interaction.READ)
                    else set()
                )
                result.included = [d for d in result.included if d.id in allowed]
        for match in (*result.matches, *result.included):
            access.note_resource(match.resource_type, match.content)
        if query.elements is not None:
            wanted = query.elements
            result.matches = [replace(m, content=subset(m.content, wanted)) for m in result.matches]
        return result, query

    def lastn(
        self, params: Sequence[tuple[str, str]], *, access: Access | None = None
    ) -> list[Stored]:
        """Observation/$lastn: the newest `max` Observations per code for a patient.

        Without a `category` parameter, Observations marked as measured in bed
        (`storage/series/in_bed.py`) are left out, as `$stats` leaves them out by default.
        """
        access = access or system_access()
        access.require("Observation", Interaction.SEARCH)
        max_per_code = 1
        rest = []
        codes: list[tuple[str | None, str]] = []
        for name, value in params:
            if name == "max":
                if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= _MAX_LASTN:
                    raise BadRequest(f"max={value!r} must be a whole number from 1 to {_MAX_LASTN}")
                max_per_code = int(value)
                continue
            if name == "code" and value:
                try:
                    codes += [split_token(item) for item in split_alternatives(value)]
                except EscapeError as exc:
                    raise BadRequest(f"code: {exc}") from None
            rest.append((name, value))
        if not any(name.split(":")[0] in ("patient", "subject") for name, _ in rest):
            raise BadRequest("$lastn needs patient or subject")
        if not any(name.split(":")[0] == "category" for name, _ in rest):
            # The newest pulse is a spot reading, not last night's epoch: rates the sender
            # marks as measured in bed come only when a category is asked for (issue 15).
            rest.append(("category:not", f"{SETTING_SYSTEM}|{IN_BED}"))
        try:
            query = parse_search("Observation", rest)
            if (
                query.sort
                or query.cursor
                or query.offset
                or query.summary_count
                or query.include_devices
                or query.elements is not None
            ):
                raise SearchError("$lastn takes search parameters and max, not paging or shaping")
        except SearchError as exc:
            raise BadRequest(str(exc)) from None
        if (clause := visibility_clause(access, "Observation")) is not None:
            query.clauses.append(clause)
        with self.store.reading() as tx:
            found = lastn(tx, query, self.store.zone, max_per_code, codes)
        for match in found:
            access.note_resource("Observation", match.content)
        return found

    def stats(
        self, params: Sequence[tuple[str, str]], *, access: Access | None = None
    ) -> tuple[str, str, list[DayStatistics]]:
        """Observation/$stats: per-day min, max, mean and count in the patient's time zone.

        Parameters: `subject` or `patient` (Patient/id), `code` (comma-separated LOINC codes,
        `system|code` allowed), `start` and `end` (dates; end exclusive), optional `tz`,
        optional `setting`: `spot` (the default) or `in-bed`, the heart and breathing rates
        measured in bed (`storage/series/in_bed.py`); other codes have spot readings only.
        """
        values: dict[str, str] = {}
        for name, value in params:
            if name not in _STATS_PARAMETERS:
                raise BadRequest(f"unknown $stats parameter {name!r}")
            if name in values:
                # The last one used to win silently: a chart of another patient than asked.
                raise BadRequest(f"$stats takes {name} once", expression=[name])
            values[name] = value
        if "subject" in values and "patient" in values:
            raise BadRequest("$stats takes subject or patient, not both")
        subject = values.get("subject") or values.get("patient")
        if not subject or "code" not in values or "start" not in values or "end" not in values:
            raise BadRequest("$stats needs subject (or patient), code, start and end")
        if "/" not in subject:
            subject = f"Patient/{subject}"
        access = access or system_access()
        access.require("Observation", Interaction.SEARCH)
        self._refuse_hidden_subject(access, subject)
        codes = _stats_codes(values["code"])
        in_bed = _stats_in_bed(values.get("setting"))
        if in_bed and (others := [code for code in codes if code not in IN_BED_CODES]):
            raise BadRequest(
                f"$stats setting={IN_BED} has series for {', '.join(sorted(IN_BED_CODES))} "
                f"only, not {', '.join(others)}",
                expression=["setting"],
            )
        zone = self._zone_for(subject, values.get("tz"))
        start = _stats_bound(values["start"], zone)
        end = _stats_bound(values["end"], zone)
        if end <= start:
            raise BadRequest("end must be after start")
        keys = [series_code(code, in_bed) for code in codes]
        days = daily_statistics(self.store.series, subject, keys, start, end, zone)
        if in_bed:  # the answer names the LOINC code, as asked
            days = [day._replace(code=loinc_of(day.code)) for day in days]
        return subject, str(getattr(zone, "key", zone)), days

    def newest_readings(
        self,
        patients: Sequence[str],
        codes: Sequence[str],
        *,
        since_ms: int | None = None,
        access: Access | None = None,
    ) -> list[Stored]:
        """The Observations holding the newest value of each LOINC code for each of several
        patients at once (the patient list: `$lastn` max=1 for many patients in one query).

        `codes` are value codes (8480-6 finds the blood-pressure panel by its systolic
        component). With the SQL series backend this is one index seek per patient and
        code; otherwise the search index is ranked (`since_ms` bounds it). Patients
        outside the caller's reach are left out, as a search leaves them out.
        """
        access = self._overview_access(access)
        wanted = self._in_reach(access, patients)
        visibility = visibility_clause(access, "Observation")
        with self.store.reading() as tx:
            if isinstance(self.store.series, SqlSeriesStore):
                found = newest_in_series(tx, wanted, codes, visibility, patients_in_reach=True)
            else:
                found = newest_per_patient(
                    tx, wanted, codes, since_ms=since_ms, visibility=visibility
                )
        for match in found:
            access.note_resource("Observation", match.content)
        return found

    def newest_reviews(
        self, patients: Sequence[str], *, access: Access | None = None
    ) -> list[Stored]:
        """Each patient's newest completed review of their vital signs (a `vitals-review`
        Task, newest by authoredOn), for many patients in one query (the patient list's
        "last reviewed", issue 12). Patients outside the caller's reach are left out, as
        a Task search leaves them out.
        """
        access = access or system_access()
        access.require("Task", Interaction.SEARCH)
        with self.store.reading() as tx:
            found = newest_reviews(tx, self._in_reach(access, patients))
        for match in found:
            access.note_resource("Task", match.content)
        return found

    def reading_days(
        self,
        patients: Sequence[str],
        *,
        codes: Sequence[str],
        days: int,
        end_ms: int,
        access: Access | None = None,
    ) -> dict[str, set[date]]:
        """Per patient: the days (in the patient's time zone) with a reading, among the
        `days` days ending with the day of `end_ms` (adherence, for many patients at once).

        A reading is a value of one of `codes` with the SQL series backend, otherwise any
        Observation of the patient. Patients outside the caller's reach are left out.
        """
        if not 1 <= days <= 366:
            raise BadRequest(f"days={days}: from 1 to 366")
        access = self._overview_access(access)
        wanted = self._in_reach(access, patients)
        series_codes = codes if isinstance(self.store.series, SqlSeriesStore) else None
        with self.store.reading() as tx:
            zones = patient_zones(tx, wanted, self.store.zone)
            found = reading_days(tx, zones, days, end_ms, series_codes)
        access.note(wanted)
        return found

    def read_many(
        self, resource_type: str, ids: Sequence[str], *, access: Access | None = None
    ) -> list[Stored]:
        """Several resources by id in one query; unknown, deleted and out-of-reach ones are
        left out, as a search leaves them out (`_id` takes at most 100 ids)."""
        self._check_type(resource_type)
        for resource_id in ids:
            self._check_id(resource_id)
        access = access or system_access()
        access.require(resource_type, Interaction.READ)
        with self.store.reading() as tx:
            found = visible_resources(
                tx, resource_type, ids, visibility_clause(access, resource_type)
            )
        for match in found:
            access.note_resource(resource_type, match.content)
        return found

    @staticmethod
    def _overview_access(access: Access | None) -> Access:
        access = access or system_access()
        access.require("Observation", Interaction.SEARCH)
        if access.principal.kind is TokenKind.GATEWAY:
            raise Forbidden("a gateway token reads no patient's readings")
        return access

    @staticmethod
    def _in_reach(access: Access, patients: Sequence[str]) -> list[str]:
        unique = sorted(set(patients))
        if access.unrestricted:
            return unique
        return [p for p in unique if p in (access.patients or frozenset())]

    def _refuse_hidden_subject(self, access: Access, subject: str) -> None:
        """404 for a `$stats` subject outside the caller's reach; the series are not filtered
        by gateway, so a gateway token (which reads nothing but its own) gets 403."""
        if access.unrestricted:
            return
        if access.principal.kind is TokenKind.GATEWAY:
            raise Forbidden("a gateway token does not read statistics")
        resource_type, _, resource_id = subject.partition("/")
        if resource_type == "Patient":
            if resource_id not in (access.patients or frozenset()):
                raise NotFound(f"{subject} is not known", expression=["subject"])
            access.note([resource_id])
            return
        if resource_type not in RESOURCE_TYPES or not _ID.match(resource_id):
            raise NotFound(f"{subject} is not known", expression=["subject"])
        with self.store.reading() as tx:
            if self._hidden(tx, access, resource_type, resource_id):
                raise NotFound(f"{subject} is not known", expression=["subject"])

    def _zone_for(self, subject: str, override: str | None) -> tzinfo:
        if override is None:
            cached = self._zones.get(subject)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        zone = self._lookup_zone(subject, override)
        if override is None:
            if len(self._zones) > 10_000:
                self._zones.clear()
            self._zones[subject] = (time.monotonic() + _ZONE_CACHE_SECONDS, zone)
        return zone

    def _lookup_zone(self, subject: str, override: str | None) -> tzinfo:
        """The zone of a subject's days (`override`, else its tz-code, else the server's).

        Raises:
            NotFound: the subject is a Patient the server does not hold (an operation on
                a missing subject; an empty answer would read as "no readings").
        """
        name: str | None = override
        if subject.startswith("Patient/"):
            with self.store.reading() as tx:
                patient = tx.read("Patient", subject.split("/", 1)[1])
            if patient is None or patient.deleted:
                raise NotFound(f"{subject} is not known", expression=["subject"])
            for extension in patient.content.get("extension", ()):
                if name is None and extension.get("url") == TIMEZONE_EXTENSION:
                    name = extension.get("valueCode")
        if name is None:
            return self.store.zone
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadRequest(f"unknown time zone {name!r}") from None

    # --- Bundles ----------------------------------------------------------------------------

    def bundle(self, raw: Any, *, access: Access | None = None) -> dict[str, Any]:
        """POST [base] with a transaction or batch Bundle.

        Each entry is held to the caller's scopes and reach: a transaction with one
        forbidden entry is refused whole; a batch answers each entry on its own.
        """
        access = access or system_access()
        warnings = validate_resource(raw, "Bundle")
        kind = raw.get("type")
        if kind == "transaction":
            access.subtype = "transaction"
            return self._transaction(raw, warnings, access)
        if kind == "batch":
            # Each entry commits on its own: the batch is one AuditEvent, written after.
            access.subtype = "batch"
            access.write_audit = None
            return self._batch(raw, access)
        raise BadRequest(
            f"POST [base] takes a transaction or batch Bundle, not {kind!r}",
            expression=["Bundle.type"],
        )

    def _transaction(
        self, raw: dict[str, Any], warnings: Sequence[Issue], access: Access
    ) -> dict[str, Any]:
        entries = raw.get("entry", [])
        plan = [self._plan_entry(index, entry) for index, entry in enumerate(entries)]
        for method, resource_type, _, condition in plan:
            if condition is None:  # a conditional create is checked once matched (or not)
                access.require(resource_type, _METHOD_NEEDS[method])
        _refuse_same_resource_twice(plan)
        full_urls = [entry.get("fullUrl") for entry in entries]
        duplicates = {u for u in full_urls if u and full_urls.count(u) > 1}
        if duplicates:
            raise BadRequest(
                f"fullUrl used twice: {sorted(duplicates)[0]}", expression=["Bundle.entry.fullUrl"]
            )
        order = sorted(
            range(len(plan)), key=lambda i: {"DELETE": 0, "POST": 1, "PUT": 2}[plan[i][0]]
        )

        # References are rewritten from their original text on every attempt, so a retry
        # after a lost race starts clean; new ids stay the same across attempts.
        original_refs = {
            i: [(node, node["reference"]) for node in _references(entry.get("resource", {}))]
            for i, entry in enumerate(entries)
        }
        new_ids = {i: new_id() for i, step in enumerate(plan) if step[0] == "POST"}
        new_devices = {new_ids[i] for i in new_ids if plan[i][1] == "Device"}

        def work(tx: Tx) -> list[dict[str, Any]]:
            matched = self._match_all(tx, plan)
            self._refuse_hidden_matches(tx, access, plan, matched)
            for i, (_, resource_type, _, condition) in enumerate(plan):
                if condition is not None and i not in matched:
                    self._require_create_after_no_match(access, resource_type, i)
            _refuse_same_resource_twice(plan, matched)
            mapping: dict[str, str] = {}
            for i, (method, resource_type, resource_id, _) in enumerate(plan):
                if not full_urls[i] or method == "DELETE":
                    continue
                target = matched[i].id if i in matched else new_ids.get(i, resource_id)
                mapping[full_urls[i]] = f"{resource_type}/{target}"
            known, pending = self._transaction_targets(entries, plan, matched, new_ids)
            targets: list[tuple[str, str]] = []
            device_owners: dict[str, str | None] = {}
            deleted: list[tuple[str, str]] = []
            responses: list[dict[str, Any]] = [{}] * len(plan)
            creates: list[tuple[int, str, dict[str, Any]]] = []
            for i in order:
                method, resource_type, resource_id, _ = plan[i]
                if method == "DELETE":
                    current = tx.read(resource_type, resource_id)
                    if not access.sees_all(resource_type) and (current is None or current.deleted):
                        raise NotFound(f"{resource_type}/{resource_id} is not known")
                    self._refuse_hidden(tx, access, resource_type, resource_id, current)
                    if current is not None and not current.deleted:
                        access.note_resource(resource_type, current.content)
                        tx.delete(resource_type, current)
                        deleted.append((resource_type, resource_id))
                    responses[i] = {"status": "204 No Content"}
                    continue
                if i in matched:
                    responses[i] = _response(matched[i], "200 OK")
                    continue
                content = entries[i]["resource"]
                for node, original in original_refs[i]:
                    resolved = mapping.get(original)
                    if resolved is None and original.startswith("urn:uuid:"):
                        raise BadRequest(
                            f"reference {original} is not a fullUrl in this Bundle",
                            expression=[f"Bundle.entry[{i}].resource"],
                        )
                    node["reference"] = resolved or original
                targets += self._resolve_references(
                    tx, content, f"Bundle.entry[{i}].resource", pending
                )
                self._check_write(
                    tx,
                    access,
                    resource_type,
                    content,
                    new_devices,
                    f"Bundle.entry[{i}].resource",
                    device_owners,
                )
                access.note_resource(resource_type, content)
                if method == "POST":
                    content.pop("id", None)
                    creates.append((i, resource_type, content))
                else:
                    current = tx.read(resource_type, resource_id)
                    self._refuse_hidden(tx, access, resource_type, resource_id, current)
                    if current is None:
                        access.require(resource_type, Interaction.CREATE)
                        self._claim(tx, access, [(resource_type, resource_id)])
                    self._check_identifiers(tx, resource_type, content, resource_id)
                    if content.get("id") != resource_id:
                        raise BadRequest(
                            "a PUT entry's resource id must equal its url",
                            expression=[f"Bundle.entry[{i}]"],
                        )
                    stored = tx.update(resource_type, resource_id, content, current)
                    responses[i] = _response(stored, "201 Created" if current is None else "200 OK")
            # After every DELETE: the entries may delete an Observation and its Patient.
            for resource_type, resource_id in deleted:
                self._refuse_if_referred(tx, resource_type, resource_id)
            self._verify_targets(tx, targets, known - {f"{t}/{i}" for t, i in deleted})
            conditional = {i for i, step in enumerate(plan) if step[3] is not None}
            self._check_new_identifiers(tx, creates, conditional)
            stored_all = tx.create_many([(t, new_ids[i], c) for i, t, c in creates])
            self._claim(tx, access, [(t, new_ids[i]) for i, t, _ in creates])
            for (i, _, _), stored in zip(creates, stored_all, strict=True):
                responses[i] = _response(stored, "201 Created")
            return responses

        responses = self._write(work, access)
        for method, resource_type, resource_id, _ in plan:
            if method in ("PUT", "DELETE"):
                self._forget_zone(resource_type, resource_id)
        by_entry: dict[int, list[Issue]] = {}
        for text, where in warnings:
            found = _ENTRY_INDEX.match(where)
            if found is not None:
                by_entry.setdefault(int(found.group(1)), []).append((text, where))
        for index, issues in by_entry.items():
            responses[index] = {**responses[index], "outcome": warnings_outcome(issues)}
        return {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [{"response": r} for r in responses],
        }

    @staticmethod
    def _transaction_targets(
        entries: Sequence[dict[str, Any]],
        plan: Sequence[tuple[str, str, str, tuple[str | None, str] | None]],
        matched: dict[int, Stored],
        new_ids: dict[int, str],
    ) -> tuple[set[str], dict[str, str]]:
        """What a transaction's own entries make resolvable: `Type/id`s, and identifiers
        (`Type|system|value`) for conditional references to resources it creates."""
        known: set[str] = set()
        pending: dict[str, str] = {}
        for i, (method, resource_type, resource_id, _) in enumerate(plan):
            if method == "DELETE":
                continue
            if i in matched:
                known.add(f"{resource_type}/{matched[i].id}")
                continue
            target = f"{resource_type}/{new_ids.get(i, resource_id)}"
            known.add(target)
            for identifier in entries[i]["resource"].get("identifier", ()):
                if isinstance(identifier, dict) and identifier.get("value"):
                    system = identifier.get("system", "")
                    pending[f"{resource_type}|{system}|{identifier['value']}"] = target
        return known, pending

    def _refuse_hidden_matches(
        self,
        tx: Tx,
        access: Access,
        plan: Sequence[tuple[str, str, str, tuple[str | None, str] | None]],
        matched: dict[int, Stored],
    ) -> None:
        """409 when a conditional create matched a resource outside the caller's reach."""
        by_type: dict[str, list[int]] = {}
        for i in matched:
            by_type.setdefault(plan[i][1], []).append(i)
        for resource_type, indexes in by_type.items():
            if access.sees_all(resource_type):
                continue
            ids = [matched[i].id for i in indexes]
            seen = visible_ids(tx.connection, access, resource_type, ids)
            for i in indexes:
                if matched[i].id not in seen:
                    raise Conflict(
                        f"entry {i}'s identifier is already taken by a {resource_type} "
                        "this token may not see",
                        expression=[f"Bundle.entry[{i}].resource.identifier"],
                    )

    def _match_all(
        self, tx: Tx, plan: Sequence[tuple[str, str, str, tuple[str | None, str] | None]]
    ) -> dict[int, Stored]:
        """Resolve every conditional create of a transaction with one query per type."""
        wanted: dict[str, list[int]] = {}
        for i, (method, resource_type, _, condition) in enumerate(plan):
            if method == "POST" and condition is not None:
                wanted.setdefault(resource_type, []).append(i)
        matched: dict[int, Stored] = {}
        for resource_type, indexes in wanted.items():
            conditions = {i: c for i in indexes if (c := plan[i][3]) is not None}
            rows = tx.lookup_identifiers(resource_type, [c[1] for c in conditions.values()])
            found: dict[int, str] = {}
            for i, (system, value) in conditions.items():
                ids = sorted(
                    {rid for s, v, rid in rows if v == value and (system is None or s == system)}
                )
                if len(ids) > 1:
                    raise PreconditionFailed(
                        f"{len(ids)} {resource_type} resources match entry {i}'s ifNoneExist"
                    )
                if ids:
                    found[i] = ids[0]
            # A gateway's retry of a stored Bundle matches every entry: one query for their
            # versions, and no resource body read (a transaction response carries none).
            versions = tx.current_versions(resource_type, list(found.values()))
            matched.update({i: versions[rid] for i, rid in found.items() if rid in versions})
        return matched

    @staticmethod
    def _check_new_identifiers(
        tx: Tx, creates: Sequence[tuple[int, str, dict[str, Any]]], conditional: set[int]
    ) -> None:
        """409 when a new resource's identifier is taken, in the store or by another entry."""
        seen: dict[tuple[str, str, str], int] = {}
        by_type: dict[str, list[str]] = {}
        for i, resource_type, content in creates:
            for identifier in content.get("identifier", ()):
                value = identifier.get("value")
                if not value:
                    continue
                key = (resource_type, identifier.get("system", ""), value)
                if key in seen:
                    raise Conflict(
                        f"entries {seen[key]} and {i} create the same identifier {key[1]}|{value}",
                        expression=[f"Bundle.entry[{i}].resource.identifier"],
                    )
                seen[key] = i
                by_type.setdefault(resource_type, []).append(value)
        for resource_type, values in by_type.items():
            for system, value, owner in tx.lookup_identifiers(resource_type, values):
                if (resource_type, system, value) in seen:
                    i = seen[(resource_type, system, value)]
                    if i in conditional:
                        # Its ifNoneExist found nothing, yet the identifier is taken now: a
                        # concurrent upload of the same reading committed in between.
                        raise _LostRace
                    raise Conflict(
                        f"identifier {system}|{value} already identifies {resource_type}/{owner}; "
                        "use ifNoneExist to upload idempotently",
                        expression=[f"Bundle.entry[{i}].resource.identifier"],
                    )

    def _plan_entry(
        self, index: int, entry: dict[str, Any]
    ) -> tuple[str, str, str, tuple[str | None, str] | None]:
        request = entry["request"]
        method = request["method"]
        url = unquote(request.get("url", ""))
        path = f"Bundle.entry[{index}].request"
        if method == "POST":
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                raise BadRequest("a POST entry needs a resource", expression=[path])
            if url.split("?")[0] != resource["resourceType"]:
                raise BadRequest(
                    f"request.url {url!r} does not match the resource type",
                    expression=[f"{path}.url"],
                )
            condition = (
                parse_conditional(request["ifNoneExist"]) if request.get("ifNoneExist") else None
            )
            return method, resource["resourceType"], "", condition
        if method in ("PUT", "DELETE"):
            parts = url.split("/")
            if len(parts) != 2 or parts[0] not in RESOURCE_TYPES or not _ID.match(parts[1]):
                raise BadRequest(
                    f"request.url {url!r} must be [type]/[id]", expression=[f"{path}.url"]
                )
            if method == "PUT":
                resource = entry.get("resource")
                if not isinstance(resource, dict) or resource.get("resourceType") != parts[0]:
                    raise BadRequest(
                        "a PUT entry needs a resource of the url's type", expression=[path]
                    )
            return method, parts[0], parts[1], None
        raise BadRequest(
            f"{method} entries are not supported in a transaction", expression=[f"{path}.method"]
        )

    def _batch(self, raw: dict[str, Any], access: Access) -> dict[str, Any]:
        out = []
        for entry in raw.get("entry", []):
            request = entry["request"]
            method, url = request["method"], unquote(request.get("url", ""))
            try:
                response, resource = self._batch_entry(entry, method, url, access)
                out.append({"response": response, **({"resource": resource} if resource else {})})
            except FhirError as error:
                out.append(
                    {
                        "response": {
                            "status": f"{error.status} {HTTPStatus(error.status).phrase}",
                            "outcome": error.outcome(),
                        }
                    }
                )
        return {"resourceType": "Bundle", "type": "batch-response", "entry": out}

    def _batch_entry(
        self, entry: dict[str, Any], method: str, url: str, access: Access
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if method == "POST":
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                raise BadRequest("a POST entry needs a resource")
            for reference in _references(resource):
                if reference["reference"].startswith("urn:uuid:"):
                    raise BadRequest("batch entries cannot refer to each other (use a transaction)")
            result = self.create(
                url.split("?")[0], resource, request_if_none_exist(entry), access=access
            )
            return _write_response(result), None
        parts = url.split("?")[0].split("/")
        if method == "PUT" and len(parts) == 2:
            result = self.update(parts[0], parts[1], entry.get("resource"), access=access)
            return _write_response(result), None
        if method == "DELETE" and len(parts) == 2:
            query = dict(parse_qsl(url.partition("?")[2]))
            cascade = query.pop("_cascade", None)
            if query or cascade not in (None, "delete"):
                raise BadRequest(f"DELETE {url}: the only parameter is _cascade=delete")
            self.delete(parts[0], parts[1], cascade=cascade == "delete", access=access)
            return {"status": "204 No Content"}, None
        if method == "GET" and len(parts) == 2:
            stored = self.read(parts[0], parts[1], access=access)
            return _response(stored, "200 OK"), stored.content
        raise BadRequest(f"unsupported batch entry {method} {url}")


def _refuse_foreign_owner(access: Access, task: dict[str, Any], where: str) -> None:
    """A staff member records only their own work: a Task they write names their own
    Practitioner as owner (issue 12: a review says who reviewed; nobody signs for another).

    Raises:
        Forbidden: an owner other than the caller's Practitioner, or none.
    """
    own = access.principal.agent_reference
    node = task.get("owner")
    named = node.get("reference") if isinstance(node, dict) else None
    if own is None or named != own:
        raise Forbidden(
            f"a Task written with this token names its own Practitioner ({own or 'none'}) "
            f"as owner, not {named or 'nobody'}",
            expression=[f"{where}.owner"],
        )


def _refuse_same_resource_twice(
    plan: Sequence[tuple[str, str, str, tuple[str | None, str] | None]],
    matched: dict[int, Stored] | None = None,
) -> None:
    """400 when two entries of a transaction touch the same resource.

    FHIR R4 (http.html#trules): a transaction whose entries touch the same resource
    SHALL fail; the order the server applies them in would decide the outcome. A
    conditional create counts as its match once found (`matched`), and two with the
    same condition as one resource before.

    Raises:
        BadRequest: naming both entries.
    """
    seen: dict[tuple[str, ...], int] = {}
    for index, (method, resource_type, resource_id, condition) in enumerate(plan):
        if matched is not None and index in matched:
            key: tuple[str, ...] = (resource_type, matched[index].id)
        elif method != "POST":
            key = (resource_type, resource_id)
        elif condition is not None and matched is None:
            key = (resource_type, "?", condition[0] or "", condition[1])
        else:
            continue
        if key in seen:
            what = f"{resource_type}/{key[1]}" if len(key) == 2 else f"{resource_type}?identifier"
            raise BadRequest(
                f"entries {seen[key]} and {index} both touch {what}: a transaction "
                "touches each resource once",
                expression=[f"Bundle.entry[{index}]"],
            )
        seen[key] = index


def request_if_none_exist(entry: dict[str, Any]) -> str | None:
    """The entry's `request.ifNoneExist`, if any."""
    value = entry.get("request", {}).get("ifNoneExist")
    return str(value) if value else None


def _write_response(result: WriteResult) -> dict[str, Any]:
    """A batch entry's response to a create or update, with its warnings if any."""
    response = _response(result.stored, "201 Created" if result.created else "200 OK")
    if result.warnings:
        response["outcome"] = warnings_outcome(result.warnings)
    return response


def _response(stored: Stored, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "location": f"{stored.resource_type}/{stored.id}/_history/{stored.version_id}",
        "etag": stored.etag,
        "lastModified": stored.last_updated,
    }


def _etag_version(value: str) -> int:
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not re.fullmatch(r"[0-9]+", text):
        raise BadRequest(f'If-Match {value!r} is not a version ETag like W/"1"')
    return int(text)

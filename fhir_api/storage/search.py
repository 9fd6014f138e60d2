"""FHIR search on the index tables.

Parameter values are parsed (pure) into filters, and filters into one SQL
query of EXISTS clauses over the index tables. Several values in one parameter
(comma-separated) are ORed, repeated parameters are ANDed, as FHIR R4 says.

Dates are compared in the patient's time zone, applied when the search runs: the
index holds instants for dates with an offset and wall-clock ranges for dates
without one (see indexing.py), and a search value without an offset (`2024-10-02`)
is a day of the patient's calendar. A search over one patient uses that patient's
zone; a search over several patients (or all) ORs one branch per zone in use, each
limited to the patients in that zone.

Pages follow a keyset cursor (`_cursor`, opaque to clients): the sort key and id
of the last row shown, so a page does not shift when readings arrive or go, and
the total counted on the first page travels along instead of being counted again.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    case,
    exists,
    func,
    not_,
    or_,
    select,
    true,
)

from ..dates import DateValue, instants, parse_date, wall_clock, zone_named
from ..search_values import EscapeError, split_alternatives, split_token, unescape
from .indexing import OPEN_END, normalize_string
from .resources import Stored, Tx, versions_query
from .schema import (
    identifiers,
    resources,
    search_dates,
    search_references,
    search_strings,
    search_terms,
    search_tokens,
)
from .search_keys import (
    IDENTIFIER_PARAM,
    identifier_terms,
    param_term,
    patient_zone_rows,
    terms,
)

__all__ = [
    "MAX_ALTERNATIVES",
    "MAX_PARAMETERS",
    "MAX_REPEATS",
    "SEARCH_PARAMETERS",
    "Cursor",
    "SearchError",
    "SearchQuery",
    "SearchResult",
    "history_page",
    "lastn",
    "parse_search",
    "run_search",
    "subset",
]


class SearchError(ValueError):
    """A search parameter or value the server does not support."""


# type -> parameter -> kind (and for references, the implied target type)
SEARCH_PARAMETERS: dict[str, dict[str, str]] = {
    "Observation": {
        "_id": "id",
        "code": "token",
        "component-code": "token",
        "category": "token",
        "status": "token",
        "identifier": "token",
        "subject": "reference",
        "patient": "reference:Patient",
        "device": "reference:Device",
        "date": "date",
    },
    "Patient": {
        "_id": "id",
        "identifier": "token",
        "name": "string",
        "family": "string",
        "given": "string",
        "birthdate": "date",
    },
    "Device": {"_id": "id", "identifier": "token", "type": "token"},
    "Practitioner": {
        "_id": "id",
        "identifier": "token",
        "name": "string",
        "family": "string",
        "given": "string",
        "active": "token:boolean",
    },
    "CareTeam": {
        "_id": "id",
        "identifier": "token",
        "status": "token",
        "category": "token",
        "subject": "reference",
        "patient": "reference:Patient",
        "participant": "reference",
        "date": "date",
    },
    "Task": {
        "_id": "id",
        "identifier": "token",
        "status": "token",
        "intent": "token",
        "code": "token",
        "subject": "reference",
        "patient": "reference:Patient",
        "owner": "reference",
        "requester": "reference",
        "authored-on": "date",
        "period": "date",
    },
    "Communication": {
        "_id": "id",
        "identifier": "token",
        "status": "token",
        "category": "token",
        "priority": "token",
        "subject": "reference",
        "patient": "reference:Patient",
        "sender": "reference",
        "recipient": "reference",
        "sent": "date",
    },
}
# The modifiers FHIR R4 defines for each kind that this server implements; any other is a 400.
MODIFIERS: dict[str, frozenset[str]] = {
    "id": frozenset(),
    "token": frozenset({"not", "missing"}),
    "reference": frozenset({"missing"}),  # and a resource type, e.g. subject:Patient
    "date": frozenset({"missing"}),
    "string": frozenset({"exact", "contains", "missing"}),
}
_INDEX_PARAM = {"patient": "subject"}
# Types whose `date` may be a day of their subject's calendar (the patient's time zone).
_SUBJECT_DATED = ("Observation", "CareTeam", "Task", "Communication")
CONTROL = {
    "_count",
    "_offset",
    "_cursor",
    "_sort",
    "_include",
    "_summary",
    "_format",
    "_total",
    "_elements",
}
TOTAL_MODES = ("none", "estimate", "accurate")
# Bounds on one search's size. Each alternative and each repeat adds to one SQL
# statement: 497 alternatives passed SQLite's expression depth of 1,000 (a 500), and
# 500 repeats of one parameter took 85 s of CPU to plan. Real clients stay far below.
MAX_ALTERNATIVES = 100  # comma-separated values in one parameter
MAX_REPEATS = 20  # occurrences of one parameter (control parameters included)
MAX_PARAMETERS = 50  # parameters in one search
MAX_OFFSET = 2**31 - 1  # deeper pages: follow the next link
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_WHOLE = re.compile(r"^[0-9]{1,19}$")
_NO_DATE = OPEN_END + 1  # sorts resources without a date after every dated one
# Elements a FHIR resource must have (min 1): `_elements` keeps them whatever is asked.
_MANDATORY = {
    "Observation": ("status", "code"),
    "Task": ("status", "intent"),
    "Communication": ("status",),
}
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "As requested, the resource holds only some of its elements",
}


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: after (or, going back, before) the row with this sort key and id."""

    sort: str
    key: int
    id: str
    total: int | None
    backward: bool = False

    def token(self) -> str:
        """The opaque `_cursor` value."""
        raw = orjson.dumps([1, self.sort, self.key, self.id, self.total, self.backward])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """Read a `_cursor` value.

        Raises:
            SearchError: for anything this server did not issue.
        """
        try:
            raw = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            version, sort, key, resource_id, total, backward = raw
        except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
            raise SearchError("_cursor is not one this server issued") from None
        if (
            version != 1
            or sort not in ("", "date", "-date")
            or type(key) is not int
            or abs(key) > _NO_DATE
            or not isinstance(resource_id, str)
            or not _ID.match(resource_id)
            or not (total is None or (type(total) is int and 0 <= total <= MAX_OFFSET))
            or type(backward) is not bool
        ):
            raise SearchError("_cursor is not one this server issued")
        return cls(sort, key, resource_id, total, backward)


@dataclass(frozen=True, slots=True)
class DateFilter:
    """One `date`/`birthdate` parameter: its alternatives, to compare in a zone at run time."""

    param: str
    alternatives: tuple[tuple[str, DateValue], ...]


@dataclass
class SearchQuery:
    """A parsed search."""

    resource_type: str
    clauses: list[ColumnElement[bool]] = field(default_factory=list)
    dates: list[DateFilter] = field(default_factory=list)
    subjects: list[str] | None = None  # the targets of a patient/subject parameter
    count: int = 50
    offset: int = 0
    sort: str = ""  # "", "date" or "-date"
    include_devices: bool = False
    summary_count: bool = False
    total: str | None = None  # _total: none, estimate, accurate (None: counted once)
    elements: frozenset[str] | None = None
    cursor: Cursor | None = None
    has_status: bool = False  # a `status` parameter (`$lastn` leaves the choice to it)
    # A clause names the resources by key, from their index rows (`_in_index`): those
    # keys are of this type already (terms are per type).
    keyed: bool = False


def _check_size(params: Sequence[tuple[str, str]]) -> None:
    """Refuse a search larger than `MAX_PARAMETERS`, `MAX_REPEATS` or `MAX_ALTERNATIVES`."""
    if len(params) > MAX_PARAMETERS:
        raise SearchError(
            f"{len(params)} search parameters: at most {MAX_PARAMETERS} in one search"
        )
    seen: dict[str, int] = {}
    for name, value in params:
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > MAX_REPEATS:
            raise SearchError(f"{name!r} is repeated: at most {MAX_REPEATS} times in one search")
        # A plain count of commas bounds the alternatives (escaped commas only overcount).
        if value.count(",") >= MAX_ALTERNATIVES:
            raise SearchError(
                f"{name!r} has more than {MAX_ALTERNATIVES} alternatives: "
                f"at most {MAX_ALTERNATIVES} comma-separated values in one parameter"
            )


def _values(param: str, value: str) -> list[str]:
    """The comma-separated alternatives of a value, unescaped, none of them empty."""
    try:
        items = [unescape(item) for item in split_alternatives(value)]
    except EscapeError as exc:
        raise SearchError(f"{param}: {exc}") from None
    if any(item == "" for item in items):
        raise SearchError(f"{param}={value!r} has an empty alternative")
    return items


def _indexed(
    table: Table, resource_type: str, param: str, matches: ColumnElement[bool]
) -> ColumnElement[bool]:
    """The resource has a row in a search index table for `param` that `matches`.

    `matches` is on the table's own columns (a date's range, a string's value); the
    parameter is its term.
    """
    return exists().where(
        table.c.resource_key == resources.c.key,
        table.c.term == param_term(resource_type, param),
        matches,
    )


def _has_term(
    table: Table, resource_type: str, param: str, matches: ColumnElement[bool]
) -> ColumnElement[bool]:
    """The resource has a token or reference row for `param` whose term `matches`
    (a condition on search_terms: its system and code)."""
    return exists().where(
        table.c.resource_key == resources.c.key,
        table.c.term.in_(terms(resource_type, param, matches)),
    )


def _in_index(
    table: Table, resource_type: str, param: str, matches: ColumnElement[bool]
) -> ColumnElement[bool]:
    """The same test as `_has_term`, written as `key IN (keys from the index)`.

    For a selective parameter (a reference: a patient's, a device's readings, a
    Practitioner's CareTeams). SQLite never starts from a correlated EXISTS: with one,
    a patient's search visited every Observation of the store (40 ms among 6,000,
    seconds among millions) and a Practitioner's CareTeams took 260 ms among 20,000;
    an IN list of the index's keys lets it start from the few (0.1 ms, 4 ms). Broad
    parameters (codes, statuses) stay EXISTS: as an IN list SQLite would gather every
    match first.
    """
    return resources.c.key.in_(
        select(table.c.resource_key).where(table.c.term.in_(terms(resource_type, param, matches)))
    )


def _missing(table: Table, resource_type: str, param: str, value: str) -> ColumnElement[bool]:
    """`:missing=true` (no value for the parameter) or `:missing=false` (some value)."""
    if value not in ("true", "false"):
        raise SearchError(f"{param}:missing={value!r}: true or false")
    if table is search_tokens or table is search_references:
        present = _has_term(table, resource_type, param, true())
    else:
        present = _indexed(table, resource_type, param, true())
    return not_(present) if value == "true" else present


def _token_clause(resource_type: str, param: str, value: str, modifier: str) -> ColumnElement[bool]:
    alternatives: list[ColumnElement[bool]] = []
    try:
        items = split_alternatives(value)
        tokens = [split_token(item) for item in items]
    except EscapeError as exc:
        raise SearchError(f"{param}: {exc}") from None
    # Codes without a system go in one IN list, not a chain of ORs (each OR is a level
    # of SQLite's expression tree).
    bare = [code for system, code in tokens if system is None]
    if any(not code for code in bare):
        raise SearchError(f"{param}={value!r} has an empty alternative")
    if bare:
        alternatives.append(search_terms.c.code.in_(bare))
    for system, code in tokens:
        if system is not None:
            condition = search_terms.c.system == system
            alternatives.append(and_(condition, search_terms.c.code == code) if code else condition)
    found = _has_term(search_tokens, resource_type, param, or_(*alternatives))
    # :not: every resource without a matching value, those without any value included.
    return not_(found) if modifier == "not" else found


def _identifier_clause(resource_type: str, value: str, modifier: str) -> ColumnElement[bool]:
    """`identifier` (system|value, |value, value, system|; :not, :missing) over `identifiers`.

    Selective, so an IN list of the keys found (the primary key leads with the value).
    """
    if modifier == "missing":
        if value not in ("true", "false"):
            raise SearchError(f"identifier:missing={value!r}: true or false")
        present = exists().where(
            identifiers.c.resource_key == resources.c.key,
            identifiers.c.term.in_(identifier_terms(resource_type)),
        )
        return not_(present) if value == "true" else present
    try:
        tokens = [split_token(item) for item in split_alternatives(value)]
    except EscapeError as exc:
        raise SearchError(f"identifier: {exc}") from None
    bare = [code for system, code in tokens if system is None]
    if any(not code for code in bare):
        raise SearchError(f"identifier={value!r} has an empty alternative")
    alternatives: list[ColumnElement[bool]] = []
    if bare:
        alternatives.append(
            and_(
                identifiers.c.value.in_(bare),
                identifiers.c.term.in_(identifier_terms(resource_type)),
            )
        )
    for system, code in tokens:
        if system is not None:
            systems = identifier_terms(resource_type, search_terms.c.system == system)
            condition = identifiers.c.term.in_(systems)
            alternatives.append(and_(identifiers.c.value == code, condition) if code else condition)
    found = resources.c.key.in_(select(identifiers.c.resource_key).where(or_(*alternatives)))
    return not_(found) if modifier == "not" else found


def _reference_targets(param: str, value: str, target_type: str | None) -> list[str]:
    targets = []
    for item in _values(param, value):
        item = item.rsplit("/_history/", 1)[0]
        parts = item.split("/")
        if len(parts) >= 2:
            targets.append(f"{parts[-2]}/{parts[-1]}")
        elif target_type:
            targets.append(f"{target_type}/{item}")
        else:
            raise SearchError(f"{param}={item!r}: give the type, e.g. Patient/{item}")
    return targets


def _date_filter(param: str, value: str) -> DateFilter:
    alternatives = []
    for item in _values(param, value):
        prefix = item[:2] if item[:2] in _PREFIXES else "eq"
        text = item[2:] if item[:2] in _PREFIXES else item
        try:
            alternatives.append((prefix, parse_date(text)))
        except ValueError as exc:
            raise SearchError(f"{param}={item!r}: {exc}") from None
    return DateFilter(param, tuple(alternatives))


def _range_condition(prefix: str, lo: Any, hi: Any, start: Any, end: Any) -> ColumnElement[bool]:
    conditions: dict[str, ColumnElement[bool]] = {
        "eq": and_(start >= lo, end <= hi),
        "ne": or_(start < lo, end > hi),
        "gt": end > hi,
        "ge": end > lo,
        "lt": start < lo,
        "le": start < hi,
        "sa": start >= hi,
        "eb": end <= lo,
        "ap": and_(end > lo, start < hi),
    }
    return conditions[prefix]


def _date_in_zone(resource_type: str, wanted: DateFilter, zone: tzinfo) -> ColumnElement[bool]:
    """The filter with days, and times without offset, taken in `zone`."""
    start, end, floating = search_dates.c.start_ms, search_dates.c.end_ms, search_dates.c.floating
    alternatives = []
    for prefix, value in wanted.alternatives:
        moments, wall = instants(value, zone), wall_clock(value, zone)
        # One range whose bounds depend on the row's kind, not an OR of two ranges: with
        # the OR, SQLite scanned the date index by range for every resource (minutes).
        lo = case((floating.is_(True), wall.start_ms), else_=moments.start_ms)
        hi = case((floating.is_(True), wall.end_ms), else_=moments.end_ms)
        alternatives.append(_range_condition(prefix, lo, hi, start, end))
    return _indexed(search_dates, resource_type, wanted.param, or_(*alternatives))


def _string_clause(
    resource_type: str, param: str, value: str, modifier: str
) -> ColumnElement[bool]:
    alternatives = []
    for item in _values(param, value):
        if modifier == "exact":
            # As written: FHIR's :exact is case- and accent-sensitive.
            alternatives.append(search_strings.c.value_exact == item[:512])
        elif modifier == "contains":
            wanted = normalize_string(item)
            alternatives.append(search_strings.c.value.contains(wanted, autoescape=True))
        else:
            wanted = normalize_string(item)
            alternatives.append(search_strings.c.value.startswith(wanted, autoescape=True))
    return _indexed(search_strings, resource_type, param, or_(*alternatives))


_TABLES = {
    "token": search_tokens,
    "reference": search_references,
    "date": search_dates,
    "string": search_strings,
}


def parse_search(
    resource_type: str,
    params: Sequence[tuple[str, str]],
    *,
    default_count: int = 50,
    max_count: int = 1000,
) -> SearchQuery:
    """Parse search parameters.

    Raises:
        SearchError: an unknown parameter or modifier or an unreadable value (strict: a
            typo must not silently return everything).
    """
    known = SEARCH_PARAMETERS.get(resource_type)
    if known is None:
        raise SearchError(f"search on {resource_type} is not supported")
    _check_size(params)
    query = SearchQuery(resource_type, count=default_count)
    for raw_name, value in params:
        name, colon, modifier = raw_name.partition(":")
        if name in CONTROL:
            if colon:
                raise SearchError(f"{raw_name!r}: {name} takes no modifier")
            _control(query, name, value, max_count)
            continue
        kind = known.get(name)
        if kind is None:
            raise SearchError(f"unknown search parameter {raw_name!r} for {resource_type}")
        if value == "":
            raise SearchError(f"search parameter {raw_name!r} has no value")
        base_kind, _, fixed_target = kind.partition(":")
        type_modifier = (
            base_kind == "reference" and not fixed_target and modifier in SEARCH_PARAMETERS
        )
        if colon and modifier not in MODIFIERS[base_kind] and not type_modifier:
            allowed = ", ".join(f":{m}" for m in sorted(MODIFIERS[base_kind])) or "none"
            raise SearchError(
                f"modifier {raw_name!r} is not supported on {name} (supported: {allowed})"
            )
        index_param = _INDEX_PARAM.get(name, name)
        query.has_status = query.has_status or name == "status"
        if index_param == IDENTIFIER_PARAM and base_kind == "token":
            query.clauses.append(_identifier_clause(resource_type, value, modifier))
        elif modifier == "missing":
            query.clauses.append(_missing(_TABLES[base_kind], resource_type, index_param, value))
        elif kind == "id":
            query.clauses.append(resources.c.id.in_(_values(name, value)))
        elif base_kind == "token":
            if fixed_target == "boolean":
                _check_boolean(name, value)
            query.clauses.append(_token_clause(resource_type, index_param, value, modifier))
        elif base_kind == "reference":
            target_type = fixed_target or (modifier if type_modifier else None)
            targets = _reference_targets(name, value, target_type)
            if index_param == "subject" and query.subjects is None:
                query.subjects = targets
            query.keyed = True
            query.clauses.append(
                _in_index(
                    search_references,
                    resource_type,
                    index_param,
                    and_(search_terms.c.system == "", search_terms.c.code.in_(targets)),
                )
            )
        elif kind == "date":
            query.dates.append(_date_filter(index_param, value))
        elif kind == "string":
            query.clauses.append(_string_clause(resource_type, index_param, value, modifier))
    if query.cursor is not None:
        if query.offset:
            raise SearchError("_cursor and _offset: give one of them")
        if query.cursor.sort != query.sort:
            raise SearchError("_cursor belongs to a search with another _sort")
    return query


def _check_boolean(name: str, value: str) -> None:
    """A boolean element's token is true or false: anything else would silently match nothing."""
    for item in _values(name, value):
        if item not in ("true", "false"):
            raise SearchError(f"{name}={item!r}: true or false")


def _whole(name: str, value: str, maximum: int) -> int:
    if not _WHOLE.match(value):
        raise SearchError(f"{name}={value!r} is not a whole number")
    number = int(value)
    if number > maximum:
        raise SearchError(f"{name}={value} is more than {maximum}")
    return number


def _control(query: SearchQuery, name: str, value: str, max_count: int) -> None:
    if name == "_count":
        query.count = min(_whole(name, value, 10**18), max_count)
    elif name == "_offset":
        query.offset = _whole(name, value, MAX_OFFSET)
    elif name == "_cursor":
        query.cursor = Cursor.parse(value)
    elif name == "_sort":
        if value not in ("date", "-date") or query.resource_type != "Observation":
            raise SearchError(f"_sort={value!r}: only date and -date on Observation")
        query.sort = value
    elif name == "_include":
        if value != "Observation:device" or query.resource_type != "Observation":
            raise SearchError(f"_include={value!r}: only Observation:device")
        query.include_devices = True
    elif name == "_summary":
        if value != "count":
            raise SearchError(f"_summary={value!r}: only count")
        query.summary_count = True
    elif name == "_total":
        if value not in TOTAL_MODES:
            raise SearchError(f"_total={value!r}: one of {', '.join(TOTAL_MODES)}")
        query.total = value
    elif name == "_elements":
        query.elements = _element_names(query.resource_type, value)


# --- _elements -------------------------------------------------------------------------


@cache
def _top_level_elements(resource_type: str) -> frozenset[str]:
    """JSON names of a resource type's top-level elements, and the bases of choice types."""
    from ..fhir import model_class

    names = list(model_class(resource_type).elements_sequence())
    bases: dict[str, int] = {}
    for name in names:
        head = re.match(r"[a-z]+", name)
        if head and head.group() != name:
            bases[head.group()] = bases.get(head.group(), 0) + 1
    # effective[x] is written effectiveDateTime, effectivePeriod, ...: `_elements=effective`.
    return frozenset(names) | {b for b, n in bases.items() if n > 1 and b not in names}


def _element_names(resource_type: str, value: str) -> frozenset[str]:
    names = frozenset(_values("_elements", value))
    unknown = sorted(names - _top_level_elements(resource_type))
    if unknown:
        raise SearchError(f"_elements: {resource_type} has no element {unknown[0]!r}")
    return names


def _keeps(key: str, wanted: frozenset[str]) -> bool:
    name = key.lstrip("_")  # `_status` holds the extensions of `status`
    if name in wanted:
        return True
    head = re.match(r"[a-z]+", name)
    if head is None:
        return False
    return head.group() in wanted and name[len(head.group()) :][:1].isupper()


def subset(content: dict[str, Any], wanted: frozenset[str]) -> dict[str, Any]:
    """`_elements`: the asked elements, the mandatory ones and id/meta, tagged SUBSETTED."""
    keep = wanted | {"resourceType", "id", "meta", *_MANDATORY.get(content["resourceType"], ())}
    out = {k: v for k, v in content.items() if _keeps(k, keep)}
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    out["meta"] = meta
    return out


# --- running a search ------------------------------------------------------------------


def _zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", zone))


def _patient_zones(tx: Tx, patient_ids: Sequence[str]) -> dict[str, str]:
    """Patient id -> its tz-code, for those of the given Patients that have one."""
    statement = patient_zone_rows().where(
        resources.c.resource_type == "Patient", resources.c.id.in_(patient_ids)
    )
    return {rid: code for rid, code in tx.connection.execute(statement)}


def _patients_by_zone(tx: Tx) -> dict[str, list[str]]:
    """tz-code -> ids of the Patients that have it (index rows; no resource body is read)."""
    statement = patient_zone_rows()
    zones: dict[str, list[str]] = {}
    for patient_id, code in tx.connection.execute(statement):
        zones.setdefault(code, []).append(patient_id)
    return zones


def _of_patients(resource_type: str, patient_ids: Sequence[str]) -> ColumnElement[bool]:
    """The resource is one of these Patients, or an Observation of one of them.

    The ids are listed rather than joined: a join from each Observation to its
    patient's zone row made SQLite scan a zone's every reference per Observation.
    """
    if resource_type == "Patient":
        return resources.c.id.in_(patient_ids)
    targets = [f"Patient/{pid}" for pid in patient_ids]
    return _subject_in(resource_type, targets)


def _subject_in(resource_type: str, targets: Sequence[str]) -> ColumnElement[bool]:
    """The resource's `subject` is one of `targets` (correlated on its key)."""
    subject = search_references.alias("zone_subject")
    return exists().where(
        subject.c.resource_key == resources.c.key,
        subject.c.term.in_(terms(resource_type, "subject", search_terms.c.code.in_(targets))),
    )


def _date_clauses(tx: Tx, query: SearchQuery, default: tzinfo) -> list[ColumnElement[bool]]:
    """The date filters, each patient's days in that patient's zone."""
    if not query.dates:
        return []
    default_name = _zone_name(default)

    def in_zone(name: str) -> ColumnElement[bool]:
        zone = zone_named(name) or default
        return and_(*(_date_in_zone(query.resource_type, f, zone) for f in query.dates))

    patients = [t.split("/", 1)[1] for t in query.subjects or () if t.startswith("Patient/")]
    if query.subjects is not None and query.resource_type in _SUBJECT_DATED:
        # A search over given patients: their zones, no join needed for a single zone.
        by_patient = _patient_zones(tx, patients)
        groups: dict[str, list[str]] = {}
        for target in query.subjects:
            kind, _, target_id = target.partition("/")
            name = by_patient.get(target_id, default_name) if kind == "Patient" else default_name
            groups.setdefault(name, []).append(target)
        if len(groups) == 1:
            return [in_zone(next(iter(groups)))]
        branches = [
            and_(_subject_in(query.resource_type, targets), in_zone(name))
            for name, targets in groups.items()
        ]
        return [or_(*branches)]
    # A search over every patient: one branch per zone in use, the default zone's
    # branch for every patient without (or with the default) tz-code.
    zones = {name: ids for name, ids in _patients_by_zone(tx).items() if name != default_name}
    if not zones:
        return [in_zone(default_name)]
    branches = [
        and_(_of_patients(query.resource_type, ids), in_zone(name))
        for name, ids in sorted(zones.items())
    ]
    elsewhere = [pid for ids in zones.values() for pid in ids]
    branches.append(and_(not_(_of_patients(query.resource_type, elsewhere)), in_zone(default_name)))
    return [or_(*branches)]


def _where(tx: Tx, query: SearchQuery, zone: tzinfo) -> list[ColumnElement[bool]]:
    # With keys from an index, SQLite must start from them (a rowid look-up each), not
    # from every resource of the type: `|| ''` keeps the type test off ux_resources_id.
    kind = resources.c.resource_type
    return [
        (kind.concat("") if query.keyed else kind) == query.resource_type,
        resources.c.deleted.is_(False),
        *query.clauses,
        *_date_clauses(tx, query, zone),
    ]


@dataclass
class SearchResult:
    """Matches, their total (None when not asked for), included resources, next/previous pages."""

    total: int | None
    matches: list[Stored]
    included: list[Stored]
    next: Cursor | None = None
    previous: Cursor | None = None


def _sort_key(query: SearchQuery) -> ColumnElement[Any]:
    if not query.sort:
        return resources.c.last_updated
    # `+ 0`: a bare min(start_ms) let SQLite's min() shortcut walk ix_search_dates_lookup
    # (type, param, start_ms) over every Observation's dates until one of this resource
    # turned up, per row (17 s for one patient's week among 1,000 patients); the
    # expression keeps it on the resource's own date rows (ix_search_dates_resource).
    earliest = (
        select(func.min(search_dates.c.start_ms + 0))
        .where(
            search_dates.c.resource_key == resources.c.key,
            search_dates.c.term == param_term(query.resource_type, "date"),
        )
        .scalar_subquery()
    )
    # Undated resources come last in either direction (NULLs sort apart on SQLite and PostgreSQL).
    return func.coalesce(earliest, _NO_DATE if query.sort == "date" else -_NO_DATE)


def run_search(tx: Tx, query: SearchQuery, zone: tzinfo) -> SearchResult:
    """Run a parsed search; `zone` is the zone of patients without a tz-code."""
    where = _where(tx, query, zone)
    cursor = query.cursor
    total = cursor.total if cursor is not None and query.total != "accurate" else None
    if query.summary_count or (total is None and query.total != "none"):
        total = int(
            tx.connection.execute(
                select(func.count()).select_from(resources).where(*where)
            ).scalar_one()
        )
    if query.total == "none" and not query.summary_count:
        total = None
    if query.summary_count or query.count == 0:
        return SearchResult(total, [], [])
    key = _sort_key(query)
    descending = query.sort == "-date"
    backward = cursor is not None and cursor.backward
    statement = select(resources, key.label("sort_key")).where(*where)
    if cursor is not None:
        after = (key < cursor.key) if descending != backward else (key > cursor.key)
        tie = resources.c.id < cursor.id if backward else resources.c.id > cursor.id
        statement = statement.where(or_(after, and_(key == cursor.key, tie)))
    key_order = key.desc() if descending != backward else key.asc()
    id_order = resources.c.id.desc() if backward else resources.c.id.asc()
    statement = statement.order_by(key_order, id_order).limit(query.count + 1)
    if query.offset:
        statement = statement.offset(query.offset)
    rows = list(tx.connection.execute(statement).all())
    more = len(rows) > query.count
    rows = rows[: query.count]
    if backward:
        rows.reverse()
    matches = [
        Stored(
            query.resource_type, r.id, r.version_id, r.last_updated, False, json.loads(r.content)
        )
        for r in rows
    ]
    carried = None if query.total == "accurate" else total
    following = preceding = None
    if rows:
        last, first = rows[-1], rows[0]
        if more or backward:
            following = Cursor(query.sort, int(last.sort_key), last.id, carried)
        if (more and backward) or (not backward and (cursor is not None or query.offset)):
            preceding = Cursor(query.sort, int(first.sort_key), first.id, carried, backward=True)
    included = _included_devices(tx, matches) if query.include_devices else []
    return SearchResult(total, matches, included, following, preceding)


def _included_devices(tx: Tx, matches: Sequence[Stored]) -> list[Stored]:
    wanted = sorted(
        {
            ref.split("/", 1)[1]
            for m in matches
            if (ref := (m.content.get("device") or {}).get("reference", "")).startswith("Device/")
        }
    )
    included = []
    for device_id in wanted:
        device = tx.read("Device", device_id)
        if device is not None and not device.deleted:
            included.append(device)
    return included


_NO_READING = ("entered-in-error", "cancelled")


def _readings(query: SearchQuery) -> list[ColumnElement[bool]]:
    """Leave out Observations that are no reading, unless a `status` parameter chose."""
    if query.has_status:
        return []
    return [
        not_(
            _has_term(search_tokens, "Observation", "status", search_terms.c.code.in_(_NO_READING))
        )
    ]


def lastn(
    tx: Tx,
    query: SearchQuery,
    zone: tzinfo,
    max_per_code: int,
    codes: Sequence[tuple[str | None, str]] = (),
) -> list[Stored]:
    """`$lastn`: the newest `max_per_code` Observations of each code among the matches.

    An Observation belongs to the group of every code it carries (as `code` search
    matches any coding); with `codes`, only those groups. An entered-in-error or
    cancelled Observation is no reading (`$stats` leaves them out too), so it is
    never the latest value unless the search asks for a `status` itself. The database ranks rows
    per code (ROW_NUMBER) over the index alone and only the chosen bodies are read.
    """
    code = search_tokens.alias("lastn_code")
    code_term = search_terms.alias("lastn_code_term")
    when = search_dates.alias("lastn_date")
    source: Any = resources
    if query.subjects:
        # The patient's Observations first, as a table of their own: joined from the
        # resources, SQLite started from every Observation's date row (20 ms among
        # 6,000 Observations; 0.2 ms from the patient's).
        mine = (
            select(search_references.c.resource_key.label("key"))
            .where(
                search_references.c.term.in_(
                    terms("Observation", "subject", search_terms.c.code.in_(query.subjects))
                )
            )
            .cte("lastn_subject")
            .prefix_with("MATERIALIZED")
        )
        source = mine.join(resources, resources.c.key == mine.c.key)
    joined = (
        source.join(code, code.c.resource_key == resources.c.key)
        .join(
            code_term,
            and_(
                code_term.c.id == code.c.term,
                code_term.c.resource_type == "Observation",
                code_term.c.param == "code",
            ),
        )
        .join(
            when,
            and_(
                when.c.resource_key == resources.c.key,
                when.c.term == param_term("Observation", "date"),
            ),
        )
    )
    wanted: list[ColumnElement[bool]] = [
        code_term.c.code == c if s is None else and_(code_term.c.system == s, code_term.c.code == c)
        for s, c in codes
    ]
    rank = (
        func.row_number()
        .over(
            partition_by=(code_term.c.system, code_term.c.code),
            order_by=(when.c.start_ms.desc(), resources.c.id),
        )
        .label("rank")
    )
    ranked = (
        select(resources.c.id.label("id"), when.c.start_ms.label("start_ms"), rank)
        .select_from(joined)
        .where(*_where(tx, query, zone), or_(*wanted) if wanted else true(), *_readings(query))
        .subquery()
    )
    # id -> its date: an Observation ranked under two codes is read once.
    chosen = dict(
        tx.connection.execute(
            select(ranked.c.id, ranked.c.start_ms).where(ranked.c.rank <= max_per_code)
        ).all()
    )
    if not chosen:
        return []
    rows = list(
        tx.connection.execute(
            select(resources).where(
                resources.c.resource_type == "Observation",
                resources.c.id.in_(list(chosen)),
                resources.c.deleted.is_(False),
            )
        ).all()
    )
    rows.sort(key=lambda r: (-chosen[r.id], r.id))  # newest first
    return [
        Stored("Observation", r.id, r.version_id, r.last_updated, False, json.loads(r.content))
        for r in rows
    ]


def history_page(
    tx: Tx, resource_type: str, resource_id: str, count: int, cursor: Cursor | None
) -> tuple[list[Stored], int, Cursor | None]:
    """A page of a resource's versions, newest first: (versions, total, next page).

    The cursor holds the last version shown; versions only ever grow, so pages never shift.
    """
    table = versions_query(resource_type, resource_id)
    versions = table.c
    total = cursor.total if cursor is not None and cursor.total is not None else None
    if total is None:
        total = int(tx.connection.execute(select(func.count()).select_from(table)).scalar_one())
    statement = select(table)
    if cursor is not None:
        if cursor.id != resource_id or cursor.backward:
            raise SearchError("_cursor belongs to another history")
        statement = statement.where(versions.version_id < cursor.key)
    rows = tx.connection.execute(
        statement.order_by(versions.version_id.desc()).limit(count + 1)
    ).all()
    more = len(rows) > count
    page = [
        Stored(
            resource_type,
            r.id,
            r.version_id,
            r.last_updated,
            bool(r.deleted),
            json.loads(r.content) if r.content else {},
        )
        for r in rows[:count]
    ]
    following = Cursor("", page[-1].version_id, resource_id, total) if more and page else None
    return page, total, following

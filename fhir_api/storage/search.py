"""FHIR search on the index tables.

Parameter values are parsed (pure) into filters, and filters into one SQL
query of EXISTS clauses over the index tables. Several values in one parameter
(comma-separated) are ORed, repeated parameters are ANDed, as FHIR R4 says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, exists, func, or_, select

from ..dates import parse_date_range
from .indexing import normalize_string
from .resources import Stored, Tx
from .schema import resources, search_dates, search_references, search_strings, search_tokens

__all__ = ["SEARCH_PARAMETERS", "SearchError", "SearchQuery", "parse_search", "run_search"]


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
}
_INDEX_PARAM = {"patient": "subject"}
CONTROL = {"_count", "_offset", "_sort", "_include", "_summary", "_format", "_total", "_elements"}
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


@dataclass
class SearchQuery:
    """A parsed search."""

    resource_type: str
    clauses: list[ColumnElement[bool]] = field(default_factory=list)
    count: int = 50
    offset: int = 0
    sort_date: str | None = None  # "asc" or "desc"
    include_devices: bool = False
    summary_count: bool = False


def _split(value: str) -> list[str]:
    # Commas separate alternatives unless escaped as "\,".
    parts, current, escaped = [], "", False
    for char in value:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _indexed(
    table: Table, resource_type: str, param: str, matches: ColumnElement[bool]
) -> ColumnElement[bool]:
    """The resource has a row in a search index table for `param` that `matches`."""
    return exists().where(
        table.c.resource_type == resource_type,
        table.c.resource_id == resources.c.id,
        table.c.param == param,
        matches,
    )


def _token_clause(resource_type: str, param: str, value: str) -> ColumnElement[bool]:
    alternatives = []
    for item in _split(value):
        if "|" in item:
            system, code = item.split("|", 1)
            condition = search_tokens.c.system == system if system else search_tokens.c.system == ""
            alternatives.append(
                and_(condition, search_tokens.c.code == code) if code else condition
            )
        else:
            alternatives.append(search_tokens.c.code == item)
    return _indexed(search_tokens, resource_type, param, or_(*alternatives))


def _reference_clause(
    resource_type: str, param: str, value: str, target_type: str | None
) -> ColumnElement[bool]:
    targets = []
    for item in _split(value):
        item = item.rsplit("/_history/", 1)[0]
        parts = item.split("/")
        if len(parts) >= 2:
            targets.append(f"{parts[-2]}/{parts[-1]}")
        elif target_type:
            targets.append(f"{target_type}/{item}")
        else:
            raise SearchError(f"{param}={item!r}: give the type, e.g. Patient/{item}")
    return _indexed(
        search_references, resource_type, param, search_references.c.target.in_(targets)
    )


def _date_clause(resource_type: str, param: str, value: str, zone: tzinfo) -> ColumnElement[bool]:
    alternatives = []
    for item in _split(value):
        prefix = item[:2] if item[:2] in _PREFIXES else "eq"
        text = item[2:] if item[:2] in _PREFIXES else item
        try:
            wanted = parse_date_range(text, zone)
        except ValueError as exc:
            raise SearchError(f"{param}={item!r}: {exc}") from None
        lo, hi = wanted.start_ms, wanted.end_ms
        start, end = search_dates.c.start_ms, search_dates.c.end_ms
        conditions = {
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
        alternatives.append(conditions[prefix])
    return _indexed(search_dates, resource_type, param, or_(*alternatives))


def _string_clause(
    resource_type: str, param: str, value: str, modifier: str | None
) -> ColumnElement[bool]:
    alternatives = []
    for item in _split(value):
        wanted = normalize_string(item)
        if modifier == "exact":
            alternatives.append(search_strings.c.value == wanted)
        elif modifier == "contains":
            alternatives.append(search_strings.c.value.contains(wanted, autoescape=True))
        else:
            alternatives.append(search_strings.c.value.startswith(wanted, autoescape=True))
    return _indexed(search_strings, resource_type, param, or_(*alternatives))


def parse_search(
    resource_type: str,
    params: Sequence[tuple[str, str]],
    zone: tzinfo,
    *,
    default_count: int = 50,
    max_count: int = 1000,
) -> SearchQuery:
    """Parse search parameters.

    Raises:
        SearchError: an unknown parameter or an unreadable value (strict: a typo must not
            silently return everything).
    """
    known = SEARCH_PARAMETERS.get(resource_type)
    if known is None:
        raise SearchError(f"search on {resource_type} is not supported")
    query = SearchQuery(resource_type, count=default_count)
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        if name in CONTROL:
            _control(query, name, value, max_count)
            continue
        kind = known.get(name)
        if kind is None:
            raise SearchError(f"unknown search parameter {raw_name!r} for {resource_type}")
        if value == "":
            raise SearchError(f"search parameter {raw_name!r} has no value")
        index_param = _INDEX_PARAM.get(name, name)
        if kind == "id":
            query.clauses.append(resources.c.id.in_(_split(value)))
        elif kind == "token":
            query.clauses.append(_token_clause(resource_type, index_param, value))
        elif kind.startswith("reference"):
            target = kind.partition(":")[2] or (modifier or None)
            query.clauses.append(_reference_clause(resource_type, index_param, value, target))
        elif kind == "date":
            query.clauses.append(_date_clause(resource_type, index_param, value, zone))
        elif kind == "string":
            query.clauses.append(
                _string_clause(resource_type, index_param, value, modifier or None)
            )
    return query


def _control(query: SearchQuery, name: str, value: str, max_count: int) -> None:
    if name in ("_count", "_offset"):
        try:
            number = int(value)
        except ValueError:
            raise SearchError(f"{name}={value!r} is not a whole number") from None
        if number < 0:
            raise SearchError(f"{name} must not be negative")
        if name == "_count":
            query.count = min(number, max_count)
        else:
            query.offset = number
    elif name == "_sort":
        if value not in ("date", "-date") or query.resource_type != "Observation":
            raise SearchError(f"_sort={value!r}: only date and -date on Observation")
        query.sort_date = "desc" if value.startswith("-") else "asc"
    elif name == "_include":
        if value != "Observation:device" or query.resource_type != "Observation":
            raise SearchError(f"_include={value!r}: only Observation:device")
        query.include_devices = True
    elif name == "_summary":
        if value != "count":
            raise SearchError(f"_summary={value!r}: only count")
        query.summary_count = True


@dataclass
class SearchResult:
    """Matches, their total, and included resources."""

    total: int
    matches: list[Stored]
    included: list[Stored]


def run_search(tx: Tx, query: SearchQuery) -> SearchResult:
    """Run a parsed search."""
    where = [
        resources.c.resource_type == query.resource_type,
        resources.c.deleted.is_(False),
        *query.clauses,
    ]
    total = int(
        tx.connection.execute(
            select(func.count()).select_from(resources).where(*where)
        ).scalar_one()
    )
    if query.summary_count or query.count == 0:
        return SearchResult(total, [], [])
    statement = select(resources).where(*where)
    if query.sort_date:
        sort_key = (
            select(func.min(search_dates.c.start_ms))
            .where(
                search_dates.c.resource_type == query.resource_type,
                search_dates.c.resource_id == resources.c.id,
                search_dates.c.param == "date",
            )
            .scalar_subquery()
        )
        order = sort_key.desc() if query.sort_date == "desc" else sort_key.asc()
        statement = statement.order_by(order, resources.c.id)
    else:
        statement = statement.order_by(resources.c.last_updated, resources.c.id)
    rows = tx.connection.execute(statement.limit(query.count).offset(query.offset)).all()
    matches = [
        Stored(
            query.resource_type, r.id, r.version_id, r.last_updated, False, json.loads(r.content)
        )
        for r in rows
    ]
    included: list[Stored] = []
    if query.include_devices:
        wanted = sorted(
            {
                ref.split("/", 1)[1]
                for m in matches
                if (ref := (m.content.get("device") or {}).get("reference", "")).startswith(
                    "Device/"
                )
            }
        )
        for device_id in wanted:
            device = tx.read("Device", device_id)
            if device is not None and not device.deleted:
                included.append(device)
    return SearchResult(total, matches, included)


def lastn(tx: Tx, query: SearchQuery, max_per_code: int) -> list[Stored]:
    """`$lastn`: the newest `max_per_code` Observations of each code among the matches."""
    where = [
        resources.c.resource_type == "Observation",
        resources.c.deleted.is_(False),
        *query.clauses,
    ]
    ordered = (
        select(resources, search_dates.c.start_ms, search_tokens.c.system, search_tokens.c.code)
        .join(
            search_dates,
            and_(
                search_dates.c.resource_type == "Observation",
                search_dates.c.resource_id == resources.c.id,
                search_dates.c.param == "date",
            ),
        )
        .join(
            search_tokens,
            and_(
                search_tokens.c.resource_type == "Observation",
                search_tokens.c.resource_id == resources.c.id,
                search_tokens.c.param == "code",
            ),
        )
        .where(*where)
        .order_by(search_dates.c.start_ms.desc(), resources.c.id)
    )
    per_code: dict[tuple[str, str], int] = {}
    seen: dict[str, Stored] = {}
    for row in tx.connection.execute(ordered):
        # An Observation is grouped by its first coding (LOINC first in ours).
        key = (row.system, row.code)
        if row.id in seen:
            continue
        first = _first_coding(row.content)
        if first != key:
            continue
        if per_code.get(key, 0) >= max_per_code:
            continue
        per_code[key] = per_code.get(key, 0) + 1
        seen[row.id] = Stored(
            "Observation", row.id, row.version_id, row.last_updated, False, json.loads(row.content)
        )
    return list(seen.values())


def _first_coding(content: str) -> tuple[str, str]:
    document: dict[str, Any] = json.loads(content)
    coding = (document.get("code", {}).get("coding") or [{}])[0]
    return coding.get("system", ""), coding.get("code", "")

"""AuditEvent search parameters: the query string checked and turned into an `AuditQuery`.

Pure. Parameters (each may repeat, AND; commas inside one value, OR):

- `patient`: `Patient/123` or `123`: events that touched that patient;
- `agent`: the agent string (`staff:alice`, `gateway:home-12`, `system:ops`);
- `date`: when recorded, with `eq` (default), `ge`, `gt`, `le` or `lt`; a date or
  a time without an offset is read in the server's zone;
- `action` (C R U D E), `subtype` (`read`, `search`, `$stats`, `login-failed`, ...),
  `outcome` (0 4 8 12);
- `_count` (1 to 1000) and `_cursor` (from a next link: where the page starts).

Results come newest first; anything else is a 400 naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo

from ..dates import instants, parse_date
from ..errors import BadRequest

__all__ = ["MAX_COUNT", "PARAMETERS", "AuditQuery", "parse_audit_search"]

MAX_COUNT = 1_000
PARAMETERS = ("patient", "agent", "date", "action", "subtype", "outcome")
_PREFIXES = ("eq", "ge", "gt", "le", "lt")
_ACTIONS = frozenset("CRUDE")
_OUTCOMES = frozenset({"0", "4", "8", "12"})
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_MAX_VALUES = 100


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A checked AuditEvent search: each filter is ANDed, its values ORed."""

    count: int
    # (field, values): field is patient, agent, action, subtype or outcome.
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Each date parameter: its alternatives as (prefix, start_ms, end_ms).
    dates: tuple[tuple[tuple[str, int, int], ...], ...] = ()
    before: int | None = None  # only events numbered below this (the cursor)
    params: tuple[tuple[str, str], ...] = field(default=())


def _split(name: str, value: str) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise BadRequest(f"{name}={value!r}: an empty value", expression=[name])
    if len(items) > _MAX_VALUES:
        raise BadRequest(f"{name}: at most {_MAX_VALUES} values", expression=[name])
    return items


def _patient(value: str) -> str:
    patient_id = value.removeprefix("Patient/")
    if not _ID.match(patient_id):
        raise BadRequest(f"patient={value!r}: give Patient/[id] or [id]", expression=["patient"])
    return patient_id


def _date(value: str, zone: tzinfo) -> tuple[str, int, int]:
    prefix = value[:2] if value[:2].isalpha() else "eq"
    text = value[2:] if value[:2].isalpha() else value
    if prefix not in _PREFIXES:
        raise BadRequest(
            f"date={value!r}: the prefixes here are {', '.join(_PREFIXES)}", expression=["date"]
        )
    try:
        span = instants(parse_date(text), zone)
    except ValueError as exc:
        raise BadRequest(f"date={value!r}: {exc}", expression=["date"]) from None
    return prefix, span.start_ms, span.end_ms


def _whole(name: str, value: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise BadRequest(f"{name}={value!r}: a whole number is needed", expression=[name])
    number = int(value)
    if not low <= number <= high:
        raise BadRequest(f"{name}={value!r}: between {low} and {high}", expression=[name])
    return number


def _check(name: str, items: list[str], allowed: frozenset[str]) -> None:
    for item in items:
        if item not in allowed:
            raise BadRequest(
                f"{name}={item!r}: one of {', '.join(sorted(allowed))}", expression=[name]
            )


def parse_audit_search(
    params: Sequence[tuple[str, str]], zone: tzinfo, default_count: int
) -> AuditQuery:
    """The query a search's parameters ask for (the cursor and `_count` apart).

    Raises:
        BadRequest: an unknown parameter or modifier, or a value that cannot be searched.
    """
    filters: list[tuple[str, tuple[str, ...]]] = []
    dates: list[tuple[tuple[str, int, int], ...]] = []
    count = min(default_count, MAX_COUNT)
    before: int | None = None
    kept: list[tuple[str, str]] = []
    for name, value in params:
        if name == "_count":
            count = _whole(name, value, 1, MAX_COUNT)
            continue
        if name == "_cursor":
            before = _whole(name, value, 1, 2**62)
            continue
        kept.append((name, value))
        if name == "date":
            dates.append(tuple(_date(item, zone) for item in _split(name, value)))
            continue
        if name not in PARAMETERS:
            raise BadRequest(
                f"{name!r} is not an AuditEvent search parameter here "
                f"(these are: {', '.join(PARAMETERS)}, _count)",
                expression=[name],
            )
        items = _split(name, value)
        if name == "patient":
            items = [_patient(item) for item in items]
        elif name == "action":
            _check(name, items, _ACTIONS)
        elif name == "outcome":
            _check(name, items, _OUTCOMES)
        filters.append((name, tuple(dict.fromkeys(items))))
    return AuditQuery(
        count=count,
        filters=tuple(filters),
        dates=tuple(dates),
        before=before,
        params=tuple(kept),
    )

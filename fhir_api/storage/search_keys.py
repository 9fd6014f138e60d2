"""The search index's small ids: terms, and the SQL that finds them (issue 15).

Index rows name a resource by its integer key (`resources.key`) and what they say of
it by a term id (`search_terms`: type, param, system, code). Readers turn a search
into term ids with the subqueries here, and the index rows into resources by key.
Writers get or create the ids of a batch's terms with `resolve_terms`.

Term ids are remembered per engine once the transaction that found or made them has
committed (`remember_terms`): a term is never deleted or renumbered, except by a
migration, which forgets them (`forget_terms`, called by `database.migrate`). Without
this, looking a reading's ten-odd terms up took about a quarter of its write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, Connection, Engine, Select, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from .indexing import ZONE_PARAM
from .schema import resources, search_terms, search_tokens
from .series.statements import run

__all__ = [
    "IDENTIFIER_PARAM",
    "Term",
    "forget_terms",
    "identifier_terms",
    "param_term",
    "patient_zone_rows",
    "remember_terms",
    "resolve_terms",
    "terms",
]

# `identifier` is answered from the `identifiers` table (which de-duplication needs
# anyway), not from `search_tokens` rows repeating it (issue 15).
IDENTIFIER_PARAM = "identifier"

Term = tuple[str, str, str, str]  # resource_type, param, system, code (a reference: "", target)


def terms(resource_type: str, param: str, *conditions: ColumnElement[bool]) -> Select[Any]:
    """The ids of `resource_type`'s terms for `param` that meet `conditions` (on search_terms)."""
    return select(search_terms.c.id).where(
        search_terms.c.resource_type == resource_type, search_terms.c.param == param, *conditions
    )


def param_term(resource_type: str, param: str) -> ColumnElement[Any]:
    """The id of a date or string parameter's own term (NULL: no resource has that parameter)."""
    return terms(
        resource_type, param, search_terms.c.system == "", search_terms.c.code == ""
    ).scalar_subquery()


def identifier_terms(resource_type: str, *conditions: ColumnElement[bool]) -> Select[Any]:
    """The ids of `resource_type`'s identifier systems (terms: type, "identifier", system, "")."""
    return terms(resource_type, IDENTIFIER_PARAM, search_terms.c.code == "", *conditions)


def patient_zone_rows() -> Select[Any]:
    """(Patient id, tz-code) of every Patient with a tz-code (its `_tz` token); callers
    narrow it on `resources` (the Patient's row)."""
    return (
        select(resources.c.id, search_terms.c.code)
        .select_from(
            search_terms.join(search_tokens, search_tokens.c.term == search_terms.c.id).join(
                resources, resources.c.key == search_tokens.c.resource_key
            )
        )
        .where(search_terms.c.resource_type == "Patient", search_terms.c.param == ZONE_PARAM)
    )


_COLUMNS = ("resource_type", "param", "system", "code")


def _find_statement() -> Select[Any]:
    """`SELECT id ... WHERE` every column of a term (binds named after the columns)."""
    return select(search_terms.c.id).where(
        *(search_terms.c[name] == bindparam(name) for name in _COLUMNS)
    )


def _found(connection: Connection, wanted: list[Term]) -> dict[Term, int]:
    """The ids of those of `wanted` that exist: one seek of ux_search_terms each, the
    statement compiled once (statements.py's reason: SQLAlchemy's per-statement work
    cost more than the look-up, 8 ms a reading as one statement with a tuple IN list)."""
    found: dict[Term, int] = {}
    for term in wanted:
        values = dict(zip(_COLUMNS, term, strict=True))
        row = run(connection, "search term", _find_statement, values).first()
        if row is not None:
            found[term] = int(row[0])
    return found


_KNOWN: WeakKeyDictionary[Engine, dict[Term, int]] = WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()


def remember_terms(engine: Engine, ids: Mapping[Term, int]) -> None:
    """Keep term ids a committed transaction found or created, for the next writes."""
    if ids:
        with _KNOWN_LOCK:
            _KNOWN.setdefault(engine, {}).update(ids)


def forget_terms(engine: Engine) -> None:
    """Forget the remembered term ids of `engine` (its schema was migrated)."""
    with _KNOWN_LOCK:
        _KNOWN.pop(engine, None)


def resolve_terms(connection: Connection, wanted: Iterable[Term]) -> dict[Term, int]:
    """The id of each term in `wanted`, creating those that are new.

    A term two transactions create at once is inserted by one of them: the other's
    INSERT waits for it and does nothing (ON CONFLICT DO NOTHING), then reads its id.
    The caller hands the ids to `remember_terms` once its transaction has committed.
    """
    unique = sorted(set(wanted))
    if not unique:
        return {}
    known = _KNOWN.get(connection.engine, {})
    found = {term: known[term] for term in unique if term in known}
    if len(found) == len(unique):
        return found
    found.update(_found(connection, [t for t in unique if t not in found]))
    missing = [t for t in unique if t not in found]
    if missing:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        rows = [{"resource_type": k, "param": p, "system": s, "code": c} for k, p, s, c in missing]
        connection.execute(dialect.insert(search_terms).on_conflict_do_nothing(), rows)
        found.update(_found(connection, missing))
    return found

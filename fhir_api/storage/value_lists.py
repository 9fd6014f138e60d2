"""`column IN (a long list)` as ONE bound value, for the lists access control writes into SQL.

A doctor with 1,000 patients put 1,000 bound parameters into every search's access
clause (and 1,000 gateways beside them): SQLAlchemy expanded and rendered each one per
statement, about 19,000 values per patient page (issue 12: the page took 300 ms, most
of it there). Sent as one value instead, a JSON array (read by SQLite's `json_each`,
PostgreSQL's `jsonb_array_elements_text`), the statement is as short for 1,000 patients
as for one, is compiled once and cached, and both databases read the list once per
statement, not once per row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, String, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = ["in_values"]


class JsonList(ColumnElement[str]):
    """A subquery of the strings in one bound JSON array (see the module's docstring).

    The list is an ordinary bound parameter of the element, so a statement with it is
    compiled once and cached like any other: only the parameter's value changes.
    """

    type = String()
    inherit_cache = True
    _traverse_internals = [("values", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, values: Iterable[str]) -> None:
        self.values: BindParameter[str] = bindparam(
            None, json.dumps(sorted(set(values))), type_=String(), unique=True
        )


def in_values(column: ColumnElement[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """`column` is one of `values` (an empty list matches nothing).

    A comparison operator, so the databases plan it as the IN of a subquery (SQLite
    would not for a bare boolean, which SQLAlchemy writes as `(...) = 1`).
    """
    return column.op("IN", is_comparison=True)(JsonList(values))


# A bound parameter compiled into a fixed subquery: no value is spliced into the SQL.
@compiles(JsonList)
def _json_each(element: JsonList, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(SELECT value FROM json_each({compiler.process(element.values, **kw)}))"  # noqa: S608


@compiles(JsonList, "postgresql")
def _jsonb_elements(element: JsonList, compiler: SQLCompiler, **kw: Any) -> str:
    values = compiler.process(element.values, **kw)
    return f"(SELECT jsonb_array_elements_text(CAST({values} AS jsonb)))"

"""JSON-level rules `fhir.resources` lets through: nulls, empty values, wrong JSON types.

The checks follow the pinned model classes, so they know which elements are
numbers (a decimal sent as `"128"` is refused, not coerced), booleans, strings
or complex types, and where an array is expected. Each problem names its element.
`check_object` looks at one JSON object's own elements and hands back its
complex children, so the caller decides how to walk (see `elements.py`).
"""

from __future__ import annotations

import decimal
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from ..fhir import FHIRAbstractModel, model_class

__all__ = ["Child", "Issue", "check_object", "has_resource_fields"]

Kind = Literal["number", "integer", "boolean", "string", "complex", "resource"]
Issue = tuple[str, str]  # (diagnostics, expression)


@dataclass(frozen=True, slots=True)
class Child:
    """A complex child element to check next: its JSON object, model class and place."""

    key: str
    index: int | None  # position in the parent's array, None for a single element
    value: dict[str, Any]
    cls: type[FHIRAbstractModel]
    is_resource: bool  # a whole resource (Bundle.entry.resource, contained)
    path: str


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, is_list) of Optional[List[Optional[T]]] and friends."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        elif origin in (list, typing.List):  # noqa: UP006 - the models use typing.List
            is_list = True
            annotation = args[0]
        elif origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation, is_list


@cache
def _fields(cls: type[FHIRAbstractModel]) -> dict[str, tuple[Kind, Any, bool]]:
    result: dict[str, tuple[Kind, Any, bool]] = {}
    for name, info in cls.model_fields.items():
        key = info.alias or name
        inner, is_list = _unwrap(info.annotation)
        kind: Kind
        sub = None
        if inner is bool:
            kind = "boolean"
        elif inner is int:
            kind = "integer"
        elif inner in (decimal.Decimal, float):
            kind = "number"
        elif hasattr(inner, "get_model_klass"):
            sub = inner.get_model_klass()
            kind = "resource" if sub.__name__ in ("Resource", "DomainResource") else "complex"
        else:
            kind = "string"
        result[key] = (kind, sub, is_list)
    return result


@cache
def has_resource_fields(cls: type[FHIRAbstractModel]) -> bool:
    """Whether objects of `cls` may hold whole resources (Bundle entries, contained)."""
    return any(kind == "resource" for kind, _, _ in _fields(cls).values())


def check_object(
    raw: dict[str, Any], cls: type[FHIRAbstractModel], path: str, issues: list[Issue]
) -> list[Child]:
    """Problems of this object's own elements, added to `issues`; its complex children."""
    if not raw:
        issues.append(("an object must not be empty", path))
        return []
    fields = _fields(cls)
    children: list[Child] = []
    for key, value in raw.items():
        if key == "resourceType":
            continue
        spec = fields.get(key)
        where = f"{path}.{key}"
        if spec is None:
            issues.append((f"unknown element {key!r}", where))
            continue
        kind, sub, is_list = spec
        if is_list:
            if not isinstance(value, list):
                issues.append(("must be a JSON array", where))
                continue
            if not value:
                issues.append(("an array must not be empty", where))
                continue
            # In arrays of primitives, null is allowed only to line up with the _element array.
            null_ok = key.startswith("_") or f"_{key}" in raw
            for index, item in enumerate(value):
                if item is None and null_ok:
                    continue
                child = _value(item, kind, sub, f"{where}[{index}]", issues)
                if child is not None:
                    children.append(Child(key, index, item, *child, f"{where}[{index}]"))
        else:
            if isinstance(value, list):
                issues.append(("must not be an array", where))
                continue
            child = _value(value, kind, sub, where, issues)
            if child is not None:
                children.append(Child(key, None, value, *child, where))
    return children


def _value(
    value: Any, kind: Kind, sub: Any, where: str, issues: list[Issue]
) -> tuple[type[FHIRAbstractModel], bool] | None:
    """Check a primitive; for a complex value, its (class, is_resource) to check next."""
    if value is None:
        issues.append(("null is not a FHIR value (leave the element out)", where))
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            issues.append((f"must be a JSON number, not {type(value).__name__} {value!r}", where))
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            issues.append((f"must be a JSON integer, not {value!r}", where))
    elif kind == "boolean":
        if not isinstance(value, bool):
            issues.append((f"must be true or false, not {value!r}", where))
    elif kind == "string":
        if not isinstance(value, str):
            issues.append((f"must be a JSON string, not {type(value).__name__}", where))
        elif not value.strip():
            issues.append(("a string must not be empty or blank", where))
    elif kind == "complex":
        if not isinstance(value, dict):
            issues.append(("must be a JSON object", where))
        else:
            return sub, False
    elif kind == "resource":
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            issues.append(("must be a resource with a resourceType", where))
            return None
        try:
            return model_class(value["resourceType"]), True
        except KeyError:
            issues.append((f"unknown resourceType {value['resourceType']!r}", where))
    return None

"""JSON-level rules `fhir.resources` lets through: nulls, empty values, wrong JSON types.

The walk follows the pinned model classes, so it knows which elements are
numbers (a decimal sent as `"128"` is refused, not coerced), booleans, strings
or complex types, and where an array is expected. Each problem names its element.
"""

from __future__ import annotations

import decimal
import typing
from functools import cache
from typing import Any, Literal

from ..fhir import FHIRAbstractModel, model_class

__all__ = ["check_structure"]

Kind = Literal["number", "integer", "boolean", "string", "complex", "resource"]
Issue = tuple[str, str]  # (diagnostics, expression)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, is_list) of Optional[List[Optional[T]]] and friends."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if (
            origin in (typing.Union, getattr(__import__("types"), "UnionType", None))
            and len(args) == 1
        ):
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


def check_structure(raw: dict[str, Any], cls: type[FHIRAbstractModel], path: str) -> list[Issue]:
    """Problems in a parsed JSON object for the model `cls` (empty when it is clean)."""
    issues: list[Issue] = []
    _walk(raw, cls, path, issues)
    return issues


def _walk(
    raw: dict[str, Any], cls: type[FHIRAbstractModel], path: str, issues: list[Issue]
) -> None:
    if not raw:
        issues.append(("an object must not be empty", path))
        return
    fields = _fields(cls)
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
                _value(item, kind, sub, f"{where}[{index}]", issues)
        else:
            if isinstance(value, list):
                issues.append(("must not be an array", where))
                continue
            _value(value, kind, sub, where, issues)


def _value(value: Any, kind: Kind, sub: Any, where: str, issues: list[Issue]) -> None:
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
            _walk(value, sub, where, issues)
    elif kind == "resource":
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            issues.append(("must be a resource with a resourceType", where))
            return
        try:
            resource_cls = model_class(value["resourceType"])
        except KeyError:
            issues.append((f"unknown resourceType {value['resourceType']!r}", where))
            return
        _walk(value, resource_cls, where, issues)

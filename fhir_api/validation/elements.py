"""One walk per resource: JSON shape, data type rules and the pinned models, element by element.

Each JSON object is checked against its model class: its own elements' shape
(`structure.py`), the rules of its data type (`rules.py`), then its children, and
last the `fhir.resources` model of the object itself, given its children's
already validated models (pydantic takes a model instance of the field's class
as it is). So every element is validated once, by the library, as a whole-resource
`model_validate` would, and no problem of one element hides another's.

Some rules depend on where an element stands, not only on its class: a Quantity
in a SimpleQuantity position (`Range.low`, `referenceRange.high`, ...) may not
have a comparator (sqty-1), so the position picks the data type whose rules
apply (`rules.SIMPLE_QUANTITY`). Rules that depend on the whole resource (ref-1:
`#id` must name a contained resource) are not element rules: `check_references`.

Uploads repeat themselves: every panel from a blood-pressure cuff carries the
same codes, categories, units, device reference and profile. An element below
the resource that passed every check is remembered by its class, position's data
type and exact JSON;
an identical one later costs a lookup instead of a model construction. The
checks depend on nothing but the element's class, the data type its position
gives it and its content, and the memo's key holds all three, so the verdict is
the same; the remembered models are never handed out or changed. Whole resources
(and elements that may hold one) are always checked afresh.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import orjson
from pydantic import ValidationError

from ..fhir import FHIRAbstractModel
from .rules import DATATYPE_RULES, SIMPLE_QUANTITY, check_datatype
from .structure import Issue, check_object, has_resource_fields

__all__ = ["ElementValidator"]

MEMO_SIZE = 4_096  # clean elements remembered, ~4.6 KB each (measured): ~19 MB; emptied when full


def _content_key(raw: Any) -> bytes | None:
    """The exact JSON of an element, or None (not remembered) when orjson cannot write
    it: an integer beyond 64 bits or a lone surrogate, which HTTP bodies never carry
    (refused at parse time) but JSON parsed elsewhere, such as by the CLI, may."""
    try:
        return orjson.dumps(raw)
    except orjson.JSONEncodeError:
        return None


@cache
def _datatype(cls: type[FHIRAbstractModel]) -> str | None:
    """The FHIR data type whose rules apply to `cls` (a profiled type gets its base's)."""
    for base in cls.__mro__:
        if base.__name__ in DATATYPE_RULES:
            return base.__name__
    return None


class ElementValidator:
    """Validates resources element by element, remembering clean elements. Thread-safe."""

    def __init__(self, memo_size: int = MEMO_SIZE) -> None:
        self._memo: dict[tuple[type[FHIRAbstractModel], str | None, bytes], FHIRAbstractModel] = {}
        self._memo_size = memo_size
        self._lock = threading.Lock()
        # Counted without the lock: a lost increment under threads skews a statistic,
        # never a verdict, and two integer additions cost nothing beside a lookup.
        self.hits = 0
        self.misses = 0

    @property
    def hit_rate(self) -> float:
        """The share of remembered-element lookups answered by the memo (bench/ingest.py)."""
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0

    def check(
        self,
        raw: dict[str, Any],
        cls: type[FHIRAbstractModel],
        path: str,
        *,
        entry_resources: bool = True,
    ) -> list[Issue]:
        """Every shape, data type and model problem of the resource `raw` (empty when clean).

        `entry_resources=False` leaves resources inside it (a batch Bundle's entries)
        unchecked: they are validated one by one when each entry is carried out.
        """
        issues: list[Issue] = []
        self._element(raw, cls, path, issues, remember=False, entry_resources=entry_resources)
        return issues

    def _element(
        self,
        raw: dict[str, Any],
        cls: type[FHIRAbstractModel],
        path: str,
        issues: list[Issue],
        *,
        remember: bool,
        entry_resources: bool = True,
        position: str | None = None,
    ) -> FHIRAbstractModel | None:
        """The validated model of one object, or None after adding its problems to `issues`.

        `position` names a data type its place gives it (SimpleQuantity), else None.
        """
        datatype = position or _datatype(cls)
        # The verdict depends on the class, the position's data type and the content.
        content = _content_key(raw) if remember else None
        key = (cls, datatype, content) if content is not None else None
        if key is not None:
            known = self._memo.get(key)
            if known is not None:
                self.hits += 1
                return known
            self.misses += 1
        before = len(issues)
        children = check_object(raw, cls, path, issues)
        if datatype is not None:
            check_datatype(datatype, raw, path, issues)
        prepared = dict(raw)
        for child in children:
            if child.is_resource:
                # Validated with its own class, not the field's generic Resource type.
                prepared.pop(child.key, None)
                if entry_resources:
                    self._element(child.value, child.cls, child.path, issues, remember=False)
                continue
            model = self._element(
                child.value,
                child.cls,
                child.path,
                issues,
                remember=not has_resource_fields(child.cls),
                # A batch's entries hold the resources: pass the choice down to them.
                entry_resources=entry_resources,
                position=SIMPLE_QUANTITY.get((cls.__name__, child.key)),
            )
            if model is None:
                continue
            if child.index is None:
                prepared[child.key] = model
            else:
                if prepared[child.key] is raw[child.key]:
                    prepared[child.key] = list(raw[child.key])
                prepared[child.key][child.index] = model
        if len(issues) > before:
            return None  # the problems below already name their elements
        try:
            model = cls.model_validate(prepared)
        except ValidationError as exc:
            issues += [
                (error["msg"], ".".join([path, *(str(part) for part in error["loc"])]))
                for error in exc.errors()
            ]
            return None
        if key is not None:
            with self._lock:
                if len(self._memo) >= self._memo_size:
                    self._memo.clear()
                self._memo[key] = model
        return model

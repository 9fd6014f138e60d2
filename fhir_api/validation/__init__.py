"""The server's validation layer: what `fhir.resources` misses, then the models, then profiles.

Order: the JSON shape (nulls, empty values, wrong JSON types, unknown elements;
400), the pinned models (400), base rules (required bindings, invariants; 400),
then profiles (vital signs, PHD; 422). All problems of a stage are reported
together, each naming its element.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import BadRequest, FhirError, Unprocessable
from ..fhir import FHIRAbstractModel, model_class
from .profiles import check_profiles
from .rules import check_rules
from .structure import check_structure

__all__ = ["validate_resource"]

SUPPORTED = {"Patient", "Device", "Observation", "Bundle"}


def _raise(error: type[FhirError], issues: list[tuple[str, str]]) -> None:
    (first_text, first_where), *rest = issues
    raise error(
        first_text, expression=[first_where], issues=[(text, [where]) for text, where in rest]
    )


def validate_resource(
    raw: Any, expected_type: str | None = None, *, path: str | None = None
) -> FHIRAbstractModel:
    """Validate a parsed JSON resource; returns the model.

    Raises:
        BadRequest: not a resource of the expected type, or a base-rule violation.
        Unprocessable: a profile violation.
    """
    if not isinstance(raw, dict):
        raise BadRequest("the body must be a JSON object (a FHIR resource)")
    resource_type = raw.get("resourceType")
    if not isinstance(resource_type, str):
        raise BadRequest("resourceType is missing", expression=[path or "resourceType"])
    if expected_type is not None and resource_type != expected_type:
        raise BadRequest(
            f"resourceType {resource_type!r} does not match the URL ({expected_type})",
            expression=[f"{path or resource_type}.resourceType"],
        )
    if resource_type not in SUPPORTED:
        raise BadRequest(f"resourceType {resource_type!r} is not supported by this server")
    where = path or resource_type
    cls = model_class(resource_type)
    issues = check_structure(raw, cls, where)
    if issues:
        _raise(BadRequest, issues)
    try:
        model = cls.model_validate(raw)
    except ValidationError as exc:
        model_issues = [
            (error["msg"], ".".join([where, *(str(p) for p in error["loc"])]))
            for error in exc.errors()
        ]
        _raise(BadRequest, model_issues)
        raise  # unreachable: _raise always raises
    issues = check_rules(raw, where)
    if issues:
        _raise(BadRequest, issues)
    issues = check_profiles(raw, where)
    if issues:
        _raise(Unprocessable, issues)
    return model

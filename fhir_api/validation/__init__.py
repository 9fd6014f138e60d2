"""The server's validation layer: what `fhir.resources` misses, with the models, then profiles.

Order: one walk over the resource's elements checks the JSON shape (nulls, empty
values, wrong JSON types, unknown elements), the data type rules and the pinned
models (400); then the resource's own rules (required bindings, invariants, ref-1;
400), then profiles (vital signs, PHD; 422). Resources in `contained` get the same
rules and profiles as the resource holding them. All problems of a stage are reported
together, each naming its element.
"""

from __future__ import annotations

from typing import Any

from ..errors import BadRequest, FhirError, Unprocessable
from ..fhir import model_class
from .elements import ElementValidator
from .profiles import check_profiles, profile_warnings
from .rules import check_references, check_rules
from .structure import Issue

__all__ = ["SUPPORTED", "Issue", "validate_resource"]

SUPPORTED = {"Patient", "Device", "Observation", "Practitioner", "CareTeam", "Task", "Bundle"}

# One for the process: what it remembers is the verdict on elements, valid for every request.
_ELEMENTS = ElementValidator()


def _raise(error: type[FhirError], issues: list[tuple[str, str]]) -> None:
    (first_text, first_where), *rest = issues
    raise error(
        first_text, expression=[first_where], issues=[(text, [where]) for text, where in rest]
    )


def validate_resource(
    raw: Any, expected_type: str | None = None, *, path: str | None = None
) -> list[Issue]:
    """Validate a parsed JSON resource (a transaction Bundle with every entry's resource).

    Returns:
        Warnings (diagnostics, expression), such as a profile the server does not know.

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
    if resource_type == "Bundle":
        return _validate_bundle(raw, where)
    issues = _ELEMENTS.check(raw, model_class(resource_type), where)
    if issues:
        _raise(BadRequest, issues)
    return _rules_and_profiles(raw, where)


def _rules_and_profiles(raw: dict[str, Any], where: str) -> list[Issue]:
    """The resource's rules and profiles, and the same for each resource it contains;
    its warnings."""
    contained = [
        (inner, f"{where}.contained[{index}]")
        for index, inner in enumerate(raw.get("contained", ()))
        if isinstance(inner, dict)
    ]
    issues = check_rules(raw, where) + check_references(raw, where)
    for inner, inner_where in contained:
        issues += check_rules(inner, inner_where)
    if issues:
        _raise(BadRequest, issues)
    issues = check_profiles(raw, where)
    warnings = profile_warnings(raw, where)
    for inner, inner_where in contained:
        issues += check_profiles(inner, inner_where)
        warnings += profile_warnings(inner, inner_where)
    if issues:
        _raise(Unprocessable, issues)
    return warnings


def _validate_bundle(raw: dict[str, Any], where: str) -> list[Issue]:
    """The Bundle with its entries' resources, then each resource's rules and profiles.

    A batch Bundle's resources are left to the entries: each succeeds or fails on its own.
    """
    batch = raw.get("type") == "batch"
    entries = raw.get("entry", [])
    if not batch and isinstance(entries, list):
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            if isinstance(kind, str) and kind not in SUPPORTED - {"Bundle"}:
                raise BadRequest(
                    f"{kind!r} is not supported in a Bundle",
                    expression=[f"{where}.entry[{index}].resource"],
                )
    issues = _ELEMENTS.check(raw, model_class("Bundle"), where, entry_resources=not batch)
    if issues:
        _raise(BadRequest, issues)
    issues = check_rules(raw, where)
    if issues:
        _raise(BadRequest, issues)
    warnings = profile_warnings(raw, where)
    if batch:
        return warnings
    for index, entry in enumerate(entries):
        resource = entry.get("resource")
        if resource is not None:
            warnings += _rules_and_profiles(resource, f"{where}.entry[{index}].resource")
    return warnings

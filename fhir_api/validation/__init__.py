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
) -> None:
    """Validate a parsed JSON resource (a Bundle with every entry's resource).

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
    if resource_type == "Bundle":
        _validate_bundle(raw, cls, where)
        return
    _model(raw, cls, where)
    _rules_and_profiles(raw, where)


def _model(raw: dict[str, Any], cls: type[FHIRAbstractModel], where: str) -> None:
    try:
        cls.model_validate(raw)
    except ValidationError as exc:
        _raise(
            BadRequest,
            [(e["msg"], ".".join([where, *(str(p) for p in e["loc"])])) for e in exc.errors()],
        )


def _rules_and_profiles(raw: dict[str, Any], where: str) -> None:
    issues = check_rules(raw, where)
    if issues:
        _raise(BadRequest, issues)
    issues = check_profiles(raw, where)
    if issues:
        _raise(Unprocessable, issues)


def _validate_bundle(raw: dict[str, Any], cls: type[FHIRAbstractModel], where: str) -> None:
    """The Bundle shell, then each entry's resource with its own model class.

    Validating entries with their concrete classes costs a third less than letting
    the Bundle model dispatch through its generic Resource type.
    """
    entries = raw.get("entry", [])
    shell = {**raw, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries]}
    if not entries:
        shell.pop("entry")
    _model(shell, cls, where)
    issues = check_rules(raw, where)
    if issues:
        _raise(BadRequest, issues)
    if raw.get("type") == "batch":
        return  # batch entries succeed or fail on their own, validated one by one
    for index, entry in enumerate(entries):
        resource = entry.get("resource")
        if resource is None:
            continue
        entry_where = f"{where}.entry[{index}].resource"
        resource_type = resource["resourceType"]  # the structure walk checked it is there
        if resource_type not in SUPPORTED - {"Bundle"}:
            raise BadRequest(
                f"{resource_type!r} is not supported in a Bundle", expression=[entry_where]
            )
        _model(resource, model_class(resource_type), entry_where)
        _rules_and_profiles(resource, entry_where)

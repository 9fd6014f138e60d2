"""What the CapabilityStatement, the OperationDefinitions and the OpenAPI document say
about DetectedIssue (the alerts, `alerts/routes.py`); pure data, cheap to import.

`capability.py` and `openapi.py` add these in one line each, so the alerts' entries
stay in this package, beside the routes they describe.
"""

from __future__ import annotations

from typing import Any

from .model import Status
from .resources import CONDITIONS

__all__ = ["MAX_COUNT", "OPERATION_DEFINITIONS", "capability_entry", "openapi_paths"]

MAX_COUNT = 1000
_STATUSES = sorted(s.value for s in Status)
_SORTS = ["-identified", "identified"]

# --- what the CapabilityStatement and the OpenAPI document say --------------------------

_SEARCH = [
    ("patient", "reference", "alerts of this Patient (Patient/id or id)"),
    ("status", "token", "the alert's state: open, acknowledged or resolved"),
    ("code", "token", f"the condition, e.g. bp-urgent (system {CONDITIONS})"),
    ("identified", "date", "when it opened, with eq, ge, gt, le or lt"),
    ("_sort", "string", "identified or -identified; default: open first, most severe, oldest"),
    ("_count", "number", f"page size (1 to {MAX_COUNT})"),
    ("_offset", "number", "where a page starts (from next links)"),
]


def capability_entry(base: str) -> dict[str, Any]:
    """The CapabilityStatement's DetectedIssue entry."""
    return {
        "type": "DetectedIssue",
        "documentation": "Alerts (issue 13): the rules' records, read-only; acknowledged "
        "and resolved with $acknowledge and $resolve. Staff see their care teams' patients.",
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {"name": name, "type": kind, "documentation": text} for name, kind, text in _SEARCH
        ],
        "operation": [
            {
                "name": "acknowledge",
                "definition": f"{base}/OperationDefinition/DetectedIssue-acknowledge",
            },
            {"name": "resolve", "definition": f"{base}/OperationDefinition/DetectedIssue-resolve"},
        ],
    }


def openapi_paths(
    query: Any, path: Any, responses: Any, fmt: dict[str, Any], errors_read: Any, errors_write: Any
) -> dict[str, Any]:
    """The OpenAPI paths of DetectedIssue (built with openapi.py's own helpers)."""
    string = {"type": "string"}
    bundle = {"$ref": "#/components/schemas/Bundle"}
    issue = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "const": "DetectedIssue"}},
    }
    parameters_body = {
        "required": False,
        "content": {
            media: {"schema": {"$ref": "#/components/schemas/Parameters"}}
            for media in ("application/fhir+json", "application/json")
        },
    }
    identifier = path("id", {"type": "string", "pattern": "^[A-Za-z0-9\\-\\.]{1,64}$"})

    def operation(name: str, summary: str) -> dict[str, Any]:
        return {
            "post": {
                "operationId": f"{name}DetectedIssue",
                "summary": summary,
                "parameters": [identifier, fmt],
                "requestBody": parameters_body,
                "responses": responses({200: issue}, errors_write),
            }
        }

    return {
        "/fhir/DetectedIssue": {
            "get": {
                "operationId": "searchDetectedIssue",
                "summary": "search the alerts the caller may see",
                "parameters": [
                    query("patient", string, "Patient/id or id", example="Patient/example"),
                    query(
                        "status",
                        {"type": "string", "enum": _STATUSES},
                        "open, acknowledged or resolved",
                    ),
                    query("code", string, "the condition", example="bp-urgent"),
                    query(
                        "identified",
                        string,
                        "when it opened; eq, ge, gt, le, lt",
                        example="ge2026-11-01",
                    ),
                    query("_sort", {"type": "string", "enum": _SORTS}, "the order"),
                    query(
                        "_count",
                        {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
                        "page size",
                        example=10,
                    ),
                    query(
                        "_offset", {"type": "integer", "minimum": 0, "maximum": 10**8}, "page start"
                    ),
                    fmt,
                ],
                "responses": responses({200: bundle}, errors_read),
            }
        },
        "/fhir/DetectedIssue/{id}": {
            "get": {
                "operationId": "readDetectedIssue",
                "summary": "read one alert as a DetectedIssue",
                "parameters": [identifier, fmt],
                "responses": responses({200: issue}, errors_read),
            }
        },
        "/fhir/DetectedIssue/{id}/$acknowledge": operation(
            "acknowledge", "acknowledge an alert (Parameters: note)"
        ),
        "/fhir/DetectedIssue/{id}/$resolve": operation(
            "resolve", "resolve an alert by hand (Parameters: note, required)"
        ),
    }


def _operation_definition(code: str, title: str, note_min: int) -> Any:
    def build(base: str) -> dict[str, Any]:
        return {
            "resourceType": "OperationDefinition",
            "id": f"DetectedIssue-{code}",
            "url": f"{base}/OperationDefinition/DetectedIssue-{code}",
            "name": f"DetectedIssue{code.capitalize()}",
            "title": title,
            "status": "active",
            "kind": "operation",
            "description": f"{title} (issue 13), recorded on the DetectedIssue's mitigation "
            "and in the audit trail. 404: no such alert the caller may see; 409: the "
            "alert's state does not allow it.",
            "affectsState": True,
            "code": code,
            "resource": ["DetectedIssue"],
            "system": False,
            "type": False,
            "instance": True,
            "parameter": [
                {
                    "name": "note",
                    "use": "in",
                    "min": note_min,
                    "max": "1",
                    "type": "string",
                    "documentation": "what was done, or why (at most 2000 characters)",
                },
                {
                    "name": "return",
                    "use": "out",
                    "min": 1,
                    "max": "1",
                    "type": "DetectedIssue",
                    "documentation": "the alert after the change",
                },
            ],
        }

    return build


OPERATION_DEFINITIONS = {
    "DetectedIssue-acknowledge": _operation_definition("acknowledge", "Acknowledge an alert", 0),
    "DetectedIssue-resolve": _operation_definition("resolve", "Resolve an alert by hand", 1),
}

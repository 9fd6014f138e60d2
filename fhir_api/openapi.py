"""The OpenAPI document at `/openapi.json`: the FHIR interactions as they really are.

FastAPI would describe `/fhir/{resource_type}` with no query parameters and no
body, because the handlers read them from the request themselves (FHIR search
parameters depend on the type). This document spells out one path per supported
type with that type's search parameters, the result parameters, the request
bodies and the statuses each interaction answers, from the same tables the
server uses (`SEARCH_PARAMETERS`), so it cannot drift from them. Tools such as
schemathesis and client generators read it; FHIR clients read `/fhir/metadata`.
"""

from __future__ import annotations

from typing import Any

from .alerts.conformance import openapi_paths as alert_paths
from .capability import software_release
from .storage.search import SEARCH_PARAMETERS

__all__ = ["openapi_document"]

_FHIR_JSON = "application/fhir+json"
_ID = {"type": "string", "pattern": "^[A-Za-z0-9\\-\\.]{1,64}$"}
_OUTCOME_REF = {"$ref": "#/components/schemas/OperationOutcome"}
_REASONS = {
    200: "OK",
    201: "Created",
    204: "Deleted",
    400: "Invalid request or resource (OperationOutcome)",
    401: "No, unknown or revoked bearer token",
    403: "The token's role may not do this",
    404: "Unknown resource type or id",
    405: "Method not allowed",
    406: "Only FHIR JSON is served",
    409: "Conflict (identifier taken, concurrent change)",
    410: "The resource was deleted",
    412: "If-Match or conditional create failed",
    413: "Body or Bundle too large",
    415: "Only FHIR JSON bodies are read",
    422: "The resource breaks a profile it declares",
}
_ERRORS_READ = (400, 401, 403, 404, 406, 410)
_ERRORS_WRITE = (400, 401, 403, 404, 406, 409, 412, 413, 415, 422)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {_FHIR_JSON: {"schema": schema}, "application/json": {"schema": schema}}


def _responses(ok: dict[int, dict[str, Any] | None], errors: tuple[int, ...]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, schema in ok.items():
        answer: dict[str, Any] = {"description": _REASONS[status]}
        if schema is not None:
            answer["content"] = _json(schema)
        answers[str(status)] = answer
    for status in errors:
        answers[str(status)] = {"description": _REASONS[status], "content": _json(_OUTCOME_REF)}
    return answers


def _resource(resource_type: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "const": resource_type}},
    }


def _query(
    name: str, schema: dict[str, Any], text: str, required: bool = False, example: Any = None
) -> dict[str, Any]:
    parameter = {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": text,
    }
    if example is not None:
        parameter["example"] = example
    return parameter


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


_FORMAT = _query(
    "_format",
    {"type": "string", "enum": ["json", "application/json", "application/fhir+json"]},
    "response format; only JSON",
)
_SEARCH_TEXT = {
    "token": "[system|]code, comma-separated for OR; modifiers as the CapabilityStatement says",
    "reference": "Type/id or id",
    "date": "a date or date-time with an optional prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)",
    "string": "starts with, ignoring case and accents",
    "id": "logical id",
}


_SEARCH_EXAMPLE = {
    "token": "http://loinc.org|8480-6",
    "reference": "Patient/example",
    "date": "ge2024-10-01",
    "string": "Tanaka",
    "id": "example",
}


# Where a kind's example would not fit the parameter: (type, name) -> example.
_PARAMETER_EXAMPLE = {
    ("Practitioner", "active"): "true",
    ("CareTeam", "status"): "active",
    ("CareTeam", "participant"): "Practitioner/example",
    ("Task", "status"): "completed",
    ("Task", "intent"): "order",
    ("Task", "code"): "http://homevitals.org/fhir/CodeSystem/task|vitals-review",
    ("Task", "owner"): "Practitioner/example",
    ("Task", "requester"): "Practitioner/example",
    ("Communication", "status"): "completed",
    ("Communication", "category"): "http://homevitals.org/fhir/CodeSystem/patient-request|call-me",
    ("Communication", "priority"): "asap",
    ("Communication", "recipient"): "CareTeam/example",
    ("Communication", "identifier"): "http://homevitals.org/fhir/sid/call-button-press|gw-1",
}


def _search_parameters(resource_type: str) -> list[dict[str, Any]]:
    params = [
        _query(
            name,
            {"type": "string"},
            _SEARCH_TEXT[kind.split(":")[0]],
            example=_PARAMETER_EXAMPLE.get(
                (resource_type, name), _SEARCH_EXAMPLE[kind.split(":")[0]]
            ),
        )
        for name, kind in SEARCH_PARAMETERS[resource_type].items()
    ]
    params += [
        _query("_count", {"type": "integer", "minimum": 0}, "page size (at most 1000)", example=10),
        _query(
            "_offset",
            {"type": "integer", "minimum": 0},
            "matches to skip (from next links)",
            example=10,
        ),
        _query("_summary", {"type": "string", "enum": ["count"]}, "count only"),
        _query(
            "_total",
            {"type": "string", "enum": ["none", "estimate", "accurate"]},
            "whether to count the matches (accurate recounts on every page)",
        ),
        _query(
            "_elements",
            {"type": "string"},
            "comma-separated top-level elements to return (mandatory ones are kept)",
            example="id,status",
        ),
        _FORMAT,
    ]
    if resource_type == "Observation":
        params += [
            _query("_sort", {"type": "string", "enum": ["date", "-date"]}, "by effective time"),
            _query("_include", {"type": "string", "enum": ["Observation:device"]}, "the devices"),
        ]
    return params


def _type_paths(resource_type: str) -> dict[str, Any]:
    resource = _resource(resource_type)
    bundle = {"$ref": "#/components/schemas/Bundle"}
    rid = _path("id", _ID)
    return {
        f"/fhir/{resource_type}": {
            "get": {
                "operationId": f"search{resource_type}",
                "summary": f"search-type: {resource_type}",
                "parameters": _search_parameters(resource_type),
                "responses": _responses({200: bundle}, _ERRORS_READ),
            },
            "post": {
                "operationId": f"create{resource_type}",
                "summary": f"create (or conditional create with If-None-Exist): {resource_type}",
                "parameters": [
                    {
                        "name": "If-None-Exist",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "search query (identifier=system|value)",
                    }
                ],
                "requestBody": {"required": True, "content": _json(resource)},
                "responses": _responses({200: resource, 201: resource}, _ERRORS_WRITE),
            },
        },
        f"/fhir/{resource_type}/{{id}}": {
            "get": {
                "operationId": f"read{resource_type}",
                "summary": f"read: {resource_type}",
                "parameters": [rid, _FORMAT],
                "responses": _responses({200: resource}, _ERRORS_READ),
            },
            "put": {
                "operationId": f"update{resource_type}",
                "summary": f"update (or create with the client's id): {resource_type}",
                "parameters": [
                    rid,
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": 'version ETag, W/"n"',
                    },
                ],
                "requestBody": {"required": True, "content": _json(resource)},
                "responses": _responses({200: resource, 201: resource}, _ERRORS_WRITE),
            },
            "delete": {
                "operationId": f"delete{resource_type}",
                "summary": f"delete: {resource_type}",
                "parameters": [rid],
                "responses": _responses({204: None}, (400, 401, 403, 404, 406, 409)),
            },
        },
        f"/fhir/{resource_type}/{{id}}/_history": {
            "get": {
                "operationId": f"history{resource_type}",
                "summary": f"history-instance: {resource_type}",
                "parameters": [rid, _FORMAT],
                "responses": _responses({200: bundle}, _ERRORS_READ),
            }
        },
        f"/fhir/{resource_type}/{{id}}/_history/{{vid}}": {
            "get": {
                "operationId": f"vread{resource_type}",
                "summary": f"vread: {resource_type}",
                "parameters": [
                    rid,
                    _path("vid", {"type": "string", "pattern": "^[0-9]+$"}),
                    _FORMAT,
                ],
                "responses": _responses({200: resource}, _ERRORS_READ),
            }
        },
    }


def _operation_paths() -> dict[str, Any]:
    parameters = {"$ref": "#/components/schemas/Parameters"}
    bundle = {"$ref": "#/components/schemas/Bundle"}
    string = {"type": "string"}
    return {
        "/fhir/metadata": {
            "get": {
                "operationId": "capabilities",
                "summary": "the CapabilityStatement (no token needed)",
                "security": [],
                "parameters": [_FORMAT],
                "responses": _responses({200: {"$ref": "#/components/schemas/Resource"}}, (406,)),
            }
        },
        "/fhir/OperationDefinition/{id}": {
            "get": {
                "operationId": "readOperationDefinition",
                "summary": "an OperationDefinition this server publishes (no token needed)",
                "security": [],
                "parameters": [_path("id", _ID), _FORMAT],
                "responses": _responses(
                    {200: {"$ref": "#/components/schemas/Resource"}}, (404, 406)
                ),
            }
        },
        "/fhir": {
            "post": {
                "operationId": "batchOrTransaction",
                "summary": "a transaction or batch Bundle",
                "requestBody": {"required": True, "content": _json(_resource("Bundle"))},
                "responses": _responses({200: bundle}, _ERRORS_WRITE),
            }
        },
        "/fhir/Observation/$lastn": {
            "get": {
                "operationId": "observationLastn",
                "summary": "the newest max Observations per code for a patient",
                "description": "Without a category parameter, Observations marked "
                "http://homevitals.org/fhir/CodeSystem/measurement-setting|in-bed (heart and "
                "breathing rates measured in bed) are left out: the newest pulse is a spot one. "
                "Epochs stored without the mark still come.",
                "parameters": [
                    *_search_parameters("Observation"),
                    _query(
                        "max", {"type": "integer", "minimum": 1}, "per code (default 1)", example=3
                    ),
                ],
                "responses": _responses({200: bundle}, _ERRORS_READ),
            }
        },
        "/fhir/Observation/$stats": {
            "get": {
                "operationId": "observationStats",
                "summary": "per-day min, max, mean and count (OperationDefinition/"
                "Observation-stats)",
                "parameters": [
                    _query("subject", string, "Patient/id", example="Patient/example"),
                    _query("patient", string, "Patient id (instead of subject)"),
                    _query("code", string, "comma-separated LOINC codes", True, "8480-6,8462-4"),
                    _query("start", {"type": "string", "format": "date"}, "first day", True),
                    _query("end", {"type": "string", "format": "date"}, "day after the last", True),
                    _query("tz", string, "IANA time zone; default the patient's", example="UTC"),
                    _query(
                        "setting",
                        {"type": "string", "enum": ["spot", "in-bed"]},
                        "spot (default) or in-bed: heart and respiratory rates measured in bed",
                        example="in-bed",
                    ),
                    _FORMAT,
                ],
                "responses": _responses({200: parameters}, _ERRORS_READ),
            }
        },
    }


def _audit_paths() -> dict[str, Any]:
    """AuditEvent: search and read only (its other methods answer 405)."""
    string = {"type": "string"}
    bundle = {"$ref": "#/components/schemas/Bundle"}
    parameters = [
        _query("patient", string, "Patient/id or id", example="Patient/example"),
        _query("agent", string, "staff:<username>, gateway:<name>, ...", example="system:ops"),
        _query(
            "date",
            string,
            "when recorded; prefixes eq, ge, gt, le, lt",
            example="ge2024-10-01",
        ),
        _query("action", {"type": "string", "enum": list("CRUDE")}, "C, R, U, D or E"),
        _query("subtype", string, "read, search, create, ..., $stats, login", example="read"),
        _query("outcome", {"type": "string", "enum": ["0", "4", "8", "12"]}, "0 success"),
        _query(
            "_count",
            {"type": "integer", "minimum": 1, "maximum": 1000},
            "page size",
            example=10,
        ),
        _query(
            "_cursor",
            {"type": "string", "pattern": "^[0-9]{1,18}$"},
            "where a page starts (from next links)",
        ),
        _FORMAT,
    ]
    return {
        "/fhir/AuditEvent": {
            "get": {
                "operationId": "searchAuditEvent",
                "summary": "search the audit trail (newest first; system tokens)",
                "parameters": parameters,
                "responses": _responses({200: bundle}, _ERRORS_READ),
            }
        },
        "/fhir/AuditEvent/{id}": {
            "get": {
                "operationId": "readAuditEvent",
                "summary": "read one AuditEvent (system tokens)",
                "parameters": [
                    _path("id", {"type": "string", "pattern": "^[0-9]{1,18}$"}),
                    _FORMAT,
                ],
                "responses": _responses({200: _resource("AuditEvent")}, _ERRORS_READ),
            }
        },
    }


def openapi_document(title: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the FHIR API."""
    paths: dict[str, Any] = {}
    for resource_type in SEARCH_PARAMETERS:
        paths.update(_type_paths(resource_type))
    paths.update(_operation_paths())
    paths.update(_audit_paths())
    paths.update(alert_paths(_query, _path, _responses, _FORMAT, _ERRORS_READ, _ERRORS_WRITE))

    def typed(resource_type: str) -> dict[str, Any]:
        schema = _resource(resource_type)
        schema["additionalProperties"] = True
        return schema

    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": software_release().version,
            "description": "FHIR R4 (4.0.1) JSON API. The resources' full structure is FHIR's "
            "own (https://hl7.org/fhir/R4/); the server's capabilities are in "
            "/fhir/metadata.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Resource": {
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": {"resourceType": {"type": "string"}},
                },
                "OperationOutcome": typed("OperationOutcome"),
                "Bundle": typed("Bundle"),
                "Parameters": typed("Parameters"),
            },
        },
        "security": [{"bearer": []}],
    }

"""The CapabilityStatement: exactly what this server supports, nothing more."""

from __future__ import annotations

from typing import Any

from .fhir import FHIR_VERSION
from .storage.search import SEARCH_PARAMETERS

__all__ = ["capability_statement"]

_TYPES = {
    "reference": "reference",
    "token": "token",
    "date": "date",
    "string": "string",
    "id": "token",
}


def capability_statement(base: str) -> dict[str, Any]:
    """The server's CapabilityStatement (kind: instance)."""
    resources = []
    for resource_type, params in SEARCH_PARAMETERS.items():
        entry: dict[str, Any] = {
            "type": resource_type,
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-supported",
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "interaction": [
                {"code": code}
                for code in (
                    "read",
                    "vread",
                    "update",
                    "delete",
                    "history-instance",
                    "create",
                    "search-type",
                )
            ],
            "searchParam": [
                {"name": name, "type": _TYPES[kind.split(":")[0]]} for name, kind in params.items()
            ],
        }
        if resource_type == "Observation":
            entry["searchInclude"] = ["Observation:device"]
            entry["operation"] = [
                {
                    "name": "lastn",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Observation-lastn",
                },
                {
                    "name": "stats",
                    "definition": "http://homevitals.org/fhir/OperationDefinition/Observation-stats",
                },
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-27",
        "publisher": "HomeVitals",
        "kind": "instance",
        "software": {"name": "HomeVitals FHIR server", "version": "0.1.0"},
        "implementation": {"description": "HomeVitals home telemedicine FHIR server", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "description": "Every request needs 'Authorization: Bearer <token>'; "
                    "tokens are issued with 'homevitals token create'.",
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }

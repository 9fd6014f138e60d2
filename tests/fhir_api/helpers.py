"""Resources and fixture loading for the server tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
OFFICIAL = sorted((FIXTURES / "official").glob("*/*.json"))
CONTRACT = sorted(FIXTURES.glob("bundle-*.json"))
JSON = {"Content-Type": "application/fhir+json"}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def patient(
    family: str = "田中", given: str = "花子", identifier: str = "P-0001"
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.1", "value": identifier}],
        "name": [{"family": family, "given": [given], "text": f"{family} {given}"}],
        "gender": "female",
        "birthDate": "1941-04-03",
    }


def blood_pressure(
    subject: str, when: str, systolic: float, diastolic: float, ident: str | None = None
) -> dict[str, Any]:
    """A vital-signs conformant blood pressure panel."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {
                    "value": systolic,
                    "unit": "mm[Hg]",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "valueQuantity": {
                    "value": diastolic,
                    "unit": "mm[Hg]",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            },
        ],
    }
    if ident:
        resource["identifier"] = [{"system": "urn:test", "value": ident}]
    return resource


def spo2(subject: str, when: str, value: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": "2708-6"},
                {"system": "http://loinc.org", "code": "59408-5"},
            ]
        },
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": "%",
            "system": "http://unitsofmeasure.org",
            "code": "%",
        },
    }


def observations_in(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] == "Observation"
    ]


def clone(document: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(document)


def ensure_subjects(client: Any, *references: str) -> None:
    """Create each `Patient/id` or `Device/id` that is not stored yet (references must
    resolve: an Observation's subject, device and gateway are refused otherwise)."""
    for reference in references:
        resource_type, resource_id = reference.split("/")
        if client.get(f"/{reference}").status_code == 200:
            continue
        body = {"resourceType": resource_type, "id": resource_id}
        response = client.put(f"/{reference}", json=body, headers=JSON)
        assert response.status_code in (200, 201), response.text


def referenced(resource: dict[str, Any]) -> list[str]:
    """The `Patient/..` and `Device/..` an Observation's subject, device and gateway name."""
    nodes = [resource.get("subject"), resource.get("device")]
    nodes += [e.get("valueReference") for e in resource.get("extension", ())]
    found = []
    for node in nodes:
        reference = (node or {}).get("reference", "")
        if reference.startswith(("Patient/", "Device/")):
            found.append(reference)
    return found


def gateway_token(engine: Any, gateway: str, patient_ids: list[str]) -> str:
    """A gateway token bound to `patient_ids` (each a stored Patient), as an admin makes one
    with `homevitals admin gateway-token create`: what a home gateway uploads with."""
    from fhir_api.access.gateways import GatewayRegistry
    from fhir_api.auth import TokenStore
    from fhir_api.roles import TokenKind

    GatewayRegistry(engine).bind(gateway, patient_ids)
    return TokenStore(engine).create(gateway, TokenKind.GATEWAY, gateway=gateway)


def downgrade(engine: Any, revision: str) -> None:
    """Take the store's schema back to an Alembic revision (a test of a later migration)."""
    from alembic import command
    from alembic.config import Config

    from fhir_api import migrations

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

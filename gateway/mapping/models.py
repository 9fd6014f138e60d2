"""The one module that imports `fhir.resources`: its R4B models, for FHIR R4 (4.0.1).

fhir.resources has had no plain R4 package since 7.0; R4B reads and validates
R4 payloads for Observation, Device, Patient and Bundle, whereas its default R5
models reject PHD IG Device payloads. The release is pinned in pyproject.toml.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

__all__ = ["FHIR_VERSION", "Bundle", "Device", "Observation", "Patient", "validate"]

FHIR_VERSION = "4.0.1"


def validate(resource: dict[str, Any]) -> None:
    """Validate a resource dict with the pinned models.

    Raises:
        pydantic.ValidationError: when the models reject it.
        KeyError: when `resourceType` is missing.
    """
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)

"""The one module of the server that imports `fhir.resources`: its R4B models, for FHIR R4.

R4B reads and validates R4 (4.0.1) Observation, Device, Patient and Bundle
payloads; the default R5 models reject PHD IG Device payloads. The release is
pinned in pyproject.toml.
"""

from __future__ import annotations

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir_core.fhirabstractmodel import FHIRAbstractModel

__all__ = [
    "FHIR_VERSION",
    "CapabilityStatement",
    "FHIRAbstractModel",
    "OperationOutcome",
    "model_class",
]

FHIR_VERSION = "4.0.1"


def model_class(resource_type: str) -> type[FHIRAbstractModel]:
    """The pinned model class for a resource type.

    Raises:
        KeyError: for a type the models do not know.
    """
    try:
        cls: type[FHIRAbstractModel] = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError) as exc:
        raise KeyError(resource_type) from exc
    return cls

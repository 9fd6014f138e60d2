"""The `$gateway-settings` operation: what a home gateway reads from the clinic (issue 14).

Computed on request from the settings on the Patients the gateway's token is bound
to (home_settings.py holds the shape and the merge); nothing is stored for it.
The home's device bindings come from the same Patients, so a gateway is only ever
told about its own patients.
"""

from __future__ import annotations

from typing import Any

from .access.principal import Access
from .access.scopes import Interaction
from .errors import Forbidden
from .home_settings import gateway_parameters, settings_of
from .roles import TokenKind
from .service import FhirService

__all__ = ["gateway_settings"]


def gateway_settings(service: FhirService, *, access: Access) -> dict[str, Any]:
    """The calling gateway's settings as a FHIR `Parameters`.

    Raises:
        Forbidden: not a gateway token (staff edit the settings on the Patient), or a
            token without Device.r (the operation is on the gateway's Device type).
    """
    if access.principal.kind is not TokenKind.GATEWAY:
        raise Forbidden(
            "$gateway-settings answers a gateway token; staff read and edit the settings "
            "on the Patient (extension home-settings)"
        )
    access.require("Device", Interaction.READ)
    patients = sorted(access.patients or ())
    found: list[tuple[str, Any]] = []
    with service.store.reading() as tx:
        for patient_id in patients:
            stored = tx.read("Patient", patient_id)
            if stored is not None and not stored.deleted:
                found.append((patient_id, settings_of(stored.content)))
    return gateway_parameters(found)

"""Identity: who a reading belongs to, and its PHD conditional-create identifier.

The PHD IG identifier is `device-patient-type-timestamp-duration-supplemental`
(StructureDefinition-PhdBaseObservation notes): the sensor's EUI-64 (or Bluetooth
address), the patient, the MDC type code, the PHD-reported time stamp in seconds
since 2000-01-01 (never the corrected effective time, so two gateways uploading
the same stored reading collide), `..duration` for periods, and supplemental MDC
codes. Like the IG's earlier examples (`...-48.0-2720-150588`) HomeVitals also
puts the reported values before the supplemental codes, so two different
readings never share an identifier even when a device stamps them alike.
Readings without a device time use the gateway's reception time, prefixed `r`,
to the microsecond.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from .codes import PHD_IDENTIFIER_SYSTEM
from .timing import _PHD_EPOCH, phd_time_stamp

__all__ = ["PatientLink", "observation_identifier", "stable_urn"]

# Namespace for the deterministic urn:uuid fullUrls of a transaction Bundle.
_URN_NAMESPACE = uuid.UUID("725e0000-650c-4bc4-ad17-0eb60f2b1771")


def stable_urn(*parts: str) -> str:
    """A `urn:uuid:` that is the same every time for the same parts."""
    return f"urn:uuid:{uuid.uuid5(_URN_NAMESPACE, '|'.join(parts))}"


@dataclass(frozen=True, slots=True)
class PatientLink:
    """The patient a device (or a cuff's user slot) is bound to.

    Give either the server's logical id (the PHD IG's "provisioned logical id")
    or a business identifier (system and value), for which the Bundle carries a
    conditional Patient entry.
    """

    logical_id: str | None = None
    identifier_system: str | None = None
    identifier_value: str | None = None

    def __post_init__(self) -> None:
        by_identifier = self.identifier_system is not None and self.identifier_value is not None
        if (self.logical_id is None) == (not by_identifier):
            raise ValueError("a PatientLink needs a logical id or an identifier, not both")

    @property
    def reference(self) -> str:
        """`Patient/<id>`, or the stable urn:uuid of the conditional Patient entry."""
        if self.logical_id is not None:
            return f"Patient/{self.logical_id}"
        return stable_urn("Patient", self.identifier_part)

    @property
    def identifier_part(self) -> str:
        """The patient part of the PHD identifier: `value-system` or the logical id."""
        if self.logical_id is not None:
            return self.logical_id
        return f"{self.identifier_value}-{self.identifier_system}"


UNASSIGNED = "unassigned"


def observation_identifier(
    *,
    device_key: str,
    patient: PatientLink | None,
    type_code: str,
    device_time: datetime | None,
    received_at: datetime,
    duration_seconds: int | None = None,
    values: str | None = None,
    supplemental: tuple[str, ...] = (),
    subject_part: str | None = None,
) -> dict[str, str]:
    """The PHD conditional-create identifier of one Observation.

    `subject_part` replaces the patient part for observations about no patient
    (a coincident time stamp names the gateway there).
    """
    if device_time is not None:
        stamp = phd_time_stamp(device_time)
    else:
        reception = received_at.astimezone(UTC).replace(tzinfo=None)
        stamp = f"r{(reception - _PHD_EPOCH).total_seconds():.6f}"
    if duration_seconds is not None:
        stamp += f"..{duration_seconds}"
    if subject_part is None:
        subject_part = patient.identifier_part if patient else UNASSIGNED
    parts = [device_key, subject_part, type_code, stamp]
    if values is not None:
        parts.append(values)
    parts.extend(supplemental)
    return {"system": PHD_IDENTIFIER_SYSTEM, "value": "-".join(parts)}

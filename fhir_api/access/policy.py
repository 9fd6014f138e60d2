"""Who may do what (pure): the scopes of each token kind and staff role, and which patients
a resource belongs to.

The scopes below are the most each kind or role may hold; a token may be created
with fewer. They are documented in the README's "Roles and scopes" table, which a
test compares with `ROLE_SCOPES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..roles import StaffRole, TokenKind
from .scopes import Scopes, parse_scopes

__all__ = [
    "ADMIN_TYPES",
    "KIND_SCOPES",
    "ROLE_SCOPES",
    "patient_ids",
    "referenced_devices",
    "scopes_for_roles",
]

# Resource types an admin manages: all of them, whatever the care teams say.
ADMIN_TYPES = frozenset({"Patient", "Practitioner", "CareTeam", "Device", "AuditEvent"})

_CLINICAL_READ = (
    "user/Patient.rs user/Observation.rs user/Device.rs user/CareTeam.rs user/Practitioner.rs "
    "user/Task.rs user/Communication.rs"
)

_ALERTS = " user/DetectedIssue.rus"

ROLE_SCOPES: dict[StaffRole, str] = {
    # Accounts, patients, gateways, care teams and the audit trail; no clinical reading.
    StaffRole.ADMIN: (
        "user/Patient.cruds user/Practitioner.cruds user/CareTeam.cruds user/Device.rds "
        "user/AuditEvent.rs"
    ),
    # Read their patients' data; assign unassigned readings (Observation.u); keep the
    # patient's own settings (Patient.u: time zone, targets); record a review of a
    # patient's readings (Task.c; a review is a record: no update, no delete).
    # Alerts (issue 13): DetectedIssue read and searched, acknowledged and resolved
    # ($acknowledge, $resolve: an update) by each clinical role.
    StaffRole.DOCTOR: _CLINICAL_READ + " user/Patient.u user/Observation.u user/Task.c" + _ALERTS,
    StaffRole.NURSE: _CLINICAL_READ + " user/Patient.u user/Observation.u user/Task.c" + _ALERTS,
    StaffRole.CARE_MANAGER: _CLINICAL_READ + _ALERTS,
}

KIND_SCOPES: dict[TokenKind, str] = {
    TokenKind.SYSTEM: "system/*.cruds",
    # Upload readings, call-button presses (Communication, issue 14) and Devices for its
    # own patients; search its own resources for conditional creates; replace its own
    # Devices (the heartbeat). Nothing else.
    TokenKind.GATEWAY: "patient/Observation.cs patient/Communication.cs patient/Device.crus",
}


def scopes_for_roles(roles: Iterable[StaffRole]) -> Scopes:
    """The union of the roles' scopes."""
    return parse_scopes(" ".join(ROLE_SCOPES[role] for role in sorted(set(roles))))


def _reference(node: Any) -> str | None:
    if isinstance(node, dict) and isinstance(node.get("reference"), str):
        return str(node["reference"])
    return None


def _patient_id(reference: str | None) -> str | None:
    if reference is not None and reference.startswith("Patient/"):
        return reference.split("/", 2)[1]
    return None


def patient_ids(resource_type: str, resource: dict[str, Any]) -> frozenset[str]:
    """The Patients whose data `resource` is (its patient compartment, for the types held here).

    A Patient is its own; an Observation its subject's; a Device its patient's; a
    CareTeam its subject's; a Task the one it is for; a Communication its subject's,
    sender's and recipients'. An Observation about a Device (an unassigned reading) and a
    Practitioner belong to no patient.
    """
    if resource_type == "Patient":
        return frozenset({str(resource["id"])}) if resource.get("id") else frozenset()
    found: set[str] = set()
    keys = {
        "Observation": ("subject",),
        "Device": ("patient",),
        "CareTeam": ("subject",),
        "Task": ("for",),
    }
    nodes = [resource.get(key) for key in keys.get(resource_type, ("subject", "patient"))]
    if resource_type == "Communication":
        nodes = [resource.get("subject"), resource.get("sender"), *resource.get("recipient", ())]
    for node in nodes:
        if (pid := _patient_id(_reference(node))) is not None:
            found.add(pid)
    return frozenset(found)


def referenced_devices(resource_type: str, resource: dict[str, Any]) -> frozenset[str]:
    """Device ids an Observation names (subject, device, gateway extension) or a Device is."""
    found: set[str] = set()
    if resource_type == "Observation":
        nodes = [resource.get("subject"), resource.get("device")]
        nodes += [
            e.get("valueReference")
            for e in resource.get("extension", ())
            if isinstance(e, dict) and "valueReference" in e
        ]
        for node in nodes:
            reference = _reference(node)
            if reference is not None and reference.startswith("Device/"):
                found.add(reference.split("/", 2)[1])
    return frozenset(found)

"""SMART v2 scopes and the role table (pure)."""

from __future__ import annotations

import pytest

from fhir_api.access.policy import KIND_SCOPES, ROLE_SCOPES, patient_ids, scopes_for_roles
from fhir_api.access.scopes import Interaction, ScopeError, parse_scopes
from fhir_api.roles import StaffRole, TokenKind

C, R, U, D, S = (Interaction(c) for c in "cruds")


def test_a_scope_grants_exactly_its_letters() -> None:
    scopes = parse_scopes("patient/Observation.cs patient/Device.crus")
    assert scopes.allows("Observation", C) and scopes.allows("Observation", S)
    assert not scopes.allows("Observation", R)
    assert not scopes.allows("Observation", D)
    assert not scopes.allows("Patient", S)
    assert scopes.allows("Device", U) and not scopes.allows("Device", D)


def test_wildcard_type() -> None:
    scopes = parse_scopes("system/*.cruds")
    assert all(scopes.allows("AuditEvent", i) for i in Interaction)


@pytest.mark.parametrize(
    "text",
    [
        "patient/Observation.rc",  # out of order
        "patient/Observation.read",  # SMART v1
        "patient/Observation.cc",
        "patient/Observation.x",
        "doctor/Observation.rs",
        "patient/observation.rs",
        "patient/Observation.rs?category=vital-signs",  # constraints are not supported
        "Observation.rs",
    ],
)
def test_malformed_scopes_are_refused(text: str) -> None:
    with pytest.raises(ScopeError):
        parse_scopes(text)


def test_context_must_match_the_token_kind() -> None:
    with pytest.raises(ScopeError, match="patient/"):
        parse_scopes("system/*.cruds", context="patient")


def test_narrowing_never_widens() -> None:
    granted = scopes_for_roles([StaffRole.CARE_MANAGER])
    asked = parse_scopes("user/*.cruds")
    narrowed = asked.narrowed_to(granted)
    assert narrowed.allows("Observation", R)
    assert not narrowed.allows("Observation", U)
    assert not narrowed.allows("AuditEvent", R)
    only = parse_scopes("user/Observation.rs user/AuditEvent.rs").narrowed_to(granted)
    assert str(only) == "user/Observation.rs"


def test_roles() -> None:
    admin = scopes_for_roles([StaffRole.ADMIN])
    assert admin.allows("Patient", C) and admin.allows("CareTeam", U)
    assert admin.allows("AuditEvent", S)
    assert not admin.allows("Observation", R), "an admin reads no clinical data"
    both = scopes_for_roles([StaffRole.ADMIN, StaffRole.DOCTOR])
    assert both.allows("Observation", R) and both.allows("AuditEvent", R)
    for role in (StaffRole.DOCTOR, StaffRole.NURSE, StaffRole.CARE_MANAGER):
        scopes = scopes_for_roles([role])
        assert scopes.allows("Observation", S) and not scopes.allows("AuditEvent", R)
        assert not scopes.allows("Patient", C) and not scopes.allows("Observation", D)
    assert not scopes_for_roles([StaffRole.CARE_MANAGER]).allows("Observation", U)
    assert set(ROLE_SCOPES) == set(StaffRole)
    gateway = parse_scopes(KIND_SCOPES[TokenKind.GATEWAY])
    assert not gateway.allows("Patient", R) and not gateway.allows("Observation", R)


def test_patient_compartment() -> None:
    assert patient_ids("Patient", {"id": "a"}) == {"a"}
    assert patient_ids("Observation", {"subject": {"reference": "Patient/b"}}) == {"b"}
    assert patient_ids("Observation", {"subject": {"reference": "Device/x"}}) == set()
    assert patient_ids("Device", {"patient": {"reference": "Patient/c"}}) == {"c"}
    assert patient_ids("CareTeam", {"subject": {"reference": "Patient/d"}}) == {"d"}
    assert patient_ids("Practitioner", {"id": "p"}) == set()
    assert patient_ids("Task", {"for": {"reference": "Patient/e"}}) == {"e"}
    message = {
        "subject": {"reference": "Patient/f"},
        "sender": {"reference": "Patient/f"},
        "recipient": [{"reference": "CareTeam/t"}, {"reference": "Patient/g"}],
    }
    assert patient_ids("Communication", message) == {"f", "g"}


def test_the_readme_table_states_the_scopes_the_code_grants() -> None:
    """README "Who may see what": each row's scopes are exactly what the code grants."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rows = {
        "`system` token": parse_scopes(KIND_SCOPES[TokenKind.SYSTEM]),
        "`gateway` token": parse_scopes(KIND_SCOPES[TokenKind.GATEWAY]),
        "staff `doctor`, `nurse`": scopes_for_roles([StaffRole.DOCTOR]),
        "staff `care_manager`": scopes_for_roles([StaffRole.CARE_MANAGER]),
        "staff `admin`": scopes_for_roles([StaffRole.ADMIN]),
    }
    types = (
        "Patient",
        "Observation",
        "Device",
        "CareTeam",
        "Practitioner",
        "Task",
        "Communication",
        "AuditEvent",
        "DetectedIssue",
    )
    assert scopes_for_roles([StaffRole.NURSE]).scopes == scopes_for_roles([StaffRole.DOCTOR]).scopes
    for label, granted in rows.items():
        line = next(row for row in readme.splitlines() if row.startswith(f"| {label}"))
        stated = parse_scopes(
            " ".join(
                re.findall(r"(?:patient|user|system)/[A-Za-z*]+\.[cruds]+", line.split("|")[3])
            )
        )
        for resource_type in types:
            for interaction in Interaction:
                assert stated.allows(resource_type, interaction) == granted.allows(
                    resource_type, interaction
                ), (label, resource_type, interaction)

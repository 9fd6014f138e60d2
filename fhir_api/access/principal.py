"""Who is calling (`Principal`) and what this request may see (`Access`).

`Access` is built once per request from the principal: the patients it may see
(None for every patient) and the gateways whose own resources it may see. The
service asks it before every read and write, adds its clause to every search,
and notes the patients each request touched, for the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ..errors import Forbidden
from ..roles import StaffRole, TokenKind
from .policy import ADMIN_TYPES, KIND_SCOPES, patient_ids
from .scopes import Interaction, Scopes, parse_scopes

__all__ = ["SYSTEM", "Access", "Principal", "system_access"]

_MAX_NOTED = 1000  # entities remembered for the audit trail (it names at most 100)
_VERBS = {
    Interaction.CREATE: "create",
    Interaction.READ: "read",
    Interaction.UPDATE: "update",
    Interaction.DELETE: "delete",
    Interaction.SEARCH: "search",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller: a token (system, gateway or staff) or a staff web session."""

    kind: TokenKind
    name: str  # token name, gateway name or username
    scopes: Scopes
    token_id: int | None = None
    account_id: int | None = None
    roles: frozenset[StaffRole] = frozenset()
    practitioner_id: str | None = None
    gateway: str | None = None

    @property
    def agent(self) -> str:
        """How the audit trail names the caller: `staff:alice`, `gateway:home-12`, …"""
        return f"{self.kind.value}:{self.name}"

    @property
    def agent_reference(self) -> str | None:
        """The FHIR resource the caller is, when there is one."""
        return f"Practitioner/{self.practitioner_id}" if self.practitioner_id else None

    @property
    def is_admin(self) -> bool:
        """A staff account with the admin role."""
        return StaffRole.ADMIN in self.roles


SYSTEM = Principal(TokenKind.SYSTEM, "internal", parse_scopes(KIND_SCOPES[TokenKind.SYSTEM]))


@dataclass(slots=True)
class Access:
    """What one request may see and do, and what it touched."""

    principal: Principal
    patients: frozenset[str] | None  # None: every patient
    gateways: frozenset[str] | None  # whose own resources (unassigned readings) it sees
    touched: set[str] = field(default_factory=set)  # patient ids, for the audit trail
    entities: list[str] = field(default_factory=list)  # "Type/id" written or read
    subtype: str | None = None  # the audit subtype when the path does not say (batch)
    # Set by the HTTP layer: writes this request's AuditEvent inside a write's own
    # database transaction, so both commit together (`FhirService._write`).
    write_audit: Callable[[Connection], None] | None = None
    audited: bool = False  # True once `write_audit` committed with the data

    @property
    def unrestricted(self) -> bool:
        """A system token: every resource of every patient."""
        return self.patients is None and self.principal.kind is TokenKind.SYSTEM

    def require(self, resource_type: str, interaction: Interaction) -> None:
        """403 unless a scope grants `interaction` on `resource_type`."""
        if not self.principal.scopes.allows(resource_type, interaction):
            raise Forbidden(
                f"this token may not {_VERBS[interaction]} {resource_type} "
                f"(its scopes: {self.principal.scopes or 'none'})"
            )

    def sees_all(self, resource_type: str) -> bool:
        """Every resource of this type, whoever it belongs to (system; admins for theirs)."""
        if self.unrestricted:
            return True
        return self.principal.is_admin and resource_type in ADMIN_TYPES

    def may_refer_to_patients(self, resource_type: str, content: dict[str, Any]) -> bool:
        """Whether a resource written by this request names only patients it may see."""
        if self.sees_all(resource_type):
            return True
        return patient_ids(resource_type, content) <= (self.patients or frozenset())

    def note(self, patients: Iterable[str]) -> None:
        """Remember patients this request touched (for its AuditEvent)."""
        self.touched.update(patients)

    def note_resource(self, resource_type: str, content: dict[str, Any]) -> None:
        """Remember a resource this request read or wrote, and its patients."""
        self.touched.update(patient_ids(resource_type, content))
        if isinstance(content.get("id"), str) and len(self.entities) < _MAX_NOTED:
            self.entities.append(f"{resource_type}/{content['id']}")


def system_access() -> Access:
    """Full access, for the server's own work and for callers inside the process."""
    return Access(SYSTEM, None, None)

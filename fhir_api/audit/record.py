"""What one audited interaction says, independent of how it is stored or shown.

An `AuditRecord` becomes one FHIR `AuditEvent` (R4): `action` is AuditEvent.action
(C, R, U, D, E), `subtype` the restful interaction or operation (`read`, `search`,
`create`, `update`, `delete`, `history`, `transaction`, `batch`, `$stats`,
`$lastn`, `login`, `logout`, `login-failed`, ...), `outcome` AuditEvent.outcome
(`0` success, `4` minor failure such as a refused request, `8` serious failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection

__all__ = ["AuditRecord", "AuditSink", "NullAudit"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited interaction: who did what to whose data, from where, and how it went."""

    action: str  # C R U D E
    subtype: str  # read, search, create, ..., $stats, login, login-failed, ...
    outcome: str  # "0" success, "4" refused or failed by the client, "8" server failure
    agent: str  # "staff:alice", "gateway:home-12", "system:ops", "anonymous"
    recorded_ms: int  # epoch milliseconds, UTC
    agent_reference: str | None = None  # "Practitioner/…" or "Device/…" when known
    address: str | None = None  # the client's network address
    patients: tuple[str, ...] = ()  # Patient ids whose data was touched
    entities: tuple[str, ...] = ()  # "Observation/123", … (capped by the writer)
    query: str | None = None  # the search or operation's query string
    detail: str | None = None  # why a request was refused, or what failed
    extra: dict[str, str] = field(default_factory=dict)  # small, string-valued context


class AuditSink(Protocol):
    """Where audited interactions go (`fhir_api.audit.log.AuditLog` in a server)."""

    def record(self, event: AuditRecord) -> None:
        """Keep `event`; must not raise for a full or slow store (the writer retries)."""

    def record_in(self, connection: Connection, events: Sequence[AuditRecord]) -> list[int]:
        """Append `events` inside the caller's open transaction (they commit with it)."""


class NullAudit:
    """Keeps nothing: for tools that touch no patient data."""

    def record(self, event: AuditRecord) -> None:
        """Drop `event`."""

    def record_in(self, connection: Connection, events: Sequence[AuditRecord]) -> list[int]:
        """Drop `events`."""
        return []

    def close(self, timeout: float = 0.0) -> None:
        """Nothing to write out."""

"""What the alert settings (pages and CLI) share on top of `silence_store` and `preferences`.

`silence_store` already checks access and writes the caller's AuditEvent in the
change's transaction; this module adds what a person types: a moment in the patient's
zone ("2026-12-03 09:00", or with an offset), a rule name from the known conditions,
and the silences as plain data (JSON for the CLI, rows for the page). Pure, apart
from `cli_access`, whose audit writer runs in the caller's transaction, and the
caller's own notification preferences (`my_preferences`, `save_preferences`: audited
in the change's transaction, as `silence_store` does).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, Engine

from ..access.principal import SYSTEM, Access, Principal
from ..roles import TokenKind
from ..storage.resources import ResourceStore
from .preferences import PreferenceRefused, Preferences, preferences_of, set_preferences
from .silence_store import SilenceRefused
from .silences import Silence

__all__ = [
    "SilenceRow",
    "cli_access",
    "my_preferences",
    "parse_moment",
    "parse_rule",
    "save_preferences",
    "silence_json",
    "silence_row",
]

# A condition name as the rules make them (bp-urgent, no-reading-systolic, …).
_RULE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+){0,5}")
_MAX_RULE = 64
_CANCELLED = timedelta(milliseconds=1)


def parse_moment(text: str, zone: tzinfo) -> datetime:
    """An ISO 8601 date and time; without an offset, in `zone` (the patient's).

    A date alone is its midnight. Raises SilenceRefused with the text that failed.
    """
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SilenceRefused(f"not a date and time: {value[:40]!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def parse_rule(text: str | None) -> str | None:
    """A rule (condition) name, or None (all of the patient's rules) for nothing given."""
    value = (text or "").strip()
    if not value:
        return None
    if len(value) > _MAX_RULE or not _RULE.fullmatch(value):
        raise SilenceRefused(f"not a rule name: {value[:_MAX_RULE]!r}")
    return value


def silence_json(silence: Silence) -> dict[str, Any]:
    """A silence as JSON data (the CLI prints it), times in ISO 8601 UTC."""
    return {
        "id": silence.id,
        "patient": silence.patient,
        "rule": silence.condition,
        "gateway": silence.gateway,
        "starts": silence.starts.astimezone(UTC).isoformat(),
        "ends": silence.ends.astimezone(UTC).isoformat(),
        "reason": silence.reason,
        "author": silence.author,
    }


@dataclass(frozen=True, slots=True)
class SilenceRow:
    """One silence as a settings page shows it: in effect, to come, or past."""

    silence: Silence
    state: str  # "active", "planned" or "ended"


def silence_row(silence: Silence, now: datetime) -> SilenceRow:
    """Where a silence stands at `now` (ends are exclusive, as in `Silence.covers`).

    A planned silence ended early keeps its start and ends a millisecond later
    (`silence_store.end_silence`): it is shown as ended, not as still to come.
    """
    if silence.ends - silence.starts <= _CANCELLED:
        return SilenceRow(silence, "ended")
    if now < silence.starts:
        return SilenceRow(silence, "planned")
    return SilenceRow(silence, "active" if now < silence.ends else "ended")


def cli_access(user: str, write_audit: Callable[[Connection, Access], None]) -> Access:
    """Full access for an administrator at the server's command line.

    Its author reads `system:cli:<user>`; `write_audit(connection, access)` writes the
    AuditEvent in the change's transaction, once the access knows the patient touched.
    """
    principal = Principal(TokenKind.SYSTEM, f"cli:{user}", SYSTEM.scopes)
    access = Access(principal, None, None)
    access.write_audit = lambda connection: write_audit(connection, access)
    return access


def my_preferences(engine: Engine, access: Access) -> Preferences | None:
    """The caller's own alert preferences (empty ones: the clinic's defaults); None for a
    caller who is no Practitioner (no message is addressed to them)."""
    recipient = access.principal.agent_reference
    if recipient is None:
        return None
    with engine.connect() as connection:
        return preferences_of(connection, [recipient]).get(recipient, Preferences())


def save_preferences(store: ResourceStore, access: Access, chosen: Preferences) -> None:
    """Keep the caller's own preferences, with the AuditEvent in the same transaction.

    Raises:
        PreferenceRefused: the caller is no Practitioner, or a value cannot be kept.
    """
    recipient = access.principal.agent_reference
    if recipient is None:
        raise PreferenceRefused("only a Practitioner is sent alert messages")
    with store.transaction() as tx:
        set_preferences(tx.connection, recipient, chosen, store.now_ms())
        access.entities.append(recipient)
        if access.write_audit is not None:
            access.write_audit(tx.connection)
    access.audited = access.write_audit is not None

"""Each recipient's alert preferences, kept in `alert_preferences` (the settings page's).

What `notify.Recipient` needs beyond the person's id: the language of their messages,
the zone their quiet hours and digest hour are in, quiet hours (urgent messages ignore
them), and whether non-urgent messages come at once, in a daily digest or not at all.
A recipient with no row, or a field left empty, gets the clinic's default (the
messages' configured language, the patient's zone, no quiet hours, at once).

`recipients(connection, ids, ...)` builds the chain's `Recipient`s in one query;
`set_preferences` / `preferences_of` are the service the settings page calls.

Errors: PreferenceRefused (ValueError): an unknown language, zone or delivery, or a time
that is not HH:MM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time

from sqlalchemy import Connection, delete, insert, select

from fhir_api.dates import zone_named

from ..storage.schema import alert_preferences
from .messages import LANGUAGES
from .notify import Delivery, Recipient

__all__ = ["PreferenceRefused", "Preferences", "preferences_of", "recipients", "set_preferences"]


class PreferenceRefused(ValueError):
    """A preference that cannot be kept (the text says which and why)."""


@dataclass(frozen=True, slots=True)
class Preferences:
    """One recipient's choices; None keeps the clinic's default."""

    language: str | None = None
    zone: str | None = None
    quiet: tuple[time, time] | None = None
    non_urgent: Delivery | None = None
    digest_at: time | None = None


def _hhmm(value: time | None) -> str | None:
    return None if value is None else f"{value:%H:%M}"


def _time(text: str | None) -> time | None:
    if not text:
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        return None


def _checked(preferences: Preferences) -> Preferences:
    if preferences.language is not None and preferences.language not in LANGUAGES:
        raise PreferenceRefused(f"language: one of {', '.join(LANGUAGES)}")
    if preferences.zone is not None and zone_named(preferences.zone) is None:
        raise PreferenceRefused(f"zone: {preferences.zone!r} is not an IANA time zone")
    if preferences.quiet is not None and preferences.quiet[0] == preferences.quiet[1]:
        raise PreferenceRefused("quiet hours: the start and the end must differ")
    return preferences


def set_preferences(
    connection: Connection, recipient: str, preferences: Preferences, now_ms: int
) -> None:
    """Keep `recipient`'s preferences (replacing earlier ones).

    Raises:
        PreferenceRefused: see the module docstring.
    """
    chosen = _checked(preferences)
    connection.execute(delete(alert_preferences).where(alert_preferences.c.recipient == recipient))
    connection.execute(
        insert(alert_preferences).values(
            recipient=recipient,
            language=chosen.language,
            zone=chosen.zone,
            quiet_start=_hhmm(chosen.quiet[0]) if chosen.quiet else None,
            quiet_end=_hhmm(chosen.quiet[1]) if chosen.quiet else None,
            non_urgent=chosen.non_urgent.value if chosen.non_urgent else None,
            digest_at=_hhmm(chosen.digest_at),
            updated_ms=now_ms,
        )
    )


def preferences_of(connection: Connection, ids: Sequence[str]) -> dict[str, Preferences]:
    """The stored preferences of these recipients (those without any left out)."""
    if not ids:
        return {}
    found: dict[str, Preferences] = {}
    rows = connection.execute(
        select(alert_preferences).where(alert_preferences.c.recipient.in_(sorted(set(ids))))
    )
    for row in rows:
        start, end = _time(row.quiet_start), _time(row.quiet_end)
        delivery = row.non_urgent if row.non_urgent in {d.value for d in Delivery} else None
        found[str(row.recipient)] = Preferences(
            row.language if row.language in LANGUAGES else None,
            row.zone if row.zone and zone_named(row.zone) is not None else None,
            (start, end) if start is not None and end is not None else None,
            Delivery(delivery) if delivery else None,
            _time(row.digest_at),
        )
    return found


def recipients(
    connection: Connection, ids: Sequence[str], *, zone: str, language: str
) -> tuple[list[Recipient], dict[str, str]]:
    """The chain's `Recipient`s (in its order) and each one's message language.

    `zone` and `language` are the defaults: the patient's zone, the clinic's language.
    """
    stored = preferences_of(connection, ids)
    chain: list[Recipient] = []
    languages: dict[str, str] = {}
    for recipient in ids:
        own = stored.get(recipient, Preferences())
        chain.append(
            Recipient(
                recipient,
                zone=own.zone or zone,
                quiet=own.quiet,
                non_urgent=own.non_urgent or Delivery.NOW,
                digest_at=own.digest_at or time(8, 0),
            )
        )
        languages[recipient] = own.language or language
    return chain, languages

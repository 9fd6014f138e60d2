"""Who hears about which change, and when (pure): `notifications(changes, chain_of, now)`.

Routing, per change:
- opened, urgent: the first person of the patient's chain (care manager -> nurse ->
  doctor), at once, whatever their quiet hours or digest;
- escalated: the next person (`alert.escalation` indexes the chain; past its end, the
  last person again), at once;
- opened, not urgent: everyone in the chain, as each prefers: at once (after their
  quiet hours), in their daily digest, or not at all;
- resolved: the people the opening went to, never urgent (quiet hours and digests
  apply): a care manager learns the reading came back without being woken;
- updated and acknowledged: recorded (audit, inbox), not sent: repeats do not flood.
A change covered by a silence (`silences.Silence`), or a warning inhibited by an open
urgent alert on the same values (`Change.inhibited_by`), is sent to no one.

Grouping: the changes one call produces for one recipient make one `Notification` per
group key: the recipient and the sitting (readings of one occasion: one message), or
the recipient and the digest's moment. The queue merges notifications that share a
key across calls until one is sent. What a message may show is the recipient's
`content` (a channel outside the clinic, like LINE, gets `Content.MINIMAL`: no name,
no values, only that there is something to look at and the link); the renderer
honours it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter

from fhir_api.dates import zone_named

from .model import Alert, Change, ChangeKind, Kind, Severity
from .silences import Silence, silenced_by

__all__ = [
    "Content",
    "Delivery",
    "Item",
    "Notification",
    "Recipient",
    "link_of",
    "notification_from_json",
    "notification_to_json",
    "notifications",
    "send_time",
]


class Delivery(StrEnum):
    """How a recipient wants what is not urgent."""

    NOW = "now"
    DIGEST = "digest"
    OFF = "off"


class Content(StrEnum):
    """What a message may carry: FULL (patient, values) or MINIMAL (nothing identifying)."""

    FULL = "full"
    MINIMAL = "minimal"


@dataclass(frozen=True, slots=True)
class Recipient:
    """One person of a care team's chain, with their preferences.

    `channel` names a configured channel (the URL, with its secrets, stays in the
    configuration). `quiet` is (start, end) in the recipient's zone and may cross
    midnight, e.g. (22:00, 07:00).
    """

    id: str
    channel: str = ""
    zone: str = "UTC"
    quiet: tuple[time, time] | None = None
    non_urgent: Delivery = Delivery.NOW
    digest_at: time = time(8, 0)
    content: Content = Content.FULL


@dataclass(frozen=True, slots=True)
class Item:
    """One alert change in a message: what, whose, how severe, and where to look."""

    alert: str
    change: ChangeKind
    condition: str
    severity: Severity
    at: datetime
    link: str
    patient: str | None = None
    gateway: str | None = None
    last: dict[Kind, float] = field(default_factory=dict)
    worst: dict[Kind, float] = field(default_factory=dict)
    count: int = 0
    last_at: datetime | None = None  # the newest reading beyond the limit (or last seen)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to send: to whom, through which channel, when, and what."""

    recipient: str
    channel: str
    send_at: datetime
    group: str
    severity: Severity
    content: Content
    digest: bool
    items: tuple[Item, ...]


_NOTIFICATION = TypeAdapter(Notification)


def notification_to_json(notification: Notification) -> dict[str, Any]:
    """A notification as JSON types (the outbox row's payload)."""
    result: dict[str, Any] = _NOTIFICATION.dump_python(notification, mode="json")
    return result


def notification_from_json(data: Mapping[str, Any]) -> Notification:
    """The inverse of `notification_to_json`."""
    return _NOTIFICATION.validate_python(data)


def link_of(alert: Alert) -> str:
    """The page to open (a path: the renderer adds the clinic's base URL)."""
    if alert.patient is not None:
        return f"/patients/{alert.patient}"
    return "/gateways"


def _in_quiet(local: time, quiet: tuple[time, time]) -> bool:
    start, end = quiet
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # crosses midnight


def _next_local(after: datetime, at: time, recipient: Recipient) -> datetime:
    """The first moment at or after `after` whose wall time in the zone is `at`."""
    zone = zone_named(recipient.zone) or UTC
    local = after.astimezone(zone)
    moment = datetime.combine(local.date(), at, tzinfo=zone)
    if moment < local:
        moment = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return moment


def send_time(recipient: Recipient, now: datetime, *, urgent: bool) -> tuple[datetime, bool]:
    """When to send, and whether in the digest: urgent now; otherwise per preference,
    moved to the end of the recipient's quiet hours."""
    if urgent:
        return now, False
    digest = recipient.non_urgent is Delivery.DIGEST
    moment = _next_local(now, recipient.digest_at, recipient) if digest else now
    if recipient.quiet is not None:
        zone = zone_named(recipient.zone) or UTC
        if _in_quiet(moment.astimezone(zone).time(), recipient.quiet):
            moment = _next_local(moment, recipient.quiet[1], recipient)
    return moment, digest


def _route(change: Change, chain: Sequence[Recipient]) -> tuple[list[Recipient], bool]:
    """The recipients of a change and whether it is sent as urgent."""
    alert = change.alert
    if not chain or change.kind in (ChangeKind.UPDATED, ChangeKind.ACKNOWLEDGED):
        return [], False
    urgent = alert.severity is Severity.URGENT
    if change.kind is ChangeKind.ESCALATED:
        return [chain[min(alert.escalation, len(chain) - 1)]], True
    if change.kind is ChangeKind.OPENED:
        return ([chain[0]], True) if urgent else (list(chain), False)
    told = chain[: alert.escalation + 1] if urgent else chain
    return list(told), False


def _item(change: Change) -> Item:
    alert = change.alert
    return Item(
        alert.id,
        change.kind,
        alert.condition,
        alert.severity,
        change.at,
        link_of(alert),
        alert.patient,
        alert.gateway,
        dict(alert.last),
        dict(alert.worst),
        alert.count,
        alert.last_at,
    )


def notifications(
    changes: Iterable[Change],
    chain_of: Callable[[Alert], Sequence[Recipient]],
    now: datetime,
    *,
    silences: Iterable[Silence] = (),
) -> list[Notification]:
    """The messages these changes make, grouped per recipient and sitting or digest.

    `chain_of(alert)` is the ordered chain of the alert's patient (or, for a gateway,
    of its patients' care teams).
    """
    paused = list(silences)
    groups: dict[str, tuple[Recipient, datetime, bool, list[tuple[Severity, Item]]]] = {}
    for change in changes:
        if change.inhibited_by or silenced_by(change.alert, paused, change.at) is not None:
            continue
        recipients, urgent = _route(change, chain_of(change.alert))
        rank = change.alert.severity if change.kind is not ChangeKind.RESOLVED else Severity.INFO
        for recipient in recipients:
            if not urgent and recipient.non_urgent is Delivery.OFF:
                continue
            send_at, digest = send_time(recipient, now, urgent=urgent)
            subject = change.alert.patient or change.alert.gateway or ""
            moment = change.occasion or change.at.isoformat()
            key = (
                f"{recipient.id}|digest|{send_at.isoformat()}"
                if digest
                else f"{recipient.id}|{subject}|{moment}|{send_at.isoformat()}"
            )
            groups.setdefault(key, (recipient, send_at, digest, []))[3].append(
                (rank, _item(change))
            )
    found = [
        Notification(
            recipient.id,
            recipient.channel,
            send_at,
            key,
            max((rank for rank, _ in items), key=lambda s: s.rank),
            recipient.content,
            digest,
            tuple(item for _, item in items),
        )
        for key, (recipient, send_at, digest, items) in groups.items()
    ]
    return sorted(found, key=lambda n: (n.send_at, n.recipient, n.group))

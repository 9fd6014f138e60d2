"""The notification outbox: messages waiting to be sent, claimed by one sender at a time.

A message is a row per recipient, channel and grouping key: alerts queued for the
same key while the row is unsent and unclaimed join it (`enqueue`), so the readings
of one occasion, or a day's digest, make one message.

Sending (`delivery.Sender`) claims due rows (`claim`: `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so senders on several servers take disjoint rows; SQLite's write lock
on one machine), commits the claim, sends, and then marks the row sent, or records
the error and a later due time (`retry_delay`), in the transaction that ends the
claim. A sender that dies while holding a claim lets it lapse
(`claimed_until_ms`), and another sends the message: nothing is lost.

The remaining window: a sender that dies after the channel accepted a message and
before its "sent" commits leaves the claim to lapse, and the message goes out a
second time. SMTP and webhooks have no idempotency key we could send, so exactly
once cannot be had; the window is the few milliseconds of one UPDATE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from ..storage.schema import alert_notifications as table

__all__ = [
    "Claimed",
    "Message",
    "claim",
    "due_now",
    "enqueue",
    "mark_failed",
    "mark_sent",
    "pending",
    "retry_delay",
]

_MAX_DELAY_MS = 30 * 60_000  # a channel down for hours is retried every half hour


@dataclass(frozen=True, slots=True)
class Message:
    """One alert's part of a message to one recipient through one channel."""

    recipient: str
    channel: str
    address: str | None
    grouping_key: str
    due_ms: int
    item: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a sender holds: everything it needs to send it."""

    id: int
    recipient: str
    channel: str
    address: str | None
    items: list[dict[str, Any]]
    attempts: int


def retry_delay(attempts: int) -> int:
    """Milliseconds before the next try after `attempts` failed ones: 1 s, 2 s, 4 s … 30 min."""
    return int(min(1000 * 2 ** max(attempts - 1, 0), _MAX_DELAY_MS))


def _open_for(message: Message, now_ms: int) -> Any:
    """The unsent, unclaimed row `message` may join."""
    return (
        select(table.c.id, table.c.payload, table.c.due_ms)
        .where(
            table.c.recipient == message.recipient,
            table.c.channel == message.channel,
            table.c.grouping_key == message.grouping_key,
            table.c.sent_ms.is_(None),
            or_(table.c.claimed_until_ms.is_(None), table.c.claimed_until_ms < now_ms),
            table.c.attempts == 0,
        )
        .limit(1)
        .with_for_update()
    )


def enqueue(connection: Connection, message: Message, now_ms: int) -> int:
    """Add `message` to the outbox, joining an unsent one with its grouping key; the row id.

    A row some sender has claimed, or has already tried, is not joined: what it says
    may be on its way; the new item makes a message of its own.
    """
    row = connection.execute(_open_for(message, now_ms)).first()
    if row is not None:
        payload = json.loads(row.payload)
        payload["items"].append(message.item)
        connection.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(
                payload=json.dumps(payload, ensure_ascii=False),
                due_ms=min(int(row.due_ms), message.due_ms),
            )
        )
        return int(row.id)
    result = connection.execute(
        insert(table)
        .values(
            recipient=message.recipient,
            channel=message.channel,
            address=message.address,
            grouping_key=message.grouping_key,
            payload=json.dumps({"items": [message.item]}, ensure_ascii=False),
            created_ms=now_ms,
            due_ms=message.due_ms,
            attempts=0,
        )
        .returning(table.c.id)
    )
    return int(result.scalar_one())


def due_now(connection: Connection, now_ms: int) -> bool:
    """Whether any message is due and unclaimed (a read: an idle sender takes no write lock)."""
    query = (
        select(table.c.id)
        .where(
            table.c.sent_ms.is_(None),
            table.c.due_ms <= now_ms,
            or_(table.c.claimed_until_ms.is_(None), table.c.claimed_until_ms < now_ms),
        )
        .limit(1)
    )
    return connection.execute(query).first() is not None


def claim(
    connection: Connection, holder: str, now_ms: int, hold_ms: int, limit: int = 20
) -> list[Claimed]:
    """Claim up to `limit` due messages for `holder` until `now_ms + hold_ms` (commit next)."""
    rows = connection.execute(
        select(
            table.c.id,
            table.c.recipient,
            table.c.channel,
            table.c.address,
            table.c.payload,
            table.c.attempts,
        )
        .where(
            table.c.sent_ms.is_(None),
            table.c.due_ms <= now_ms,
            or_(table.c.claimed_until_ms.is_(None), table.c.claimed_until_ms < now_ms),
        )
        .order_by(table.c.due_ms, table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    connection.execute(
        update(table)
        .where(table.c.id.in_([row.id for row in rows]))
        .values(
            claimed_by=holder,
            claimed_until_ms=now_ms + hold_ms,
            attempts=table.c.attempts + 1,
        )
    )
    return [
        Claimed(
            int(row.id),
            row.recipient,
            row.channel,
            row.address,
            list(json.loads(row.payload)["items"]),
            int(row.attempts) + 1,
        )
        for row in rows
    ]


def mark_sent(connection: Connection, message_id: int, holder: str, now_ms: int) -> bool:
    """Record a sent message (False: the claim had lapsed and another sender took it)."""
    result = connection.execute(
        update(table)
        .where(table.c.id == message_id, table.c.claimed_by == holder)
        .values(sent_ms=now_ms, claimed_by=None, claimed_until_ms=None, last_error=None)
    )
    return result.rowcount == 1


def mark_failed(
    connection: Connection, message: Claimed, holder: str, error: str, now_ms: int
) -> None:
    """Record why a message failed and when to try again."""
    connection.execute(
        update(table)
        .where(table.c.id == message.id, table.c.claimed_by == holder)
        .values(
            last_error=error[:2000],
            due_ms=now_ms + retry_delay(message.attempts),
            claimed_by=None,
            claimed_until_ms=None,
        )
    )


def pending(connection: Connection) -> int:
    """Messages not sent yet (due or not)."""
    query = select(func.count()).select_from(table).where(table.c.sent_ms.is_(None))
    return int(connection.execute(query).scalar_one())

"""Sending the outbox's messages through apprise (mail, webhooks, LINE, Slack … by URL).

Channels are named in the database (`alert_recipients.channel`) and defined in the
configuration: `HOMEVITALS_NOTIFY_CHANNELS='{"clinic-mail": "mailtos://user:pass@smtp.example?from=alerts@example",
"ops-hook": "json://hooks.example/homevitals"}'`. The URL, and any password or token
in it, lives only in the configuration; a mail recipient's own address is added to
the channel's URL as `to=`. Channels outside the clinic are listed in
`HOMEVITALS_NOTIFY_ANONYMOUS_CHANNELS='["line"]'`: their messages name no patient.

`deliver_due` is one round: claim the due messages (committed), send each, and
record the outcome in the transaction that ends its claim (see `outbox`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import apprise

from ..storage.resources import ResourceStore
from . import filechannel as _filechannel  # registers hvfile:// with apprise
from . import outbox

__all__ = ["DeliveryFailed", "Round", "apprise_send", "channel_url", "deliver_due", "render"]

_LOGGER = logging.getLogger(__name__)
_MAIL_SCHEMES = ("mailto", "mailtos")
HOLD_MS = 120_000  # a claim outlives any one send (apprise's own timeouts are shorter)


class DeliveryFailed(Exception):
    """A channel did not take a message (the text says why, for `last_error`)."""


@dataclass(frozen=True, slots=True)
class Round:
    """What one delivery round did."""

    sent: int = 0
    failed: int = 0


Send = Callable[[str, str, str], None]


def channel_url(base: str, address: str | None) -> str:
    """The apprise URL for one recipient of a channel: mail (and the mailbox file, which
    writes it in each message's header) gets the address as `to`."""
    if not address or urlsplit(base).scheme not in (*_MAIL_SCHEMES, _filechannel.SCHEME):
        return base
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode({'to': address})}"


def render(items: Sequence[Mapping[str, Any]], *, identifying: bool = True) -> tuple[str, str]:
    """Title and body of a message made of `items` (each with title, body, link, severity).

    The rules decide what each item says; this only puts them together. A channel
    outside the clinic (LINE, a personal phone) is not `identifying`: its message says
    how many alerts and how severe, never which patient or what value, and asks the
    reader to open HomeVitals.
    """
    if not identifying:
        severities = sorted({str(item.get("severity", "")) for item in items} - {""})
        count = f"{len(items)} alert" + ("s" if len(items) > 1 else "")
        detail = f" ({', '.join(severities)})" if severities else ""
        return f"HomeVitals: {count}", f"{count}{detail}. Open HomeVitals to see them."
    titles = [str(item.get("title", "")) for item in items]
    title = titles[0] if len(items) == 1 else f"HomeVitals: {len(items)} alerts"
    parts = []
    for item, item_title in zip(items, titles, strict=True):
        # One item: its title is the message's, not said twice.
        heading = "" if len(items) == 1 else item_title
        lines = [heading, str(item.get("body", "")), str(item.get("link", ""))]
        parts.append("\n".join(line for line in lines if line))
    return title, "\n\n".join(parts)


def apprise_send(url: str, title: str, body: str) -> None:
    """Send one message through apprise.

    Raises:
        DeliveryFailed: the URL is not one apprise knows, or the channel refused or was down.
    """
    sender = apprise.Apprise()
    if not sender.add(url):
        raise DeliveryFailed("apprise does not accept the channel's URL")
    capture: Any = apprise.LogCapture  # apprise says why a channel failed in its log only
    with capture(level=logging.WARNING, fmt="%(message)s") as log:
        delivered = sender.notify(title=title, body=body)
        if not delivered:
            raise DeliveryFailed(
                log.getvalue().strip()[-1000:] or "the channel refused the message"
            )


def deliver_due(
    store: ResourceStore,
    channels: Mapping[str, str],
    holder: str,
    *,
    anonymous: Collection[str] = (),
    send: Send = apprise_send,
    limit: int = 20,
) -> Round:
    """Send the messages due now, once each; record every failure and retry it later.

    `anonymous`: channels whose messages carry no identifying data (`render`).
    """
    with store.reading() as tx:
        if not outbox.due_now(tx.connection, store.now_ms()):
            return Round()
    with store.transaction() as tx:
        claimed = outbox.claim(tx.connection, holder, store.now_ms(), HOLD_MS, limit)
    sent = failed = 0
    for message in claimed:
        base = channels.get(message.channel)
        try:
            if base is None:
                raise DeliveryFailed(f"channel {message.channel!r} is not configured")
            title, body = render(message.items, identifying=message.channel not in anonymous)
            send(channel_url(base, message.address), title, body)
        except DeliveryFailed as exc:
            _LOGGER.warning(
                "notification %s through %s failed (attempt %s): %s",
                message.id,
                message.channel,
                message.attempts,
                exc,
            )
            with store.transaction() as tx:
                outbox.mark_failed(tx.connection, message, holder, str(exc), store.now_ms())
            failed += 1
            continue
        # Right after the channel took it: the only window for a second copy (see outbox).
        with store.transaction() as tx:
            outbox.mark_sent(tx.connection, message.id, holder, store.now_ms())
        sent += 1
    return Round(sent, failed)

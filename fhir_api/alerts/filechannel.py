"""A local mailbox file as an apprise channel: `hvfile:///path/to/notifications.log`.

Apprise's own support for custom channels (`apprise.decorators.notify`) adds the
`hvfile` scheme: each message is appended to the file (created owner-only, 0600: it
holds patients' names), with the time it was sent, its recipient (a recipient's
address, as `?to=`), its title and its body. For the
demo (`homevitals demo` prints where its file is), and for a clinic that wants a
record without a mail server. Registered when `delivery` is imported.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apprise.decorators import notify

__all__ = ["SCHEME", "append_message", "file_url", "path_of"]

SCHEME = "hvfile"
_LOGGER = logging.getLogger(__name__)


def file_url(path: Path) -> str:
    """The channel URL of a mailbox file (an absolute path)."""
    return f"{SCHEME}://{path.resolve()}"


def path_of(meta: dict[str, Any]) -> Path:
    """The file a parsed `hvfile://` URL names (apprise puts the first part in `host`)."""
    host = str(meta.get("host") or "")
    return Path("/" + host + str(meta.get("fullpath") or ""))


def append_message(
    path: Path, title: str, body: str, *, to: str | None = None, now: datetime | None = None
) -> None:
    """Append one message to the file (owner-only when created), `to` in its header."""
    moment = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    header = f"--- {moment}" + (f" to {to}" if to else "")
    text = f"{header}\n{title}\n{body}\n\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as mailbox:
        mailbox.write(text)


def _send(
    body: str, title: str, notify_type: str, meta: dict[str, Any], *_: Any, **__: Any
) -> bool:
    try:
        to = (meta.get("qsd") or {}).get("to")
        append_message(path_of(meta), title, body, to=str(to) if to else None)
    except OSError as exc:  # apprise reports False as a failed delivery: retried later
        _LOGGER.warning("the alert mailbox file could not be written: %s", exc)
        return False
    return True


_register: Any = notify  # apprise's decorator is untyped
_register(on=SCHEME, name="HomeVitals mailbox file")(_send)

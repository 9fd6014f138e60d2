"""The hash chain over the audit trail: how a link is computed and how a walk finds a break.

Pure: no database, no clock. Each stored event is one link::

    hash(n) = SHA-256( hash(n-1) ":" seq(n) ":" canonical JSON of event n )

with `hash(0)` = `GENESIS` (64 zeros). The canonical JSON is the event's keys
sorted, no whitespace, UTF-8 (what the writer stores, so re-encoding the stored
text gives the same bytes). `seq` is inside the hash, so rows cannot be
renumbered or reordered, and numbers are given without gaps, so a deleted row
shows as a missing number.

A walk (`ChainCheck`) takes the rows in `seq` order and names the first broken
link, and why:

- `row missing`: a number is skipped, or the chain head says the trail goes on
  further than the rows do (the newest rows were removed);
- `link broken`: a row's `prev_hash` is not the previous row's hash (a row was
  replaced, or removed and the chain rebuilt from there);
- `content altered`: the row's hash is not the hash of its content (the JSON was
  edited in place);
- `columns altered`: the searchable columns (agent, action, date, patients, ...)
  do not say what the content says (an event hidden from searches).

The chain shows tampering by anyone who cannot rewrite every row after the one
they change; `homevitals admin audit verify` prints the head hash, so an operator
who notes it elsewhere also catches a rewrite of the whole tail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "GENESIS",
    "Break",
    "ChainCheck",
    "StoredLink",
    "canonical",
    "link_hash",
]

GENESIS = "0" * 64


def canonical(document: Any) -> bytes:
    """The bytes a link hashes: the JSON with sorted keys and no whitespace, UTF-8."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def link_hash(previous: str, seq: int, content: bytes) -> str:
    """The hash of link `seq`, whose canonical JSON is `content`, after `previous`."""
    digest = hashlib.sha256(previous.encode("ascii"))
    digest.update(b":%d:" % seq)
    digest.update(content)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredLink:
    """One row of the trail as the database holds it.

    `document` is the parsed content (None when it is not JSON); `columns` the
    searchable columns as stored and `expected` what the content says they should be.
    """

    seq: int
    prev_hash: str
    hash: str
    document: Any
    columns: Sequence[object]
    expected: Sequence[object]


@dataclass(frozen=True, slots=True)
class Break:
    """The first broken link: its `seq` and why (`reason` is one of the kinds above)."""

    seq: int
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.reason} ({self.detail})"


class ChainCheck:
    """Walks links in `seq` order; `feed` each, then `finish` with the chain head."""

    def __init__(self) -> None:
        self.count = 0
        self.last_seq = 0
        self.last_hash = GENESIS

    def feed(self, link: StoredLink) -> Break | None:
        """Check one link after those fed before; the first problem found, if any."""
        expected_seq = self.last_seq + 1
        if link.seq != expected_seq:
            return Break(
                expected_seq,
                "row missing",
                f"the trail goes from seq {self.last_seq} to seq {link.seq}",
            )
        if link.prev_hash != self.last_hash:
            return Break(
                link.seq,
                "link broken",
                "its prev_hash is not the hash of the row before it",
            )
        if link.document is None:
            return Break(link.seq, "content altered", "its content is not JSON")
        if link_hash(self.last_hash, link.seq, canonical(link.document)) != link.hash:
            return Break(link.seq, "content altered", "its hash does not match its content")
        if tuple(link.columns) != tuple(link.expected):
            return Break(
                link.seq,
                "columns altered",
                "its search columns do not say what its content says",
            )
        self.count += 1
        self.last_seq = link.seq
        self.last_hash = link.hash
        return None

    def finish(self, head_seq: int, head_hash: str) -> Break | None:
        """Check the end of the walk against the chain head (the last link appended)."""
        if head_seq > self.last_seq:
            return Break(
                self.last_seq + 1,
                "row missing",
                f"the chain head says the trail ends at seq {head_seq}, "
                f"the rows at seq {self.last_seq}",
            )
        if head_seq < self.last_seq or head_hash != self.last_hash:
            return Break(
                self.last_seq,
                "link broken",
                f"the chain head (seq {head_seq}) does not name the last row",
            )
        return None

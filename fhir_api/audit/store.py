"""The audit trail in the database: append (chained), verify, read and search.

Appending locks the one-row chain head (`SELECT ... FOR UPDATE` on PostgreSQL;
on SQLite the transaction's write lock, taken at `BEGIN IMMEDIATE`, does the
same), numbers the new events after it, chains their hashes and moves the head,
all in the caller's transaction. So the chain is one line however many workers
and servers write to one database, and its numbers have no gaps: a rolled-back
append gives its numbers back with everything else.

The head lock is held until the caller commits: `AuditLog.record_in` inside a
data write holds it for that write's transaction (short), the log's own batches
for one insert of up to 500 rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from ..storage.database import READ_ONLY
from ..storage.schema import audit_chain_head, audit_event_patients, audit_events
from .chain import Break, ChainCheck, StoredLink, canonical, link_hash
from .events import OBSERVER, Indexed, indexed, render_with_fields
from .query import AuditQuery
from .record import AuditRecord

__all__ = [
    "Prepared",
    "Verdict",
    "append",
    "count_events",
    "prepare",
    "read_event",
    "search_events",
    "verify",
]

_PAGE = 1_000


@dataclass(frozen=True, slots=True)
class Prepared:
    """An event rendered and encoded, ready to be chained (done before taking the lock)."""

    content: bytes  # canonical JSON: what is stored and hashed
    fields: Indexed


def prepare(record: AuditRecord, observer: str = OBSERVER) -> Prepared:
    """Render `record` and compute its columns (pure; never raises for a record)."""
    document, fields = render_with_fields(record, observer)
    return Prepared(canonical(document), fields)


def append(connection: Connection, events: Sequence[Prepared]) -> list[int]:
    """Chain `events` after the head, in `connection`'s open transaction; their seqs."""
    if not events:
        return []
    head = connection.execute(
        select(audit_chain_head.c.seq, audit_chain_head.c.hash)
        .where(audit_chain_head.c.id == 1)
        .with_for_update()
    ).one()
    seq, previous = int(head.seq), str(head.hash)
    rows: list[dict[str, Any]] = []
    patients: list[dict[str, Any]] = []
    for event in events:
        seq += 1
        digest = link_hash(previous, seq, event.content)
        fields = event.fields
        rows.append(
            {
                "seq": seq,
                "recorded_ms": fields.recorded_ms,
                "agent": fields.agent,
                "action": fields.action,
                "subtype": fields.subtype,
                "outcome": fields.outcome,
                "content": event.content.decode("utf-8"),
                "prev_hash": previous,
                "hash": digest,
            }
        )
        patients.extend({"patient_id": p, "seq": seq} for p in fields.patients)
        previous = digest
    # executemany: psycopg pipelines the rows (measured faster here than multi-row
    # INSERTs, with or without RETURNING); sqlite3 loops in C.
    connection.execute(insert(audit_events), rows)
    if patients:
        connection.execute(insert(audit_event_patients), patients)
    connection.execute(
        update(audit_chain_head).where(audit_chain_head.c.id == 1).values(seq=seq, hash=previous)
    )
    return [row["seq"] for row in rows]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What `verify` found: how many events were intact, the head, and the first break."""

    count: int
    head_seq: int
    head_hash: str
    broken: Break | None

    @property
    def intact(self) -> bool:
        """True when every link holds."""
        return self.broken is None


def _snapshot(engine: Engine) -> Connection:
    """A connection whose reads all see one moment (appends may go on meanwhile)."""
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="REPEATABLE READ")
    return connection.execution_options(**{READ_ONLY: True})


def verify(engine: Engine) -> Verdict:
    """Walk the whole chain in seq order, in one snapshot; name the first broken link."""
    check = ChainCheck()
    with _snapshot(engine) as connection, connection.begin():
        head = connection.execute(
            select(audit_chain_head.c.seq, audit_chain_head.c.hash).where(
                audit_chain_head.c.id == 1
            )
        ).one()
        after = 0
        while True:
            rows = connection.execute(
                select(audit_events)
                .where(audit_events.c.seq > after)
                .order_by(audit_events.c.seq)
                .limit(_PAGE)
            ).all()
            if not rows:
                break
            patients = _patients_between(connection, rows[0].seq, rows[-1].seq)
            for row in rows:
                broken = check.feed(_link(row, patients.get(row.seq, ())))
                if broken is not None:
                    return Verdict(check.count, head.seq, head.hash, broken)
            after = rows[-1].seq
        broken = check.finish(int(head.seq), str(head.hash))
    return Verdict(check.count, int(head.seq), str(head.hash), broken)


def _patients_between(connection: Connection, first: int, last: int) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for patient_id, seq in connection.execute(
        select(audit_event_patients.c.patient_id, audit_event_patients.c.seq).where(
            audit_event_patients.c.seq.between(first, last)
        )
    ):
        found[seq].append(patient_id)
    return found


def _link(row: Any, patients: Sequence[str]) -> StoredLink:
    try:
        document = orjson.loads(row.content)
    except orjson.JSONDecodeError:
        document = None
    fields = indexed(document) if document is not None else None
    columns = (
        row.recorded_ms,
        row.agent,
        row.action,
        row.subtype,
        row.outcome,
        tuple(sorted(patients)),
    )
    return StoredLink(
        seq=int(row.seq),
        prev_hash=row.prev_hash,
        hash=row.hash,
        document=document,
        columns=columns,
        expected=fields.columns() if fields is not None else (),
    )


def _served(seq: int, content: str) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(content)
    return {"resourceType": "AuditEvent", "id": str(seq), **document}


def read_event(engine: Engine, seq: int) -> dict[str, Any] | None:
    """The AuditEvent numbered `seq` (its id), or None."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        content = connection.execute(
            select(audit_events.c.content).where(audit_events.c.seq == seq)
        ).scalar()
    return _served(seq, content) if content is not None else None


_COLUMNS = {
    "agent": audit_events.c.agent,
    "action": audit_events.c.action,
    "subtype": audit_events.c.subtype,
    "outcome": audit_events.c.outcome,
}


def _conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    for name, values in query.filters:
        if name == "patient":
            where.append(
                audit_events.c.seq.in_(
                    select(audit_event_patients.c.seq).where(
                        audit_event_patients.c.patient_id.in_(values)
                    )
                )
            )
        else:
            where.append(_COLUMNS[name].in_(values))
    recorded = audit_events.c.recorded_ms
    for alternatives in query.dates:
        clauses = []
        for prefix, start, end in alternatives:
            clauses.append(
                {
                    "eq": (recorded >= start) & (recorded < end),
                    "ge": recorded >= start,
                    "gt": recorded >= end,
                    "le": recorded < end,
                    "lt": recorded < start,
                }[prefix]
            )
        where.append(or_(*clauses))
    if query.before is not None:
        where.append(audit_events.c.seq < query.before)
    return where


def search_events(engine: Engine, query: AuditQuery) -> tuple[list[dict[str, Any]], int | None]:
    """One page of matching AuditEvents, newest first, and where the next page starts."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        rows = connection.execute(
            select(audit_events.c.seq, audit_events.c.content)
            .where(*_conditions(query))
            .order_by(audit_events.c.seq.desc())
            .limit(query.count + 1)
        ).all()
    page = rows[: query.count]
    following = page[-1].seq if len(rows) > query.count and page else None
    return [_served(row.seq, row.content) for row in page], following


def count_events(engine: Engine) -> int:
    """How many events the trail holds."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        return int(connection.execute(select(func.count()).select_from(audit_events)).scalar_one())

"""The durable outbox: every reading is committed here before anything else happens to it.

SQLite in WAL mode with `synchronous=FULL`: once a commit returns, the reading
survives a power cut. Only then may the session delete it from the device (RACP)
or the uploader send it. A row is marked sent only after a 2xx answer covering
it; a row the server refuses (4xx other than 408/429) is kept as rejected with
the server's OperationOutcome, and never retried by itself. Malformed payloads go
to a quarantine table, raw, with their error.

Threads: one connection, guarded by a lock, and one writer thread of its own.
The service's event loop never touches the database itself: it hands work to
that thread with `await outbox.run(...)`, so an fsync on a slow SD card delays
only the work queued behind it, never a BLE callback, an upload or the heartbeat.
Synchronous callers (the CLI, pairing, tests) call the methods directly; the lock
keeps them from interleaving with the writer thread. SQLite allows one connection
to move between threads as long as no two use it at once (`check_same_thread`
only guards against forgetting that), which the lock guarantees.

Faults: every `sqlite3` or OS error is translated here into `StorageError`, so a
caller knows that nothing of what it asked for was stored (each write is one
transaction). At start-up `PRAGMA quick_check` must answer `ok`; otherwise
`open_outbox` sets the damaged file aside (kept for someone to look at, never
deleted) and starts an empty outbox, so the home keeps being read.

Growth: `prune(older_than)` deletes rows sent more than `older_than` seconds
ago (the service passes `sent_retention_days`, 7 by default, once an hour), and a
night's sleep epochs once the night is summarised, their window sent, and as old. Rejected and
quarantined rows are few and kept until someone looks (`homevitals gateway
status` lists them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from device_adapters import AbsentReason, Quantity, SleepEpoch, SleepStage, Unit

from .bindings import Binding
from .epoch_origin import EpochOrigin
from .errors import OutboxCorrupt, StorageError
from .mapping import PatientLink
from .mapping.devices import DeviceKind

__all__ = [
    "SENT_ONE_PER_EPOCH",
    "WAITING_FOR_SERVER",
    "Batch",
    "Outbox",
    "OutboxRow",
    "Supporting",
    "damaged_files",
    "open_outbox",
    "set_aside",
]

# How a pending row's outcome starts when the server refused it for a Patient or
# Device it does not hold yet (the uploader sends it again later; `gateway status`
# lists these rows).
WAITING_FOR_SERVER = "waiting for the server to know a referenced resource:"

_LOGGER = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")
# What an outbox written before issue 15 holds in `sleep_epochs.sampled_in` after the
# upgrade: those epochs went to the server one Observation each, and are not sent again.
SENT_ONE_PER_EPOCH = "sent one Observation per epoch"
# A dropped WAL is truncated back to this size after a checkpoint, so a burst of
# writes does not leave a large -wal file on the SD card for good.
_JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    full_url TEXT NOT NULL UNIQUE,
    resource TEXT NOT NULL,
    if_none_exist TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    outcome TEXT,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, next_attempt_at, seq);
CREATE TABLE IF NOT EXISTS supporting (
    full_url TEXT PRIMARY KEY,
    resource TEXT NOT NULL,
    if_none_exist TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    device TEXT NOT NULL,
    characteristic TEXT NOT NULL,
    payload BLOB NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sleep_epochs (
    device TEXT NOT NULL,
    start TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    record TEXT NOT NULL,
    sampled_in TEXT,
    origin TEXT,
    PRIMARY KEY (device, start, sequence)
);
CREATE TABLE IF NOT EXISTS bindings (
    address TEXT NOT NULL,
    slot INTEGER NOT NULL,
    kind TEXT NOT NULL,
    patient TEXT NOT NULL,
    PRIMARY KEY (address, slot)
);
CREATE TABLE IF NOT EXISTS marks (
    device TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (device, name)
);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued resource."""

    seq: int
    full_url: str
    resource: dict[str, Any]
    if_none_exist: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Supporting:
    """A Device or Patient entry that queued Observations refer to."""

    full_url: str
    resource: dict[str, Any]
    if_none_exist: str


@dataclass(slots=True)
class Batch:
    """What one commit stores, all or nothing: Observations, what they refer to,
    undecodable payloads and sleep epochs."""

    entries: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    supporting: list[Supporting] = field(default_factory=list)
    quarantined: list[tuple[str, str, bytes, str]] = field(default_factory=list)
    # Kept epochs: (device, epoch, the session it came in; None: unknown, as before).
    epochs: list[tuple[str, SleepEpoch, EpochOrigin | None]] = field(default_factory=list)
    # Kept epochs sent in a window's SampledData: (device, start, sequence, window name).
    sampled: list[tuple[str, str, int, str]] = field(default_factory=list)

    def extend(self, other: Batch) -> None:
        """Add another batch's content to this one."""
        self.entries += other.entries
        self.supporting += other.supporting
        self.quarantined += other.quarantined
        self.epochs += other.epochs
        self.sampled += other.sampled


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """sqlite3 and OS errors become `StorageError` here, and nowhere else."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_CORRUPT" or name == "SQLITE_NOTADB":
            raise OutboxCorrupt(f"{what}: {exc} ({name})") from exc
        raise StorageError(f"{what}: {exc}" + (f" ({name})" if name else "")) from exc
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"{what}: {exc}") from exc


def _rate(quantity: Quantity | None) -> list[Any] | None:
    """A rate as kept: [value, exponent], and for a special value (NaN, NRes, +/-INF)
    [None, exponent, why] (a window sends +/-INF as U/L, not E)."""
    if quantity is None:
        return None
    if quantity.absent_reason is None:
        return [quantity.value, quantity.exponent]
    return [quantity.value, quantity.exponent, quantity.absent_reason.value]


def _epoch_record(epoch: SleepEpoch, start: datetime) -> str:
    """An epoch as kept until its night is summarised and its window sent: stage and the
    rates (issue 15: the rates travel in the window's SampledData, built from this row)."""
    return json.dumps(
        {
            "sequence": epoch.sequence_number,
            "start": start.isoformat(),
            "duration": epoch.duration.value,
            "stage": int(epoch.stage),
            "unreliable": epoch.device_clock_unreliable,
            "heart_rate": _rate(epoch.heart_rate),
            "respiration_rate": _rate(epoch.respiration_rate),
        }
    )


def _kept_rate(item: Any) -> Quantity | None:
    if not isinstance(item, list):
        return None  # kept before issue 15, or the epoch had no such rate
    value, exponent, *why = item  # why: kept since special values keep their reason
    return Quantity(
        None if value is None else float(value),
        Unit.PER_MIN,
        int(exponent),
        AbsentReason(why[0]) if why else None,
    )


def _kept_epoch(text: str) -> SleepEpoch:
    item = json.loads(text)
    return SleepEpoch(
        item["sequence"],
        datetime.fromisoformat(item["start"]),
        Quantity(float(item["duration"]), Unit.SECOND),
        SleepStage(item["stage"]),
        heart_rate=_kept_rate(item.get("heart_rate")),
        respiration_rate=_kept_rate(item.get("respiration_rate")),
        device_clock_unreliable=item["unreliable"],
    )


class Outbox:
    """The gateway's SQLite database: thread-safe, with a writer thread for the event loop.

    Args:
        path: the database file (its folder is created, owner-only).

    Raises:
        OutboxCorrupt: the file fails its integrity check (see `open_outbox`).
        StorageError: the file cannot be opened or set up (read-only, full, I/O error).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with _translated(f"cannot open {path}"):
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="outbox")
        with _translated(f"cannot open {path}"):
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)  # health data: the owner only (-wal and -shm follow it)
        try:
            with _translated(f"cannot open {path}"):
                # A damaged file is found here, before anything is written to it.
                verdict = [row[0] for row in self._db.execute("PRAGMA quick_check")]
                if verdict != ["ok"]:
                    raise OutboxCorrupt(f"{path} failed its integrity check: {verdict[:3]}")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut
                self._db.execute(f"PRAGMA journal_size_limit={_JOURNAL_SIZE_LIMIT}")
                self._db.executescript(_SCHEMA)
                self._upgrade()
        except BaseException:
            self._db.close()
            self._writer.shutdown(wait=False)
            raise

    def _upgrade(self) -> None:
        """Bring an outbox written by an older gateway to this schema (one transaction).

        Issue 15: `sleep_epochs.sampled_in` names the window whose SampledData carried an
        epoch. Epochs kept before it went to the server one Observation each: they are
        marked so, and the first window after the upgrade does not send them again.
        `sleep_epochs.origin` (the session an epoch came in: its clock and patient) came
        later; rows kept before it stay NULL, and a window of them is mapped with the
        sending session's clock and binding, as it was then.
        """
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(sleep_epochs)")}
        if {"sampled_in", "origin"} <= columns:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if "sampled_in" not in columns:
                self._db.execute("ALTER TABLE sleep_epochs ADD COLUMN sampled_in TEXT")
                self._db.execute("UPDATE sleep_epochs SET sampled_in = ?", (SENT_ONE_PER_EPOCH,))
            if "origin" not in columns:
                self._db.execute("ALTER TABLE sleep_epochs ADD COLUMN origin TEXT")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the database (after the writer thread's queued work)."""
        self._writer.shutdown(wait=True)
        with self._lock:
            self._db.close()

    async def run(self, method: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run `method` (one of this outbox's) in the writer thread, without blocking the loop.

        Work runs in the order it was handed over, one piece at a time.
        """
        future = self._writer.submit(method, *args, **kwargs)
        return await asyncio.wrap_future(future)

    # --- writing ------------------------------------------------------------------------

    def commit(self, batch: Batch) -> int:
        """Store a batch in one transaction (one fsync); returns how many Observations are new.

        A reading already queued (same fullUrl, i.e. the same PHD identifier) is not
        queued twice.

        Raises:
            StorageError: nothing of the batch was stored.
        """
        now = time.time()
        with self._transaction("cannot commit"):
            for item in batch.supporting:
                self._db.execute(
                    "INSERT INTO supporting (full_url, resource, if_none_exist) VALUES (?,?,?) "
                    "ON CONFLICT (full_url) DO UPDATE SET resource = excluded.resource",
                    (item.full_url, json.dumps(item.resource), item.if_none_exist),
                )
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (full_url, resource, if_none_exist, created_at) "
                "VALUES (?,?,?,?)",
                [(url, json.dumps(resource), query, now) for url, resource, query in batch.entries],
            )
            added = self._db.total_changes - before
            self._db.executemany(
                "INSERT INTO quarantine (received_at, device, characteristic, payload, error) "
                "VALUES (?,?,?,?,?)",
                [(now, d, c, bytes(p), e) for d, c, p, e in batch.quarantined],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO sleep_epochs (device, start, sequence, record, origin) "
                "VALUES (?,?,?,?,?)",
                [
                    (
                        device,
                        e.device_time.isoformat(),
                        e.sequence_number,
                        _epoch_record(e, e.device_time),
                        origin.to_json() if origin is not None else None,
                    )
                    for device, e, origin in batch.epochs
                    if e.device_time is not None
                ],
            )
            self._db.executemany(
                "UPDATE sleep_epochs SET sampled_in = ? "
                "WHERE device = ? AND start = ? AND sequence = ? AND sampled_in IS NULL",
                [(window, device, start, seq) for device, start, seq, window in batch.sampled],
            )
        return added

    def add(
        self,
        entries: Sequence[tuple[str, dict[str, Any], str]],
        supporting: Iterable[Supporting] = (),
    ) -> int:
        """Commit Observations (full_url, resource, ifNoneExist) and their supporting entries.

        One transaction: all or none. Returns how many rows are new.
        """
        return self.commit(Batch(list(entries), list(supporting)))

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        """One transaction, so one fsync: in autocommit every row of an executemany would
        commit (and fsync, with synchronous=FULL) on its own; 100 rows cost 21-34 ms
        instead of 3 ms on the development disk, far more on an SD card."""
        with self._lock, _translated(what):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock, _translated(what):
            yield self._db

    def quarantine(self, device: str, characteristic: str, payload: bytes, error: str) -> None:
        """Keep a payload that could not be decoded, raw, with why."""
        self.commit(Batch(quarantined=[(device, characteristic, payload, error)]))

    def add_sleep_epoch(
        self, device: str, epoch: SleepEpoch, origin: EpochOrigin | None = None
    ) -> None:
        """Keep an epoch (with a device time) for the night summaries and its window."""
        self.commit(Batch(epochs=[(device, epoch, origin)]))

    def sleep_epochs(self, device: str, since: datetime | None = None) -> list[SleepEpoch]:
        """A device's kept epochs, oldest first; with `since`, those starting then or later.

        `since` is read in SQL (the primary key's order), not after parsing every row:
        the night summaries ask after each session, and a week of 30-second epochs is
        thousands of rows.
        """
        query = "SELECT record FROM sleep_epochs WHERE device = ?"
        parameters: tuple[str, ...] = (device,)
        if since is not None:
            # Device times carry no zone and are kept as isoformat text: it sorts as time.
            query += " AND start >= ?"
            parameters += (since.isoformat(),)
        with self._read("cannot read sleep epochs") as db:
            rows = db.execute(query + " ORDER BY start, sequence", parameters).fetchall()
        return [_kept_epoch(text) for (text,) in rows]

    def unsampled_epochs(self, device: str) -> list[SleepEpoch]:
        """A device's kept epochs that no window's SampledData has carried yet, oldest first."""
        return [epoch for epoch, _ in self.unsampled_epochs_with_origin(device)]

    def unsampled_epochs_with_origin(
        self, device: str
    ) -> list[tuple[SleepEpoch, EpochOrigin | None]]:
        """`unsampled_epochs`, each with the session it came in (None: kept before that
        was stored)."""
        with self._read("cannot read sleep epochs") as db:
            rows = db.execute(
                "SELECT record, origin FROM sleep_epochs WHERE device = ? AND sampled_in IS NULL "
                "ORDER BY start, sequence",
                (device,),
            ).fetchall()
        return [
            (_kept_epoch(text), EpochOrigin.from_json(origin) if origin is not None else None)
            for text, origin in rows
        ]

    def save_binding(self, binding: Binding) -> None:
        """Store a paired device's binding (slot -1 stands for the whole device)."""
        for patient in binding.patients.values():
            if patient.logical_id is None:
                raise ValueError("paired devices are bound to a Patient id")
        with self._transaction("cannot store the binding"):
            for slot, patient in binding.patients.items():
                self._db.execute(
                    "INSERT INTO bindings (address, slot, kind, patient) VALUES (?,?,?,?) "
                    "ON CONFLICT (address, slot) DO UPDATE "
                    "SET kind = excluded.kind, patient = excluded.patient",
                    (
                        binding.address.upper(),
                        -1 if slot is None else slot,
                        binding.kind.value,
                        patient.logical_id,
                    ),
                )

    def bindings(self) -> list[Binding]:
        """The bindings stored by pairing."""
        with self._read("cannot read bindings") as db:
            rows = db.execute(
                "SELECT address, slot, kind, patient FROM bindings ORDER BY address"
            ).fetchall()
        grouped: dict[str, Binding] = {}
        for address, slot, kind, patient in rows:
            binding = grouped.setdefault(address, Binding(address, DeviceKind(kind), {}))
            binding.patients[None if slot == -1 else int(slot)] = PatientLink(logical_id=patient)
        return list(grouped.values())

    def set_mark(self, device: str, name: str, value: str) -> None:
        """Remember a per-device value (the last RACP sequence number stored, ...)."""
        with self._transaction("cannot store a mark"):
            self._db.execute(
                "INSERT INTO marks (device, name, value) VALUES (?,?,?) "
                "ON CONFLICT (device, name) DO UPDATE SET value = excluded.value",
                (device, name, value),
            )

    def mark(self, device: str, name: str) -> str | None:
        """A remembered per-device value."""
        with self._read("cannot read a mark") as db:
            row = db.execute(
                "SELECT value FROM marks WHERE device = ? AND name = ?", (device, name)
            ).fetchone()
        return None if row is None else str(row[0])

    def next_number(self, device: str, name: str) -> int:
        """Hand out the next number of a per-device counter (1, 2, ...), committed first.

        The call button numbers its presses with it: a number is never handed out twice,
        across restarts, so a press's identifier is unique and a retry idempotent. A
        number whose press was then not committed is simply skipped.
        """
        with self._transaction("cannot count"):
            row = self._db.execute(
                "SELECT value FROM marks WHERE device = ? AND name = ?", (device, name)
            ).fetchone()
            number = 1 if row is None else int(row[0]) + 1
            self._db.execute(
                "INSERT INTO marks (device, name, value) VALUES (?,?,?) "
                "ON CONFLICT (device, name) DO UPDATE SET value = excluded.value",
                (device, name, str(number)),
            )
        return number

    def probe(self) -> None:
        """Write and commit a few bytes: raises `StorageError` while the disk cannot take them.

        The service calls it before it connects to devices again after a storage fault.
        """
        self.set_mark("", "probe", repr(time.time()))

    # --- uploading ----------------------------------------------------------------------

    def due(self, limit: int, now: float | None = None) -> list[OutboxRow]:
        """Pending rows whose retry time has come, oldest first."""
        with self._read("cannot read due rows") as db:
            rows = db.execute(
                "SELECT seq, full_url, resource, if_none_exist, attempts FROM outbox "
                "WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
                (time.time() if now is None else now, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def next_due_in(self, now: float | None = None) -> float | None:
        """Seconds until the earliest pending row is due (None when nothing is pending)."""
        with self._read("cannot read due rows") as db:
            row = db.execute(
                "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'"
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return max(0.0, float(row[0]) - (time.time() if now is None else now))

    def lookup(self, full_urls: Iterable[str]) -> list[Supporting]:
        """Entries for referenced fullUrls: supporting resources or (already sent) Observations."""
        found = []
        with self._read("cannot read supporting entries") as db:
            for url in full_urls:
                row = (
                    db.execute(
                        "SELECT resource, if_none_exist FROM supporting WHERE full_url = ?", (url,)
                    ).fetchone()
                    or db.execute(
                        "SELECT resource, if_none_exist FROM outbox WHERE full_url = ?", (url,)
                    ).fetchone()
                )
                if row is not None:
                    found.append(Supporting(url, json.loads(row[0]), row[1]))
        return found

    def mark_sent(self, seqs: Sequence[int]) -> None:
        """The server stored these (2xx)."""
        now = time.time()
        with self._transaction("cannot mark rows sent"):
            self._db.executemany(
                "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1 "
                "WHERE seq = ?",
                [(now, s) for s in seqs],
            )

    def mark_rejected(self, seq: int, outcome: dict[str, Any] | str) -> None:
        """The server refused this one for good: keep it, with its OperationOutcome."""
        text = outcome if isinstance(outcome, str) else json.dumps(outcome)
        with self._transaction("cannot mark a row rejected"):
            self._db.execute(
                "UPDATE outbox SET state = 'rejected', outcome = ?, attempts = attempts + 1 "
                "WHERE seq = ?",
                (text, seq),
            )

    def postpone(self, seqs: Sequence[int], delay: float, error: str) -> None:
        """Try these again after `delay` seconds."""
        due = time.time() + delay
        with self._transaction("cannot postpone rows"):
            self._db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, outcome = ? "
                "WHERE seq = ?",
                [(due, error, s) for s in seqs],
            )

    # --- growth -------------------------------------------------------------------------

    def prune(self, older_than: float, now: float | None = None) -> int:
        """Delete rows sent more than `older_than` seconds ago; returns how many.

        Observations that queued rows still refer to (a coincident time stamp) are looked
        up by fullUrl when a Bundle is built; they are pruned only once nothing pending
        or rejected refers to them any more, which the age alone makes true in practice
        (they are queued in the same commit as the rows that refer to them). Sleep
        epochs go once their night is summarised (the `sleep-nights-until` mark) and
        are older than `older_than` too. Rejected and quarantined rows stay.
        """
        cutoff = (time.time() if now is None else now) - older_than
        with self._transaction("cannot prune"):
            cursor = self._db.execute(
                "DELETE FROM outbox WHERE state = 'sent' AND sent_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM outbox AS other WHERE other.state != 'sent' "
                "AND instr(other.resource, outbox.full_url) > 0)",
                (cutoff,),
            )
            pruned = cursor.rowcount
            marks = self._db.execute(
                "SELECT device, value FROM marks WHERE name = 'sleep-nights-until'"
            ).fetchall()
            for device, until in marks:
                # Device times carry no zone: compare as local text, a day's margin.
                horizon = min(
                    datetime.fromisoformat(until),
                    datetime.fromtimestamp(cutoff, UTC).replace(tzinfo=None) - timedelta(days=1),
                )
                self._db.execute(  # an epoch no window has sent yet stays, however old
                    "DELETE FROM sleep_epochs WHERE device = ? AND start < ? "
                    "AND sampled_in IS NOT NULL",
                    (device, horizon.isoformat()),
                )
        with self._lock, _translated("cannot checkpoint"):
            # Copy the write-ahead log into the database and empty it, so the -wal file
            # does not stay at its high-water mark (up to 4 MB) between prunes.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return pruned

    def size(self) -> dict[str, int]:
        """Rows kept (every state, quarantine and sleep epochs) and bytes on disk."""
        with self._read("cannot read the outbox size") as db:
            rows = sum(
                db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                for table in ("outbox", "quarantine", "sleep_epochs", "supporting")
            )
        files = [self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]
        return {"rows": rows, "bytes": sum(f.stat().st_size for f in files if f.exists())}

    # --- status -------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per state, plus quarantined payloads."""
        with self._read("cannot count rows") as db:
            counts = {
                state: n
                for state, n in db.execute("SELECT state, count(*) FROM outbox GROUP BY state")
            }
            counts["quarantined"] = db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        return {"pending": 0, "sent": 0, "rejected": 0, **counts}

    def oldest_pending_age(self, now: float | None = None) -> float | None:
        """Seconds since the oldest unsent reading was queued."""
        with self._read("cannot read the oldest row") as db:
            row = db.execute(
                "SELECT min(created_at) FROM outbox WHERE state = 'pending'"
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return (time.time() if now is None else now) - float(row[0])

    def waiting_for_server(self) -> list[tuple[int, str]]:
        """Pending rows the server refused for a reference it does not hold yet: (seq, why)."""
        with self._read("cannot read waiting rows") as db:
            rows = db.execute(
                "SELECT seq, outcome FROM outbox WHERE state = 'pending' AND outcome LIKE ? "
                "ORDER BY seq",
                (WAITING_FOR_SERVER + "%",),
            ).fetchall()
        return [(int(seq), str(outcome)) for seq, outcome in rows]

    def rejected(self) -> list[tuple[int, dict[str, Any], str]]:
        """Rejected rows with the server's answer, for `homevitals gateway status`."""
        with self._read("cannot read rejected rows") as db:
            rows = db.execute(
                "SELECT seq, resource, outcome FROM outbox WHERE state = 'rejected'"
            ).fetchall()
        return [(r[0], json.loads(r[1]), r[2]) for r in rows]

    def quarantined(self) -> list[dict[str, Any]]:
        """Quarantined payloads (raw, hex) with why, for `homevitals gateway status`."""
        with self._read("cannot read quarantined payloads") as db:
            rows = db.execute(
                "SELECT id, received_at, device, characteristic, payload, error FROM quarantine "
                "ORDER BY id"
            ).fetchall()
        return [
            {
                "id": r[0],
                "received_at": datetime.fromtimestamp(r[1], UTC).isoformat(timespec="seconds"),
                "device": r[2],
                "characteristic": r[3],
                "payload": bytes(r[4]).hex(),
                "error": r[5],
            }
            for r in rows
        ]

    def all_resources(self) -> list[dict[str, Any]]:
        """Every queued resource (tests and diagnostics)."""
        with self._read("cannot read rows") as db:
            rows = db.execute("SELECT resource FROM outbox ORDER BY seq").fetchall()
        return [json.loads(r[0]) for r in rows]


def set_aside(path: Path, now: float | None = None) -> Path:
    """Rename a damaged database (and its -wal/-shm) out of the way; returns the new name."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    target = path.with_name(f"{path.name}.corrupt-{stamp:%Y%m%dT%H%M%SZ}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{target}{suffix}"))
    return target


def damaged_files(path: Path) -> list[Path]:
    """Damaged databases set aside next to `path` and not yet looked at (removed by a person)."""
    found = path.parent.glob(f"{path.name}.corrupt-*")
    return sorted(p for p in found if not p.name.endswith(("-wal", "-shm")))


def open_outbox(path: Path) -> tuple[Outbox, Path | None]:
    """Open the outbox; a file that fails its integrity check is set aside and replaced.

    The home keeps being read into a new, empty outbox: the devices keep their memory
    until a commit to it succeeds, so nothing new is lost. What the damaged file held
    (readings not yet sent, bindings stored by pairing) stays in the file set aside,
    reported by `homevitals gateway status` and the heartbeat until someone removes it.

    Returns:
        The outbox, and where a damaged file was set aside (None if it was sound).

    Raises:
        StorageError: the file system cannot hold a database at all (read-only, full).
    """
    try:
        return Outbox(path), None
    except OutboxCorrupt as exc:
        aside = set_aside(path)
        _LOGGER.error("%s; set aside as %s, starting an empty outbox", exc, aside)
        return Outbox(path), aside


def utc_now() -> datetime:
    """The gateway's clock (NTP-synchronised on a Pi), zone-aware."""
    return datetime.now(UTC)

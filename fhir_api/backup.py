"""Backup and restore of the embedded SQLite store, while the server keeps serving.

`backup` uses SQLite's online backup API: it reads one consistent snapshot (a read
transaction, which in WAL mode never blocks the server's writers) and copies it
page by page into a new file created 0600. Every Observation acknowledged before
the backup started is in it (the server commits with `synchronous=FULL` before it
answers); those acknowledged while it runs may or may not be.

`restore` copies a backup back over the store with the same API, and refuses
while any server uses the store: each server process holds a shared `flock` on
`<database>.lock` while it runs, and restore needs it exclusively.

The copy is the whole database file: the audit trail (`audit_events`, its patient
index and chain head) and its append-only triggers come with it. A restore puts
the backup's trail back, intact but without the events recorded since the backup
(`homevitals admin audit verify` then prints an older head hash).

PostgreSQL and InfluxDB have their own tools (`pg_dump`, `influxd backup`); this
module refuses them with a message that says so. `pg_dump` carries the audit
tables, the trigger function and its triggers (they guard UPDATE, DELETE and
TRUNCATE, not the COPY a restore loads rows with). With InfluxDB as the series
backend, a restored SQLite store can rebuild the series with `homevitals server
reindex`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from .storage.database import prepare_private_file

__all__ = [
    "BackupError",
    "BackupSummary",
    "StoreInUse",
    "backup_store",
    "restore_store",
    "server_lock",
    "sqlite_path",
]

_LOGGER = logging.getLogger(__name__)


class BackupError(Exception):
    """A backup or restore that cannot be done (the message says why and what instead)."""


class StoreInUse(BackupError):
    """A server holds the store: stop it before restoring."""


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What a backup or restore copied."""

    path: Path
    pages: int
    resources: int


def sqlite_path(url: str) -> Path:
    """The database file of a SQLite URL.

    Raises:
        BackupError: the store is not an embedded SQLite file.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        backend = parsed.get_backend_name()
        hint = " (use pg_dump and pg_restore for PostgreSQL)" if backend == "postgresql" else ""
        raise BackupError(f"backup and restore work on the embedded SQLite store only{hint}")
    return Path(parsed.database)


def _lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def _open_lock(database: Path) -> IO[bytes]:
    descriptor = os.open(_lock_path(database), os.O_CREAT | os.O_RDWR, 0o600)
    return os.fdopen(descriptor, "r+b")


@contextlib.contextmanager
def server_lock(database: Path) -> Iterator[None]:
    """Held (shared) by every server process on the store, so restore can tell it is in use."""
    handle = _open_lock(database)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield
    finally:
        handle.close()  # releases the lock


def _resource_count(connection: sqlite3.Connection) -> int:
    row = connection.execute("SELECT count(*) FROM resources WHERE deleted = 0").fetchone()
    return int(row[0])


def _check_is_store(path: Path) -> sqlite3.Connection:
    """Open `path` read-only and make sure it is an intact HomeVitals store."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise BackupError(f"{path} is not a SQLite database: {exc}") from None
    if verdict != "ok" or not {"resources", "alembic_version"} <= tables:
        connection.close()
        raise BackupError(f"{path} is not an intact HomeVitals store ({verdict})")
    return connection


def backup_store(database: Path, target: Path) -> BackupSummary:
    """Copy the store at `database` into the new file `target` (0600), online.

    Raises:
        BackupError: no store there, `target` exists already or cannot be created.
    """
    if not database.is_file():
        raise BackupError(f"there is no store at {database}")
    try:
        descriptor = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise BackupError(f"{target} exists; choose a new file") from None
    except OSError as exc:  # no such folder, no permission, read-only: one line, no traceback
        raise BackupError(f"cannot create {target}: {exc.strerror}") from None
    os.close(descriptor)
    source = sqlite3.connect(str(database), timeout=30)
    copy = sqlite3.connect(str(target))
    try:
        # All pages in one step, one read transaction: a copy made in steps would start
        # over each time the server commits, and might never finish under steady uploads.
        source.backup(copy, pages=-1)
        # One file, readable without its -wal: the copy is an archive, not a live store.
        copy.execute("PRAGMA journal_mode=DELETE")
        pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
        resources = _resource_count(copy)
    except sqlite3.Error as exc:
        copy.close()
        target.unlink(missing_ok=True)
        raise BackupError(f"the backup failed: {exc}") from None
    finally:
        source.close()
    copy.close()
    _LOGGER.info("backed up %s pages (%s resources) to %s", pages, resources, target)
    return BackupSummary(target, pages, resources)


def restore_store(backup: Path, database: Path) -> BackupSummary:
    """Replace the store at `database` with the backup at `backup`.

    Raises:
        StoreInUse: a server is running on the store.
        BackupError: `backup` is not an intact HomeVitals store.
    """
    source = _check_is_store(backup)
    try:
        prepare_private_file(database)
        with _open_lock(database) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreInUse(
                    f"a server is running on {database}: stop it before restoring"
                ) from None
            target = sqlite3.connect(str(database), timeout=30)
            try:
                source.backup(target, pages=-1)
                target.execute("PRAGMA journal_mode=WAL")
                target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                pages = int(target.execute("PRAGMA page_count").fetchone()[0])
                resources = _resource_count(target)
            finally:
                target.close()
    finally:
        source.close()
    _LOGGER.info("restored %s pages (%s resources) from %s", pages, resources, backup)
    return BackupSummary(database, pages, resources)

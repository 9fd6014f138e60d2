"""Engines and migrations: SQLite (WAL, one writer at a time) or PostgreSQL.

SQLite commits with `synchronous=FULL`: a reading the server has acknowledged is
on disk, so the gateway may mark it sent in its outbox on that acknowledgement (and
prunes sent rows a week later, `sent_retention_days`).
Checkpoints (copying the write-ahead log into the database file, with its own
fsyncs) run in `WalCheckpointer`'s thread, not in the request that happens to
cross SQLite's threshold; the threshold stays as a backstop at 64 MB. The log file
shrinks back to 8 MB once a checkpoint has caught up (`journal_size_limit`): a burst
of uploads does not leave it at its largest size for good.

The SQLite file holds health data: it is created 0600 in a directory created 0700
(SQLite gives its -wal and -shm files the database file's own mode), and a file
left readable by others by an older version is narrowed to 0600 on start.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from .compression import load_dictionaries
from .search_keys import forget_terms

__all__ = ["READ_ONLY", "WalCheckpointer", "make_engine", "migrate", "prepare_private_file"]

_LOGGER = logging.getLogger(__name__)

# Execution option marking a connection that only reads (a deferred BEGIN on SQLite).
READ_ONLY = "homevitals_read_only"

WAL_BACKSTOP_PAGES = 16_384  # 64 MB of 4 KiB pages
# After a burst the log is cut back to this size the next time it restarts from its
# beginning (a checkpoint has caught up), instead of keeping its largest size (issue 15).
WAL_SIZE_LIMIT = 8 * 1024 * 1024
_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def prepare_private_file(path: Path) -> None:
    """Create `path` (and its directory) for the owner alone, before SQLite opens it.

    A new directory is made 0700 and a new file 0600; SQLite creates the -wal and
    -shm files with the database file's mode, so they follow. An existing database
    or side file readable by group or others is narrowed to 0600.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    elif path.parent.stat().st_mode & 0o077:
        _LOGGER.warning("%s is open to other users; the store inside it is kept 0600", path.parent)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(descriptor)
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        try:
            mode = stat.S_IMODE(side.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            _LOGGER.warning("%s was mode %o; narrowing it to 0600", side, mode)
            side.chmod(0o600)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE`.

    `BEGIN IMMEDIATE` takes the write lock when a transaction starts, so two writers
    queue up instead of both reading and then failing to upgrade their locks.
    """
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            prepare_private_file(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            readonly = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision; load its compression dictionaries."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    forget_terms(engine)  # a migration may have renumbered the search index's terms
    with engine.connect() as connection:
        load_dictionaries(connection)  # also any newer than the ones this code ships


class WalCheckpointer:
    """Checkpoints a SQLite database's write-ahead log every `interval` seconds, in a thread.

    PASSIVE checkpoints never wait for readers or writers; the log restarts from
    its beginning once a checkpoint has caught up with it.
    """

    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self._path = engine.url.database
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def applies_to(engine: Engine) -> bool:
        """Whether `engine` is a SQLite database in a file."""
        return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")

    def start(self) -> None:
        """Start the thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after one last checkpoint."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        connection = sqlite3.connect(str(self._path), timeout=30, isolation_level=None)
        try:
            while True:
                stopping = self._stop.wait(self._interval)
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    _LOGGER.warning("WAL checkpoint failed; SQLite's own backstop remains")
                if stopping:
                    return
        finally:
            connection.close()

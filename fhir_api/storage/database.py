"""Engines and migrations: SQLite (WAL, one writer at a time) or PostgreSQL.

SQLite commits with `synchronous=FULL`: a reading the server has acknowledged is
on disk, so the gateway may mark it sent in its outbox on that acknowledgement (and
prunes sent rows a week later, `sent_retention_days`).
Checkpoints (copying the write-ahead log into the database file, with its own
fsyncs) run in `WalCheckpointer`'s thread, not in the request that happens to
cross SQLite's threshold; the threshold stays as a backstop at 64 MB.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

__all__ = ["READ_ONLY", "WalCheckpointer", "make_engine", "migrate"]

_LOGGER = logging.getLogger(__name__)

# Execution option marking a connection that only reads (a deferred BEGIN on SQLite).
READ_ONLY = "homevitals_read_only"

WAL_BACKSTOP_PAGES = 16_384  # 64 MB of 4 KiB pages
_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE`.

    `BEGIN IMMEDIATE` takes the write lock when a transaction starts, so two writers
    queue up instead of both reading and then failing to upgrade their locks.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            readonly = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


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

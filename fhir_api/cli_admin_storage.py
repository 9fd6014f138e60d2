"""`homevitals admin vacuum`: give the space of deleted rows back (issue 15).

SQLite: a truncating checkpoint (the write-ahead log back to zero bytes), then
`VACUUM`, which rewrites the database file without its free pages; it needs as much
free disk as the file and holds the write lock while it runs, so it is an
administrator's act at a quiet hour, not something the server does by itself.
PostgreSQL: `VACUUM (ANALYZE)`, which marks dead rows' space reusable without
locking out writers (`VACUUM FULL` would lock every table; it is left to the DBA).
The act and the sizes before and after go on the audit trail.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_admin_gateways import _audit, _engine

if TYPE_CHECKING:  # building the command line imports no database library (tests/test_cli.py)
    from sqlalchemy import Engine

__all__ = ["register", "store_bytes", "vacuum"]


def store_bytes(engine: Engine) -> int:
    """The store's size on disk: the SQLite file and its log, or the PostgreSQL database."""
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        return sum(
            side.stat().st_size
            for suffix in ("", "-wal")
            if (side := path.with_name(path.name + suffix)).exists()
        )
    with engine.connect() as connection:
        size = connection.exec_driver_sql("SELECT pg_database_size(current_database())")
        return int(size.scalar_one())


def vacuum(engine: Engine) -> tuple[int, int]:
    """Vacuum the store; its size (bytes) before and after."""
    before = store_bytes(engine)
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # VACUUM runs outside any transaction
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
            autocommit.exec_driver_sql("VACUUM (ANALYZE)")
    return before, store_bytes(engine)


def _vacuum(args: argparse.Namespace) -> int:
    engine = _engine(args)
    before, after = vacuum(engine)
    _audit(engine, "E", "vacuum", detail=f"store {before} bytes before, {after} after")
    print(json.dumps({"before_bytes": before, "after_bytes": after}))
    engine.dispose()
    return 0


def register(admin: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `vacuum` to `homevitals admin`."""
    command = admin.add_parser("vacuum", help="give deleted rows' space back (SQLite: VACUUM)")
    command.add_argument("--data-dir", help="embedded store directory (HOMEVITALS_DATA_DIR)")
    command.set_defaults(handler=_vacuum)

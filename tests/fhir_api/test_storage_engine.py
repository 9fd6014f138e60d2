"""Resource ids and the SQLite engine: time-ordered ids, durable commits, checkpoints."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import text

from fhir_api.storage.database import WalCheckpointer, make_engine
from fhir_api.storage.ids import new_id


def test_new_ids_are_version_7_uuids_in_time_order():
    earlier = [new_id() for _ in range(50)]
    time.sleep(0.002)
    later = [new_id() for _ in range(50)]
    assert len(set(earlier + later)) == 100
    for value in earlier + later:
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
    # Ids of different milliseconds sort by time, so inserts append to the indexes.
    assert max(earlier) < min(later)
    now_ms = time.time_ns() // 1_000_000
    assert abs(int(later[0].replace("-", "")[:12], 16) - now_ms) < 5_000


def test_sqlite_commits_are_durable_and_checkpoints_leave_the_request(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 16_384
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    database = tmp_path / "store.db"
    before = database.stat().st_size
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO t (body) VALUES (:body)"), [{"body": "x" * 2000}] * 3000
        )
    # In the write-ahead log only: the committing request did not copy it into the database.
    assert database.stat().st_size == before
    assert (tmp_path / "store.db-wal").stat().st_size > 5_000_000  # past SQLite's default 4 MB

    checkpointer = WalCheckpointer(engine, interval=0.05)
    assert WalCheckpointer.applies_to(engine)
    checkpointer.start()
    deadline = time.monotonic() + 10
    while database.stat().st_size == before and time.monotonic() < deadline:
        time.sleep(0.05)
    checkpointer.stop()
    assert database.stat().st_size > 5_000_000
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 3000
    engine.dispose()


def test_the_checkpointer_is_for_sqlite_files_only():
    assert not WalCheckpointer.applies_to(make_engine("sqlite://"))
    assert not WalCheckpointer.applies_to(make_engine("postgresql+psycopg://u@127.0.0.1/x"))

"""AuditLog: cheap records, batched chained writes, nothing lost under concurrency or failure."""

from __future__ import annotations

import asyncio
import threading

import pytest
import sqlalchemy as sa

from fhir_api.audit.log import AuditLog
from fhir_api.audit.store import count_events, verify
from fhir_api.storage.database import make_engine

from .conftest import record


def _seqs(engine: sa.Engine) -> list[int]:
    with engine.connect() as connection:
        return list(
            connection.exec_driver_sql("SELECT seq FROM audit_events ORDER BY seq").scalars()
        )


def _record_from_threads(log: AuditLog, threads: int, each: int, offset: int = 0) -> None:
    def work(t: int) -> None:
        for i in range(each):
            log.record(record(offset + t * each + i))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_threads_recording_at_once_leave_one_intact_chain(engine):
    log = AuditLog(engine, interval=0.05, batch_size=50)
    _record_from_threads(log, threads=8, each=100)
    log.close()
    assert _seqs(engine) == list(range(1, 801))
    verdict = verify(engine)
    assert verdict.intact, verdict.broken
    assert verdict.count == 800


def test_close_writes_everything_queued(engine):
    log = AuditLog(engine, interval=60)  # the thread would not wake on its own for a minute
    for n in range(1_234):
        log.record(record(n))
    log.close()
    assert count_events(engine) == 1_234
    assert verify(engine).intact


def test_a_record_after_close_is_written_at_once(engine):
    log = AuditLog(engine)
    log.record(record(1))
    log.close()
    log.record(record(2))
    assert _seqs(engine) == [1, 2]


def test_flush_waits_for_earlier_records_only(engine):
    log = AuditLog(engine, interval=60)
    log.record(record(1))
    assert log.flush(timeout=10)
    assert count_events(engine) == 1
    log.close()


def test_record_in_commits_and_rolls_back_with_the_caller(engine):
    log = AuditLog(engine)
    with engine.begin() as connection:
        assert log.record_in(connection, [record(1), record(2)]) == [1, 2]
    with pytest.raises(RuntimeError), engine.begin() as connection:
        log.record_in(connection, [record(3)])
        raise RuntimeError("the data write failed")
    log.record(record(4))
    log.close()
    assert _seqs(engine) == [1, 2, 3]
    assert verify(engine).intact


def test_failed_writes_are_retried_and_nothing_is_lost(engine, caplog):
    log = AuditLog(engine, interval=0.05)
    with engine.begin() as connection:  # every append fails while the head is away
        connection.exec_driver_sql("ALTER TABLE audit_chain_head RENAME TO audit_chain_away")
    for n in range(10):
        log.record(record(n))
    assert not log.flush(timeout=0.5)
    assert log.failures >= 1
    assert "writing 10 events failed" in caplog.text
    log.record(record(10))
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE audit_chain_away RENAME TO audit_chain_head")
    assert log.flush(timeout=20)
    log.close()
    assert _seqs(engine) == list(range(1, 12))
    assert verify(engine).intact


def test_two_engines_on_one_postgresql_keep_one_chain(pg_engine):
    """Two servers on one PostgreSQL (SQLite's write lock serializes its one file anyway)."""
    engine = pg_engine
    other = make_engine(engine.url.render_as_string(hide_password=False))
    logs = [
        AuditLog(engine, interval=0.01, batch_size=20),
        AuditLog(other, interval=0.01, batch_size=20),
    ]
    threads = [
        threading.Thread(target=_record_from_threads, args=(log, 4, 50, i * 1000))
        for i, log in enumerate(logs)
    ]
    for thread in threads:
        thread.start()
    # A third writer appends in its own transactions meanwhile (a data write with its event).
    for n in range(30):
        with other.begin() as connection:
            logs[1].record_in(connection, [record(5000 + n)])
    for thread in threads:
        thread.join()
    for log in logs:
        log.close()
    other.dispose()
    assert _seqs(engine) == list(range(1, 431))
    verdict = verify(engine)
    assert verdict.intact, verdict.broken


def test_server_shutdown_writes_every_queued_event(tmp_path):
    from fhir_api.app import create_app
    from fhir_api.settings import Settings

    app = create_app(Settings(data_dir=tmp_path))

    async def serve_briefly() -> None:  # the server's start and shutdown, as uvicorn runs them
        async with app.router.lifespan_context(app):
            for n in range(2_000):
                app.state.audit.record(record(n))

    asyncio.run(serve_briefly())
    engine = app.state.store.engine
    assert count_events(engine) == 2_000
    assert verify(engine).intact
    engine.dispose()

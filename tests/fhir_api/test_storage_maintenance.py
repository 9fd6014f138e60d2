"""The SQLite log shrinks back after a burst, and `homevitals admin vacuum` (issue 15)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select, text

import homevitals_cli
from fhir_api.app import build_store
from fhir_api.cli_admin_storage import vacuum
from fhir_api.service import FhirService
from fhir_api.settings import Settings
from fhir_api.storage.database import WAL_SIZE_LIMIT, make_engine
from fhir_api.storage.schema import audit_events

from .conftest import settings_for
from .helpers import patient, spo2


def test_the_write_ahead_log_shrinks_back_after_a_burst_issue_15(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_size_limit").scalar() == WAL_SIZE_LIMIT
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
        connection.execute(text("INSERT INTO t (body) VALUES (:b)"), [{"b": "x" * 3000}] * 4000)
    wal = tmp_path / "store.db-wal"
    assert wal.stat().st_size > 1.4 * WAL_SIZE_LIMIT  # the burst
    # What WalCheckpointer does every second: a checkpoint that waits for nobody.
    checkpoint = sqlite3.connect(database, isolation_level=None)
    checkpoint.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    checkpoint.close()
    with engine.begin() as connection:  # the next write starts the log again from its beginning
        connection.execute(text("INSERT INTO t (body) VALUES ('y')"))
    assert wal.stat().st_size <= WAL_SIZE_LIMIT
    engine.dispose()


def test_admin_vacuum_gives_deleted_space_back_and_is_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = build_store(Settings(data_dir=tmp_path))
    service = FhirService(store)
    person = service.create("Patient", patient()).stored.id
    created = [
        service.create(
            "Observation", spo2(f"Patient/{person}", f"2026-11-{1 + n % 28:02d}T07:00:00+09:00", 96)
        ).stored.id
        for n in range(400)
    ]
    for observation in created[:390]:
        service.delete("Observation", observation)
    store.engine.dispose()

    code = homevitals_cli.main(["admin", "vacuum", "--data-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    sizes = json.loads(out)
    assert sizes["after_bytes"] < 0.8 * sizes["before_bytes"]
    assert not (tmp_path / "homevitals.db-wal").exists() or (
        (tmp_path / "homevitals.db-wal").stat().st_size == 0
    )
    engine = make_engine(Settings(data_dir=tmp_path).sqlalchemy_url)
    with engine.connect() as connection:
        row = connection.execute(
            select(audit_events.c.agent, audit_events.c.content).where(
                audit_events.c.subtype == "vacuum"
            )
        ).one()
    assert row.agent.startswith("cli:")
    assert f"{sizes['before_bytes']} bytes before, {sizes['after_bytes']} after" in row.content
    engine.dispose()


def test_vacuum_on_postgresql_runs_outside_a_transaction(tmp_path: Path) -> None:
    with ExitStack() as stack:
        store = build_store(settings_for("postgresql", stack, tmp_path))
        service = FhirService(store)
        person = service.create("Patient", patient()).stored.id
        observation = service.create(
            "Observation", spo2(f"Patient/{person}", "2026-11-30T07:00:00+09:00", 96)
        ).stored.id
        service.delete("Observation", observation)
        before, after = vacuum(store.engine)  # VACUUM refuses to run inside a transaction
        assert before > 0 and after > 0
        store.engine.dispose()

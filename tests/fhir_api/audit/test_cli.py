"""`homevitals admin audit verify`, and the trail in `server backup` / `restore`."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import homevitals_cli
from fhir_api.audit.log import AuditLog
from fhir_api.audit.store import verify
from fhir_api.storage.database import make_engine, migrate

from ...services import postgres_database
from .conftest import drop_triggers, record


def _store(data: Path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{data / 'homevitals.db'}")
    migrate(engine)
    return engine


def _fill(engine: sa.Engine, count: int) -> None:
    log = AuditLog(engine)
    for n in range(count):
        log.record(record(n))
    log.close()


def _tamper(engine: sa.Engine, seq: int) -> None:
    with engine.begin() as connection:
        drop_triggers(connection)
        connection.execute(
            sa.text(
                "UPDATE audit_events SET content = replace(content, 'staff:', 'staf:') "
                "WHERE seq = :seq"
            ),
            {"seq": seq},
        )


def _embedded(monkeypatch) -> None:
    monkeypatch.delenv("HOMEVITALS_DATABASE_URL", raising=False)
    monkeypatch.delenv("HOMEVITALS_SERIES_BACKEND", raising=False)


def _verify(capsys, *extra: str) -> tuple[int, str, str]:
    code = homevitals_cli.main(["admin", "audit", "verify", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_sqlite_store(tmp_path, capsys, monkeypatch):
    _embedded(monkeypatch)
    engine = _store(tmp_path)
    _fill(engine, 7)
    code, out, _ = _verify(capsys, "--data-dir", str(tmp_path))
    assert code == 0
    assert out.startswith("7 events, chain intact (head ")
    assert out.count("\n") == 1
    _tamper(engine, 5)
    engine.dispose()
    code, out, err = _verify(capsys, "--data-dir", str(tmp_path))
    assert code == 1
    assert out == ""
    assert "seq 5: content altered" in err
    assert err.count("\n") == 1


def test_verify_postgresql_store(tmp_path, capsys, monkeypatch):
    with postgres_database() as url:
        monkeypatch.setenv("HOMEVITALS_DATABASE_URL", url)
        monkeypatch.setenv("HOMEVITALS_SERIES_BACKEND", "postgresql")
        engine = make_engine(url)
        try:
            migrate(engine)
            _fill(engine, 3)
            assert _verify(capsys, "--data-dir", str(tmp_path))[0] == 0
            _tamper(engine, 2)
            code, _, err = _verify(capsys, "--data-dir", str(tmp_path))
        finally:
            engine.dispose()
    assert code == 1
    assert "seq 2: content altered" in err


def test_verify_of_a_new_store_is_zero_events(tmp_path, capsys, monkeypatch):
    _embedded(monkeypatch)
    code, out, _ = _verify(capsys, "--data-dir", str(tmp_path))
    assert code == 0
    assert out.startswith("0 events, chain intact")


def test_backup_and_restore_carry_the_trail_and_its_guard(tmp_path, capsys, monkeypatch):
    _embedded(monkeypatch)
    data = tmp_path / "data"
    engine = _store(data)
    _fill(engine, 5)
    copy = tmp_path / "backup.db"
    assert homevitals_cli.main(["server", "backup", str(copy), "--data-dir", str(data)]) == 0
    _fill(engine, 2)  # after the backup: gone again after the restore
    engine.dispose()
    assert homevitals_cli.main(["server", "restore", str(copy), "--data-dir", str(data)]) == 0
    engine = _store(data)
    verdict = verify(engine)
    assert verdict.intact and verdict.count == 5
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as c:
        c.exec_driver_sql("DELETE FROM audit_events")
    engine.dispose()
    capsys.readouterr()

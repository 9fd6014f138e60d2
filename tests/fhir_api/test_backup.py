"""`homevitals server backup` while uploads go on, then `restore`: nothing acknowledged is lost."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time

import httpx
import pytest

import homevitals_cli
from fhir_api.auth import Role, TokenStore
from fhir_api.backup import BackupError, backup_store, restore_store, sqlite_path
from fhir_api.settings import Settings

from .conftest import serve
from .helpers import blood_pressure, patient


class Uploader(threading.Thread):
    """Posts Observations one after another and keeps the id of each one acknowledged."""

    def __init__(self, base: str, token: str, subject: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.subject = subject
        self.acknowledged: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with self.client:
            self._upload()

    def _upload(self) -> None:
        minute = 0
        while not self.stop.is_set():
            minute += 1
            when = f"2024-10-{1 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"
            answer = self.client.post(
                "/Observation", json=blood_pressure(self.subject, when, 120, 80)
            )
            assert answer.status_code == 201, answer.text
            self.acknowledged.append(answer.json()["id"])

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.acknowledged) < count:
            assert self.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)


def _observation_ids(base: str, token: str) -> set[str]:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        bundle = client.get("/Observation", params={"_count": 1000}).json()
    assert bundle["total"] <= 1000
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


def test_restore_holds_every_observation_acknowledged_before_the_backup(tmp_path, capsys):
    data = tmp_path / "data"
    copy = tmp_path / "backup" / "homevitals-backup.db"
    copy.parent.mkdir()
    settings = Settings(data_dir=data)
    with serve(settings) as (base, store):
        token = TokenStore(store.engine).create("backup-test", Role.SYSTEM)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
            subject = f"Patient/{c.post('/Patient', json=patient()).json()['id']}"
        uploader = Uploader(base, token, subject)
        uploader.start()
        # A long reader (a big search, say) keeps what is committed after it began in the
        # write-ahead log, out of the database file: a copy of the file alone would miss it.
        reader = sqlite3.connect(str(data / "homevitals.db"), isolation_level=None)
        try:
            uploader.wait_for(20)
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM resources").fetchone()
            uploader.wait_for(40)
            before = list(uploader.acknowledged)
            code = homevitals_cli.main(["server", "backup", str(copy), "--data-dir", str(data)])
            assert code == 0
            uploader.wait_for(len(before) + 10)  # the server kept serving
        finally:
            reader.close()
            uploader.stop.set()
            uploader.join(timeout=30)
        everything = list(uploader.acknowledged)
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        capsys.readouterr()
        refused = homevitals_cli.main(["server", "restore", str(copy), "--data-dir", str(data)])
        assert refused == 1
        assert "a server is running" in capsys.readouterr().err

    assert homevitals_cli.main(["server", "restore", str(copy), "--data-dir", str(data)]) == 0
    with serve(Settings(data_dir=data)) as (base, store):
        token = TokenStore(store.engine).create("after-restore", Role.SYSTEM)
        restored = _observation_ids(base, token)
    assert set(before) <= restored  # every Observation acknowledged before the backup
    assert restored <= set(everything)
    assert len(restored) < len(everything)  # and the store really went back in time


def test_backup_never_overwrites_and_restore_checks_its_input(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    with serve(settings) as (_, store):
        database = tmp_path / "data" / "homevitals.db"
        existing = tmp_path / "taken.db"
        existing.write_bytes(b"keep me")
        with pytest.raises(BackupError, match="exists"):
            backup_store(database, existing)
        assert existing.read_bytes() == b"keep me"
        # A folder that does not exist printed a traceback (probe of issue 10).
        with pytest.raises(BackupError, match="cannot create"):
            backup_store(database, tmp_path / "no-such-folder" / "copy.db")
        store.engine.dispose()
    with pytest.raises(BackupError, match=r"not a SQLite database|not an intact"):
        restore_store(existing, database)


def test_backup_of_postgresql_points_at_pg_dump():
    with pytest.raises(BackupError, match="pg_dump"):
        sqlite_path("postgresql+psycopg://hv@127.0.0.1/hv")

"""The embedded store's files are the owner's alone (they hold health data)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest

from fhir_api.app import build_store
from fhir_api.settings import Settings
from fhir_api.storage.database import make_engine


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems start services with, which alone would give 0644 files."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: os.PathLike[str]) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_store_is_created_owner_only(tmp_path, usual_umask):
    data = tmp_path / "new" / "data"
    store = build_store(Settings(data_dir=data))
    try:
        with store.transaction():  # a write: the -wal and -shm files exist now
            pass
        database = data / "homevitals.db"
        assert _mode(data) == 0o700
        assert _mode(database) == 0o600
        for side in ("homevitals.db-wal", "homevitals.db-shm"):
            assert (data / side).exists()
            assert _mode(data / side) == 0o600, side
    finally:
        store.engine.dispose()


def test_store_left_world_readable_is_narrowed_on_start(tmp_path, usual_umask):
    database = tmp_path / "homevitals.db"
    build_store(Settings(data_dir=tmp_path)).engine.dispose()
    database.chmod(0o644)
    build_store(Settings(data_dir=tmp_path)).engine.dispose()
    assert _mode(database) == 0o600


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_store_creates_no_file(tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    make_engine(url).dispose()
    assert list(tmp_path.iterdir()) == []

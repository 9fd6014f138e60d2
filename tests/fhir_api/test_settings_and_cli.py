"""Settings from the environment and a TOML file; token commands."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import homevitals_cli
from fhir_api.auth import TokenStore
from fhir_api.settings import SeriesBackend, Settings
from fhir_api.storage.database import make_engine


def test_settings_from_environment_and_toml(tmp_path, monkeypatch):
    config = tmp_path / "homevitals.toml"
    config.write_text('timezone = "Europe/Paris"\nmax_body_bytes = 1024\n', encoding="utf-8")
    monkeypatch.setenv("HOMEVITALS_CONFIG", str(config))
    monkeypatch.setenv("HOMEVITALS_MAX_BODY_BYTES", "2048")  # the environment wins over the file
    settings = Settings(data_dir=tmp_path)
    assert settings.timezone == "Europe/Paris"
    assert settings.max_body_bytes == 2048
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.as_posix()}/homevitals.db"
    assert settings.series_backend is SeriesBackend.SQLITE


@pytest.mark.parametrize(
    "bad",
    [
        {"timezone": "Mars/Olympus"},
        {"series_backend": "postgresql"},  # needs a PostgreSQL database_url
        {"database_url": "postgresql+psycopg://x@h/db"},  # SQLite series on PostgreSQL
        {"max_body_bytes": 0},
    ],
)
def test_inconsistent_settings_are_refused(tmp_path, bad):
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, **bad)


def test_token_create_prints_a_token_that_verifies(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOMEVITALS_DATA_DIR", str(tmp_path))
    assert homevitals_cli.main(["token", "create", "--role", "system", "--name", "gateway-1"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("hv_") and len(token) > 40
    tokens = TokenStore(make_engine(Settings(data_dir=tmp_path).sqlalchemy_url), cache_seconds=0)
    assert tokens.verify(f"Bearer {token}").name == "gateway-1"
    assert homevitals_cli.main(["token", "revoke", "--name", "gateway-1"]) == 0
    with pytest.raises(Exception, match="revoked"):
        tokens.verify(f"Bearer {token}")
    assert homevitals_cli.main(["token", "revoke", "--name", "nobody"]) == 1

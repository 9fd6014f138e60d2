"""Settings from the environment and a TOML file; token commands."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import homevitals_cli
from fhir_api.auth import TokenStore
from fhir_api.settings import SeriesBackend, Settings, UnknownSetting
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


def test_unknown_variable_is_refused_with_the_nearest_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HOMEVITALS_MAX_BODY_BYTE", "1024")
    with pytest.raises(UnknownSetting) as caught:
        Settings(data_dir=tmp_path)
    assert caught.value.name == "HOMEVITALS_MAX_BODY_BYTE"
    assert caught.value.nearest == "HOMEVITALS_MAX_BODY_BYTES"
    assert "did you mean HOMEVITALS_MAX_BODY_BYTES" in str(caught.value)


def test_unknown_file_key_is_refused_with_the_nearest_name(tmp_path, monkeypatch):
    config = tmp_path / "homevitals.toml"
    config.write_text('time_zone = "Europe/Paris"\n', encoding="utf-8")
    monkeypatch.setenv("HOMEVITALS_CONFIG", str(config))
    with pytest.raises(UnknownSetting) as caught:
        Settings(data_dir=tmp_path)
    assert (caught.value.name, caught.value.nearest) == ("time_zone", "timezone")
    assert str(config) in str(caught.value)


def test_variables_that_are_not_server_settings_are_let_through(tmp_path, monkeypatch):
    for name in (
        "HOMEVITALS_GATEWAY_TOKEN",  # the gateway's, checked by the gateway
        "HOMEVITALS_GATEWAY_WHATEVER",
        "HOMEVITALS_TEST_PG_URL",  # the test suite's
        "HOMEVITALS_BENCH_SCALE",  # the benchmarks'
    ):
        monkeypatch.setenv(name, "x")
    assert Settings(data_dir=tmp_path).data_dir == tmp_path


def test_unknown_keyword_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="extra"):
        Settings(data_dir=tmp_path, time_zone="Europe/Paris")


def test_cli_names_an_unknown_variable_instead_of_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOMEVITALS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOMEVITALS_DATADIR", str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        homevitals_cli.main(["token", "create", "--role", "system", "--name", "x"])
    assert stopped.value.code == 2
    assert "did you mean HOMEVITALS_DATA_DIR?" in capsys.readouterr().err

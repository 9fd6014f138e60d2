"""Outside development mode the server refuses a missing or placeholder session secret."""

from __future__ import annotations

import pytest

import homevitals_cli
from fhir_api.app import create_app
from fhir_api.settings import InsecureSettings, Settings

GOOD = "q8Zt2VwYp4Lm9XcR1sNf6KbHd3JgEa7U"


@pytest.fixture
def no_secret(monkeypatch):
    monkeypatch.delenv("HOMEVITALS_SESSION_SECRET", raising=False)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("tooShort-7Yh", "shorter than 32"),
        ("changeme-changeme-changeme-changeme", "placeholder"),
        ("my-very-long-session-SECRET-value-1234", "placeholder"),
        ("a" * 40, "placeholder"),
    ],
)
def test_refused_outside_development(tmp_path, no_secret, secret, why):
    settings = Settings(data_dir=tmp_path, session_secret=secret)
    with pytest.raises(InsecureSettings) as caught:
        create_app(settings)
    message = str(caught.value)
    assert why in message and "\n" not in message
    assert "HOMEVITALS_SESSION_SECRET" in message and "HOMEVITALS_DEVELOPMENT" in message
    assert not (tmp_path / "homevitals.db").exists()  # refused before the store is built


def test_a_real_secret_or_development_mode_starts(tmp_path, no_secret):
    create_app(Settings(data_dir=tmp_path / "a", session_secret=GOOD)).state.store.engine.dispose()
    development = Settings(data_dir=tmp_path / "b", development=True)
    app = create_app(development)
    app.state.store.engine.dispose()
    assert len(development.signing_key) == 32  # random, for this process


def test_the_server_command_says_so_in_one_line(tmp_path, no_secret, capsys):
    data = tmp_path / "data"
    assert homevitals_cli.main(["server", "--data-dir", str(data), "--port", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: HOMEVITALS_SESSION_SECRET is not set")
    assert "\n" not in err and not data.exists()

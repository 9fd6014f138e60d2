"""`homevitals admin user ...` through the command line's own entry point."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import homevitals_cli
from fhir_api.accounts.store import AccountStore, LoginOutcome
from fhir_api.settings import Settings
from fhir_api.storage.database import make_engine

from ..services import postgres_database
from .login_helpers import fast_password_hashing


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, monkeypatch) -> Iterator[AccountStore]:
    monkeypatch.setenv("HOMEVITALS_DATA_DIR", str(tmp_path))
    with fast_password_hashing():
        if request.param == "sqlite":
            yield AccountStore(make_engine(Settings().sqlalchemy_url))
            return
        with postgres_database() as url:
            monkeypatch.setenv("HOMEVITALS_DATABASE_URL", url)
            monkeypatch.setenv("HOMEVITALS_SERIES_BACKEND", "postgresql")
            engine = make_engine(url)
            yield AccountStore(engine)
            engine.dispose()


def admin(*args: str) -> int:
    return homevitals_cli.main(["admin", "user", *args])


def test_create_prints_the_initial_password_once(store, capsys):
    code = admin(
        "create", "--username", "alice", "--role", "doctor", "--role", "admin",
        "--practitioner", "prac-7", "--name", "Alice Doe",
    )  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    password = out.strip()
    assert "\n" not in password and len(password) >= 20
    assert "shown once" in err and "changed" in err
    attempt = store.authenticate("alice", password, "127.0.0.1")
    assert attempt.outcome is LoginOutcome.OK
    account = attempt.account
    assert account.roles == {"doctor", "admin"} and account.practitioner_id == "prac-7"
    assert account.display_name == "Alice Doe" and account.must_change_password
    assert admin("create", "--username", "alice", "--role", "admin") == 1
    assert "taken" in capsys.readouterr().err


def test_a_clinical_account_needs_its_practitioner(store, capsys):
    assert admin("create", "--username", "bob", "--role", "nurse") == 1
    assert "--practitioner" in capsys.readouterr().err
    assert store.by_username("bob") is None


def test_disable_enable_reset_and_list(store, capsys):
    admin("create", "--username", "carol", "--role", "admin")
    first = capsys.readouterr().out.strip()
    assert admin("disable", "--username", "carol") == 0
    assert store.authenticate("carol", first, "127.0.0.1").outcome is LoginOutcome.FAILED
    assert "carol disabled" in capsys.readouterr().out
    assert admin("list") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["USERNAME", "ROLES", "PRACTITIONER", "TOTP", "STATE", "NAME"]
    assert listing[1].split()[:5] == ["carol", "admin", "-", "no", "disabled"]
    assert admin("enable", "--username", "carol") == 0
    assert admin("reset-password", "--username", "carol") == 0
    second = capsys.readouterr().out.splitlines()[-1]
    assert second != first
    assert store.authenticate("carol", first, "127.0.0.1").outcome is LoginOutcome.FAILED
    assert store.authenticate("carol", second, "127.0.0.1").outcome is LoginOutcome.OK
    assert admin("reset-totp", "--username", "carol") == 0
    assert admin("disable", "--username", "nobody") == 1
    assert "no account named nobody" in capsys.readouterr().err

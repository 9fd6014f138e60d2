"""The account and session stores on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from argon2 import PasswordHasher

from fhir_api.accounts.errors import AccountError, AccountExists, UnknownAccount, WeakPassword
from fhir_api.accounts.sessions import SessionStore, Stage
from fhir_api.accounts.store import AccountStore, LoginOutcome, SecondFactor
from fhir_api.roles import StaffRole
from fhir_api.storage.database import _MIGRATIONS, make_engine, migrate
from fhir_api.storage.schema import staff_accounts

from ..services import postgres_database
from .login_helpers import Clock, fast_password_hashing

DOCTOR = (StaffRole.DOCTOR,)


@pytest.fixture(autouse=True)
def _fast_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        migrate(made)
        yield made
        made.dispose()
        return
    with postgres_database() as url:
        made = make_engine(url)
        migrate(made)
        yield made
        made.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(engine: sa.Engine, clock: Clock) -> AccountStore:
    return AccountStore(engine, clock=clock)


@pytest.fixture
def sessions(engine: sa.Engine, clock: Clock) -> SessionStore:
    return SessionStore(engine, idle_ms=30 * 60_000, absolute_ms=12 * 3_600_000, clock=clock)


def test_create_returns_a_random_password_once_and_keeps_its_hash(accounts, engine):
    first = accounts.create("alice", [StaffRole.DOCTOR, StaffRole.ADMIN], "p1", "Alice")
    second = accounts.create("bob", DOCTOR, "p2")
    assert first != second and len(first) >= 20
    with engine.connect() as connection:
        stored = connection.execute(sa.select(staff_accounts.c.password_hash)).scalars().all()
    assert all(h.startswith("$argon2id$") and first not in h for h in stored)
    alice = accounts.by_username("alice")
    assert alice.roles == {StaffRole.DOCTOR, StaffRole.ADMIN} and alice.must_change_password
    assert [a.username for a in accounts.accounts()] == ["alice", "bob"]
    with pytest.raises(AccountExists):
        accounts.create("alice", DOCTOR, "p3")
    with pytest.raises(AccountError, match="username"):
        accounts.create("-bad name", DOCTOR, "p3")
    with pytest.raises(AccountError, match="role"):
        accounts.create("carol", [], None)


def test_authenticate_ok_failed_and_disabled(accounts):
    password = accounts.create("alice", DOCTOR, "p1")
    ok = accounts.authenticate("alice", password, "10.0.0.1")
    assert ok.outcome is LoginOutcome.OK and ok.account.username == "alice"
    wrong = accounts.authenticate("alice", password + "x", "10.0.0.1")
    assert (wrong.outcome, wrong.failures, wrong.reason) == (
        LoginOutcome.FAILED,
        1,
        "wrong password",
    )
    assert accounts.authenticate("nobody", password, "10.0.0.1").reason == "no such account"
    accounts.disable("alice")
    disabled = accounts.authenticate("alice", password, "10.0.0.1")
    assert (disabled.outcome, disabled.reason) == (LoginOutcome.FAILED, "account disabled")


def test_lock_after_ten_failures_lifted_by_enable(accounts, clock):
    password = accounts.create("alice", DOCTOR, "p1")
    results = [accounts.authenticate("alice", "wrong wrong wrong", "10.0.0.1") for _ in range(10)]
    assert [r.locked_now for r in results] == [False] * 9 + [True]
    assert accounts.authenticate("alice", password, "10.0.0.2").outcome is LoginOutcome.LOCKED
    assert accounts.by_username("alice").locked_until_ms == int(clock() * 1000) + 15 * 60_000
    accounts.enable("alice")
    assert accounts.authenticate("alice", password, "10.0.0.2").outcome is LoginOutcome.OK


def test_unknown_usernames_lock_like_accounts(accounts):
    outcomes = [accounts.authenticate("ghost", "wrong wrong", "10.0.0.1") for _ in range(10)]
    assert outcomes[-1].locked_now and outcomes[-1].account is None


def test_a_full_sign_in_clears_the_count_and_a_login_rehashes_old_hashes(accounts, engine):
    password = accounts.create("alice", DOCTOR, "p1")
    for _ in range(3):
        accounts.authenticate("alice", "wrong wrong wrong", "10.0.0.1")
    old = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(password)
    with engine.begin() as connection:
        connection.execute(sa.update(staff_accounts).values(password_hash=old))
    ok = accounts.authenticate("alice", password, "10.0.0.1")
    assert (ok.outcome, ok.failures) == (LoginOutcome.OK, 3)  # the second factor is to come
    assert accounts.authenticate("alice", "wrong wrong wrong", "10.0.0.1").failures == 4
    accounts.signed_in(ok.account)
    assert accounts.authenticate("alice", "wrong wrong wrong", "10.0.0.1").failures == 1
    with engine.connect() as connection:
        new = connection.execute(sa.select(staff_accounts.c.password_hash)).scalar_one()
    assert new != old and new.startswith("$argon2id$v=19$m=8192,t=1,p=1$")


def test_password_changes(accounts):
    initial = accounts.create("alice", DOCTOR, "p1")
    account = accounts.by_username("alice")
    assert not accounts.change_password(account.id, "not it at all", "a better passphrase")
    with pytest.raises(WeakPassword, match="username"):
        accounts.change_password(account.id, initial, "alice-alice-alice")
    with pytest.raises(WeakPassword, match="differ"):
        accounts.change_password(account.id, initial, initial)
    assert accounts.change_password(account.id, initial, "a better passphrase")
    assert not accounts.by_username("alice").must_change_password
    reset = accounts.reset_password("alice")
    assert accounts.by_username("alice").must_change_password
    assert accounts.authenticate("alice", reset, "10.0.0.1").outcome is LoginOutcome.OK
    with pytest.raises(UnknownAccount):
        accounts.reset_password("nobody")
    with pytest.raises(WeakPassword):
        accounts.set_password("alice", "short")


def test_totp_enrolment_codes_and_reset(accounts, clock, engine):
    accounts.create("alice", DOCTOR, "p1")
    account_id = accounts.by_username("alice").id
    secret = accounts.pending_totp_secret(account_id)
    assert accounts.pending_totp_secret(account_id) == secret  # a reload shows the same
    assert accounts.confirm_totp(account_id, "000000") is None
    codes = accounts.confirm_totp(account_id, pyotp.TOTP(secret).at(clock()))
    assert len(codes) == 10
    with engine.connect() as connection:
        stored = connection.execute(sa.select(staff_accounts.c.recovery_codes)).scalar_one()
    assert not any(code in stored for code in codes) and len(json.loads(stored)) == 10
    with pytest.raises(AccountError):
        accounts.pending_totp_secret(account_id)
    same_step = pyotp.TOTP(secret).at(clock())
    assert accounts.check_second_factor(account_id, same_step) is None  # used to enrol
    clock.advance(30)
    code = pyotp.TOTP(secret).at(clock())
    assert accounts.check_second_factor(account_id, code) is SecondFactor.TOTP
    assert accounts.check_second_factor(account_id, code) is None
    assert accounts.check_second_factor(account_id, codes[0]) is SecondFactor.RECOVERY_CODE
    assert accounts.check_second_factor(account_id, codes[0]) is None
    assert accounts.recovery_codes_left(account_id) == 9
    accounts.reset_totp("alice")
    assert not accounts.by_username("alice").totp_enrolled
    assert accounts.check_second_factor(account_id, codes[1]) is None
    assert accounts.pending_totp_secret(account_id) != secret


def test_sessions_expire_rotate_and_end(accounts, sessions, clock):
    accounts.create("alice", DOCTOR, "p1")
    account_id = accounts.by_username("alice").id
    raw = sessions.start(account_id, Stage.TOTP)
    session = sessions.lookup(raw)
    assert session.stage is Stage.TOTP and session.account.username == "alice"
    assert sessions.lookup(raw + "x") is None and sessions.lookup(None) is None
    newer = sessions.advance(session, Stage.SIGNED_IN)
    assert sessions.lookup(raw) is None and sessions.lookup(newer).stage is Stage.SIGNED_IN
    clock.advance(30 * 60 + 1)
    assert sessions.lookup(newer) is None  # idle
    other = sessions.start(account_id, Stage.SIGNED_IN)
    kept = sessions.start(account_id, Stage.SIGNED_IN)
    sessions.end_all(account_id, keep=kept)
    assert sessions.lookup(other) is None and sessions.lookup(kept) is not None
    accounts.disable("alice")
    assert sessions.lookup(kept) is None


def test_a_disabled_account_is_refused_even_if_its_rows_remain(accounts, sessions, engine):
    accounts.create("alice", DOCTOR, "p1")
    raw = sessions.start(accounts.by_username("alice").id, Stage.SIGNED_IN)
    with engine.begin() as connection:  # as another worker might leave it: rows not deleted
        connection.execute(sa.update(staff_accounts).values(disabled_ms=1))
    assert sessions.lookup(raw) is None


def test_migration_0009_up_and_down(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    tables = set(sa.inspect(engine).get_table_names())
    assert "web_sessions" not in tables and "login_throttle" not in tables
    migrate(engine)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("staff_accounts")}
    assert {"must_change_password", "totp_last_step"} <= columns
    engine.dispose()


def test_concurrent_failures_are_all_counted(accounts, engine):
    """Guesses sent at once must not overwrite each other's counts (more than 10 tries)."""
    from concurrent.futures import ThreadPoolExecutor

    from fhir_api.storage.schema import login_throttle

    accounts.create("alice", DOCTOR, "p1")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda n: accounts.authenticate("alice", f"wrong {n:02d} guess", "10.9.9.9"),
                range(16),
            )
        )
    with engine.connect() as connection:
        counts = dict(
            connection.execute(sa.select(login_throttle.c.key, login_throttle.c.failures)).all()
        )
    counted = sum(r.reason != "locked" for r in results)  # the rest found the lock set
    assert counts == {"user:alice": counted, "address:10.9.9.9": counted}
    assert counted >= 10 and sum(r.locked_now for r in results) >= 1

"""Staff accounts on the `staff_accounts` table: creation, credentials and login steps.

No account and no password exists until an admin creates one (`homevitals admin
user create`): its initial password is random, returned once, and must be changed
at the first login; so must one an admin resets. Passwords are Argon2id hashes,
recovery codes SHA-256 hashes. Failed logins count per account (on its row), per
username that names no account and per client address (`login_throttle`), every
worker seeing the same counts; `throttle.ThrottlePolicy` decides delays and locks.
Disabling an account, or resetting its password or TOTP, ends its web sessions.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from ..roles import StaffRole
from ..storage.database import READ_ONLY
from ..storage.schema import login_throttle, staff_accounts, web_sessions
from . import passwords, totp
from .errors import AccountError, AccountExists, UnknownAccount, WeakPassword
from .throttle import Failures, ThrottlePolicy

__all__ = ["USERNAME", "Account", "AccountStore", "LoginAttempt", "LoginOutcome", "SecondFactor"]

# What a username may be: anything else names no account (and is never looked up).
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}\Z")
_NO_SUCH_USER = "(not a username)"
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Account:
    """A staff account as the pages and the command line see it (no secrets)."""

    id: int
    username: str
    display_name: str
    roles: frozenset[StaffRole]
    practitioner_id: str | None
    disabled: bool
    totp_enrolled: bool
    must_change_password: bool
    locked_until_ms: int | None

    @property
    def clinical(self) -> bool:
        """Whether the account holds a role that reads patients' data."""
        return any(role.clinical for role in self.roles)


class LoginOutcome(StrEnum):
    """How a username and password check went."""

    OK = "ok"
    FAILED = "failed"  # wrong password, no such account, or disabled: told apart only in logs
    LOCKED = "locked"  # too many failures of the account or the address


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The result of one password check, with what the caller needs to answer it."""

    outcome: LoginOutcome
    account: Account | None
    failures: int  # the username's failures in a row (the throttle's delay grows with them)
    locked_now: bool = False  # this failure locked the account or the address
    reason: str = ""  # for the log only: never shown to the user


class SecondFactor(StrEnum):
    """Which second factor a login used."""

    TOTP = "totp"
    RECOVERY_CODE = "recovery-code"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection that only reads: on SQLite a plain BEGIN, not the write lock."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        yield connection


def _user_key(username: str) -> str:
    return f"user:{username.casefold()}"[:200]


def _address_key(address: str) -> str:
    return f"address:{address}"[:200]


def _account(row: Row[tuple[object, ...]]) -> Account:
    m = row._mapping
    return Account(
        id=int(m["id"]),
        username=str(m["username"]),
        display_name=str(m["display_name"]),
        roles=frozenset(StaffRole(r) for r in str(m["roles"]).split(",") if r),
        practitioner_id=m["practitioner_id"],
        disabled=m["disabled_ms"] is not None,
        totp_enrolled=m["totp_confirmed_ms"] is not None,
        must_change_password=bool(m["must_change_password"]),
        locked_until_ms=m["locked_until_ms"],
    )


class AccountStore:
    """Staff accounts in the server's database."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = time.time,
        policy: ThrottlePolicy | None = None,
    ) -> None:
        self._engine = engine
        self.clock = clock
        self.policy = policy or ThrottlePolicy()

    @property
    def engine(self) -> Engine:
        """The database the accounts are in."""
        return self._engine

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --- administration ---------------------------------------------------------------

    def create(
        self,
        username: str,
        roles: Iterable[StaffRole],
        practitioner_id: str | None,
        display_name: str = "",
    ) -> str:
        """Create an account; returns its random initial password (shown once).

        Raises:
            AccountError: a malformed username or no role.
            AccountExists: the username is taken.
        """
        if not USERNAME.match(username):
            raise AccountError(
                "a username is 1-128 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit"
            )
        chosen = sorted({StaffRole(role) for role in roles})
        if not chosen:
            raise AccountError("an account needs at least one role")
        password = passwords.generate_password()
        now = self._now_ms()
        try:
            with self._engine.begin() as connection:
                if self._row(connection, username) is not None:
                    raise AccountExists(f"the username {username} is taken")
                connection.execute(
                    insert(staff_accounts).values(
                        username=username,
                        display_name=display_name,
                        roles=",".join(role.value for role in chosen),
                        practitioner_id=practitioner_id,
                        password_hash=passwords.hash_password(password),
                        password_set_ms=now,
                        must_change_password=True,
                        created_ms=now,
                    )
                )
        except IntegrityError as exc:  # created by another process meanwhile
            raise AccountExists(f"the username {username} is taken") from exc
        return password

    def accounts(self) -> list[Account]:
        """Every account, by username."""
        with reading(self._engine) as connection:
            rows = connection.execute(
                select(staff_accounts).order_by(staff_accounts.c.username)
            ).all()
        return [_account(row) for row in rows]

    def get(self, account_id: int) -> Account | None:
        """The account with that id."""
        with reading(self._engine) as connection:
            row = connection.execute(
                select(staff_accounts).where(staff_accounts.c.id == account_id)
            ).first()
        return _account(row) if row is not None else None

    def by_username(self, username: str) -> Account | None:
        """The account with that username."""
        with reading(self._engine) as connection:
            row = self._row(connection, username)
        return _account(row) if row is not None else None

    def set_password(self, username: str, password: str, *, by_admin: bool = True) -> Account:
        """Set a password; one an admin sets must be changed at the next login.

        Raises:
            UnknownAccount, WeakPassword.
        """
        problem = passwords.password_problem(password, username)
        if problem is not None:
            raise WeakPassword(problem)
        return self._update(
            username,
            password_hash=passwords.hash_password(password),
            password_set_ms=self._now_ms(),
            must_change_password=by_admin,
            failed_logins=0,
            locked_until_ms=None,
            end_sessions=by_admin,
        )

    def reset_password(self, username: str) -> str:
        """A new random password (returned once) that must be changed at the next login."""
        password = passwords.generate_password()
        self._update(
            username,
            password_hash=passwords.hash_password(password),
            password_set_ms=self._now_ms(),
            must_change_password=True,
            failed_logins=0,
            locked_until_ms=None,
            end_sessions=True,
        )
        return password

    def reset_totp(self, username: str) -> Account:
        """Forget the TOTP secret and recovery codes: the next login enrols anew."""
        return self._update(
            username,
            totp_secret=None,
            totp_confirmed_ms=None,
            totp_last_step=None,
            recovery_codes="[]",
            end_sessions=True,
        )

    def disable(self, username: str) -> Account:
        """Refuse the account's logins and end its sessions at once."""
        return self._update(username, disabled_ms=self._now_ms(), end_sessions=True)

    def enable(self, username: str) -> Account:
        """Allow logins again, and lift a lock."""
        return self._update(username, disabled_ms=None, failed_logins=0, locked_until_ms=None)

    def _update(self, username: str, *, end_sessions: bool = False, **values: object) -> Account:
        with self._engine.begin() as connection:
            row = self._row(connection, username)
            if row is None:
                raise UnknownAccount(f"no account named {username}")
            connection.execute(
                update(staff_accounts).where(staff_accounts.c.id == row.id).values(**values)
            )
            if end_sessions:
                connection.execute(delete(web_sessions).where(web_sessions.c.account_id == row.id))
            if values.get("failed_logins") == 0:  # the lock is lifted too
                connection.execute(
                    delete(login_throttle).where(login_throttle.c.key == _user_key(username))
                )
            changed = self._row(connection, username)
        assert changed is not None  # noqa: S101 - updated in this transaction
        return _account(changed)

    @staticmethod
    def _row(connection: Connection, username: str) -> Row[tuple[object, ...]] | None:
        return connection.execute(
            select(staff_accounts).where(staff_accounts.c.username == username)
        ).first()

    # --- logging in -----------------------------------------------------------------

    def authenticate(self, username: str, password: str, address: str) -> LoginAttempt:
        """Check a username and password from `address`, counting failures.

        Every path verifies an Argon2 hash (a dummy one when there is no account), so
        the answer's timing does not say whether the username exists; failures count
        the same way for a username that names no account.
        """
        now = self._now_ms()
        # A name no account can have (a NUL byte, which PostgreSQL refuses in a query,
        # or 5000 characters) is looked up nowhere and counts under one key; a password
        # over the policy's length is not hashed (its hashing would cost the server).
        username = username if USERNAME.match(username) else _NO_SUCH_USER
        if len(password) > passwords.MAX_LENGTH:
            password = ""
        with reading(self._engine) as connection:
            row = self._row(connection, username) if username != _NO_SUCH_USER else None
            by_address = self._failures(connection, _address_key(address), now)
            by_user = self._failures(connection, _user_key(username), now)
        stored = row.password_hash if row is not None else None
        matches = passwords.verify_password(stored, password) and bool(password)
        account = _account(row) if row is not None else None
        if by_address.locked(now) or by_user.locked(now):
            return LoginAttempt(LoginOutcome.LOCKED, account, by_user.count, reason="locked")
        if account is not None and matches and not account.disabled:
            if stored and passwords.needs_rehash(stored):
                self._rehash(account.id, password)
            return LoginAttempt(LoginOutcome.OK, account, by_user.count)
        reason = (
            "no such account"
            if account is None
            else "account disabled"
            if account.disabled
            else "wrong password"
        )
        return self._failed(username, account, address, reason)

    def _failed(
        self, username: str, account: Account | None, address: str, reason: str
    ) -> LoginAttempt:
        """Count one failure for the username and the address."""
        now = self._now_ms()
        policy = self.policy
        user_key, address_key = _user_key(username), _address_key(address)
        for key in (user_key, address_key):
            self._ensure_counted(key, now)
        with self._engine.begin() as connection:
            # Locked rows, in key order: guesses sent at once are each counted (a plain
            # read-then-write lost some on PostgreSQL: more than ten tries before the lock).
            counted = {
                row.key: row
                for row in connection.execute(
                    select(login_throttle)
                    .where(login_throttle.c.key.in_([user_key, address_key]))
                    .order_by(login_throttle.c.key)
                    .with_for_update()
                )
            }

            def before(key: str) -> Failures:
                row = counted[key]
                failures = Failures(
                    int(row.failures), int(row.last_failure_ms), row.locked_until_ms
                )
                return policy.current(failures, now)

            by_user = policy.after_failure(before(user_key), now, limit=policy.account_limit)
            by_address = policy.after_failure(before(address_key), now, limit=policy.address_limit)
            self._store_failures(connection, user_key, by_user)
            self._store_failures(connection, address_key, by_address)
            if account is not None:  # what `admin user list` shows
                connection.execute(
                    update(staff_accounts)
                    .where(staff_accounts.c.id == account.id)
                    .values(failed_logins=by_user.count, locked_until_ms=by_user.locked_until_ms)
                )
        locked_now = by_user.locked(now) or by_address.locked(now)
        return LoginAttempt(
            LoginOutcome.LOCKED if locked_now else LoginOutcome.FAILED,
            account,
            by_user.count,
            locked_now=locked_now,
            reason=reason,
        )

    def record_failure(self, account: Account, address: str, reason: str) -> LoginAttempt:
        """Count a failed second factor like a failed password."""
        return self._failed(account.username, account, address, reason)

    def is_locked(self, account: Account, address: str) -> bool:
        """Whether the account or the address is locked now (checked at each login step)."""
        now = self._now_ms()
        with reading(self._engine) as connection:
            return self._failures(connection, _user_key(account.username), now).locked(
                now
            ) or self._failures(connection, _address_key(address), now).locked(now)

    def signed_in(self, account: Account) -> None:
        """Forget the account's failures: call once the second factor (if any) passed.

        Not at the password: whoever has the password could otherwise guess codes nine
        at a time, signing in with the password again between rounds.
        """
        with self._engine.begin() as connection:
            connection.execute(
                update(staff_accounts)
                .where(staff_accounts.c.id == account.id)
                .values(failed_logins=0, locked_until_ms=None)
            )
            connection.execute(
                delete(login_throttle).where(login_throttle.c.key == _user_key(account.username))
            )

    def _rehash(self, account_id: int, password: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(staff_accounts)
                .where(staff_accounts.c.id == account_id)
                .values(password_hash=passwords.hash_password(password))
            )

    def _failures(self, connection: Connection, key: str, now: int) -> Failures:
        row = connection.execute(
            select(login_throttle).where(login_throttle.c.key == key[:200])
        ).first()
        if row is None:
            return Failures()
        return self.policy.current(
            Failures(int(row.failures), int(row.last_failure_ms), row.locked_until_ms), now
        )

    def _ensure_counted(self, key: str, now: int) -> None:
        """A row for `key` to lock and count on (none yet: one with no failures)."""
        with reading(self._engine) as connection:
            exists = connection.execute(
                select(login_throttle.c.key).where(login_throttle.c.key == key)
            ).first()
        if exists is not None:
            return
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(login_throttle).values(key=key, failures=0, last_failure_ms=now)
                )
        except IntegrityError:  # another request made it meanwhile: as good
            pass

    @staticmethod
    def _store_failures(connection: Connection, key: str, failures: Failures) -> None:
        connection.execute(
            update(login_throttle)
            .where(login_throttle.c.key == key)
            .values(
                failures=failures.count,
                last_failure_ms=failures.last_failure_ms,
                locked_until_ms=failures.locked_until_ms,
            )
        )

    # --- passwords and second factors of a signed-in (or half signed-in) account ----

    def change_password(self, account_id: int, current: str, new: str) -> bool:
        """Change one's own password; False when `current` is wrong.

        Raises:
            WeakPassword: `new` breaks the policy or equals `current`.
        """
        with reading(self._engine) as connection:
            row = connection.execute(
                select(staff_accounts).where(staff_accounts.c.id == account_id)
            ).one()
        if not passwords.verify_password(row.password_hash, current):
            return False
        problem = passwords.password_problem(new, str(row.username))
        if problem is None and new == current:
            problem = "the new password must differ from the current one"
        if problem is not None:
            raise WeakPassword(problem)
        with self._engine.begin() as connection:
            connection.execute(
                update(staff_accounts)
                .where(staff_accounts.c.id == account_id)
                .values(
                    password_hash=passwords.hash_password(new),
                    password_set_ms=self._now_ms(),
                    must_change_password=False,
                )
            )
        return True

    def pending_totp_secret(self, account_id: int) -> str:
        """The secret to enrol: the one shown before if not yet confirmed, else a new one.

        Raises:
            AccountError: the account has a confirmed TOTP already (an admin resets it).
        """
        with self._engine.begin() as connection:
            row = connection.execute(
                select(staff_accounts.c.totp_secret, staff_accounts.c.totp_confirmed_ms).where(
                    staff_accounts.c.id == account_id
                )
            ).one()
            if row.totp_confirmed_ms is not None:
                raise AccountError("this account has a TOTP authenticator already")
            if row.totp_secret:
                return str(row.totp_secret)
            secret = totp.new_secret()
            connection.execute(
                update(staff_accounts)
                .where(staff_accounts.c.id == account_id)
                .values(totp_secret=secret)
            )
        return secret

    def confirm_totp(self, account_id: int, code: str) -> list[str] | None:
        """Confirm enrolment with a first code; the recovery codes (shown once), or None."""
        with reading(self._engine) as connection:
            row = connection.execute(
                select(staff_accounts.c.totp_secret, staff_accounts.c.totp_confirmed_ms).where(
                    staff_accounts.c.id == account_id
                )
            ).one()
        if row.totp_secret is None or row.totp_confirmed_ms is not None:
            return None
        step = totp.verify_code(row.totp_secret, code, now=self.clock(), last_step=None)
        if step is None:
            return None
        codes = totp.new_recovery_codes()
        with self._engine.begin() as connection:
            connection.execute(
                update(staff_accounts)
                .where(
                    staff_accounts.c.id == account_id, staff_accounts.c.totp_confirmed_ms.is_(None)
                )
                .values(
                    totp_confirmed_ms=self._now_ms(),
                    totp_last_step=step,
                    recovery_codes=json.dumps([totp.hash_recovery_code(c) for c in codes]),
                )
            )
        return codes

    def check_second_factor(self, account_id: int, code: str) -> SecondFactor | None:
        """Accept a TOTP code (once per time step) or an unused recovery code (once)."""
        with self._engine.begin() as connection:
            row = connection.execute(
                select(
                    staff_accounts.c.totp_secret,
                    staff_accounts.c.totp_confirmed_ms,
                    staff_accounts.c.totp_last_step,
                    staff_accounts.c.recovery_codes,
                ).where(staff_accounts.c.id == account_id)
            ).one()
            if row.totp_secret is None or row.totp_confirmed_ms is None:
                return None
            last = row.totp_last_step
            step = totp.verify_code(row.totp_secret, code, now=self.clock(), last_step=last)
            if step is not None:
                # Compare-and-set on the last step: two workers given the same code at
                # once accept it in one of them only.
                done = connection.execute(
                    update(staff_accounts)
                    .where(
                        staff_accounts.c.id == account_id,
                        staff_accounts.c.totp_last_step.is_(None)
                        if last is None
                        else staff_accounts.c.totp_last_step == last,
                    )
                    .values(totp_last_step=step)
                )
                return SecondFactor.TOTP if done.rowcount else None
            hashes: Sequence[str] = json.loads(row.recovery_codes or "[]")
            left = totp.check_recovery_code(list(hashes), code)
            if left is None:
                return None
            done = connection.execute(
                update(staff_accounts)
                .where(
                    staff_accounts.c.id == account_id,
                    staff_accounts.c.recovery_codes == row.recovery_codes,
                )
                .values(recovery_codes=json.dumps(left))
            )
            return SecondFactor.RECOVERY_CODE if done.rowcount else None

    def recovery_codes_left(self, account_id: int) -> int:
        """How many recovery codes the account has not used."""
        with reading(self._engine) as connection:
            stored = connection.execute(
                select(staff_accounts.c.recovery_codes).where(staff_accounts.c.id == account_id)
            ).scalar_one()
        return len(json.loads(stored or "[]"))

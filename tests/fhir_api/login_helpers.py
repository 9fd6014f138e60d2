"""A login site over loopback HTTP with a clock, a delay recorder and an audit recorder."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from fhir_api.accounts import passwords
from fhir_api.accounts.store import AccountStore
from fhir_api.audit.record import AuditRecord
from fhir_api.roles import StaffRole

# The tests' Argon2id profile: the production one costs ~0.5 s a hash on the shared VM.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@contextmanager
def fast_password_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_HASHER", FAST_HASHER)
        yield


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Recorder:
    """What the app audited and how long it waited before answering failures."""

    events: list[AuditRecord] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    def record(self, event: AuditRecord) -> None:
        self.events.append(event)

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    def subtypes(self, agent: str | None = None) -> list[str]:
        return [e.subtype for e in self.events if agent is None or e.agent == agent]


@dataclass
class Site:
    """A running server's pages and what the tests control of it."""

    root: str
    app: FastAPI
    clock: Clock
    recorder: Recorder

    @property
    def accounts(self) -> AccountStore:
        return self.app.state.accounts

    def browser(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.root, follow_redirects=False, timeout=30, headers=headers)

    def account(
        self,
        roles: tuple[StaffRole, ...] = (StaffRole.DOCTOR,),
        *,
        enrol: bool = True,
        ready: bool = True,
    ) -> Staff:
        """A new account; `enrol`: with a confirmed TOTP; `ready`: its own password set."""
        username = f"u{secrets.token_hex(4)}"
        password = self.accounts.create(username, roles, "prac-1", f"Dr {username}")
        if ready:
            password = f"correct horse {secrets.token_hex(6)}"
            self.accounts.set_password(username, password, by_admin=False)
        account = self.accounts.by_username(username)
        assert account is not None
        staff = Staff(username, password, account.id, None, [])
        if enrol:
            staff.secret = self.accounts.pending_totp_secret(account.id)
            codes = self.accounts.confirm_totp(account.id, staff.code(self.clock))
            assert codes is not None
            staff.recovery = codes
            self.clock.advance(30)  # the enrolment used this step's code
        return staff


@dataclass
class Staff:
    username: str
    password: str
    id: int
    secret: str | None
    recovery: list[str]

    def code(self, clock: Clock) -> str:
        assert self.secret is not None
        return pyotp.TOTP(self.secret).at(clock.now)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def post_login(browser: httpx.Client, username: str, password: str) -> httpx.Response:
    form = browser.get("/login")
    return browser.post(
        "/login", data={"csrf": csrf_of(form), "username": username, "password": password}
    )


def post_code(browser: httpx.Client, code: str) -> httpx.Response:
    page = browser.get("/login/totp")
    assert page.status_code == 200, page.headers.get("location")
    return browser.post("/login/totp", data={"csrf": csrf_of(page), "code": code})


def sign_in(site: Site, staff: Staff, browser: httpx.Client) -> None:
    """Password and TOTP: the browser ends signed in."""
    assert post_login(browser, staff.username, staff.password).headers["location"] == "/login/totp"
    answer = post_code(browser, staff.code(site.clock))
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    site.clock.advance(30)  # the next login needs the next step's code

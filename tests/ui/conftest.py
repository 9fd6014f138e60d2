"""The clinician view's test harness: a real server on loopback with a clinic's data, and
Debian's Chromium driven by Playwright (never a downloaded browser).

- `clinic`: one server per test module (SQLite; PostgreSQL too where a module asks for
  `clinic_pg`), loaded through the FHIR API by `world.load_clinic`.
- `browser` (tests/conftest.py): headless /usr/bin/chromium for the session;
  `page_in(lang)` opens a page whose browser language is `lang`; `sign_in(page, staff)`
  logs in through /login.
- `axe(page)`: runs the vendored axe-core (tests/ui/vendor) in the page and fails on
  any serious or critical violation.
- `screenshot(page, name)`: a full-page PNG in `$HOMEVITALS_TEST_ARTIFACTS`, else
  build/ui-screenshots/ (git-ignored), for people to look at.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from fhir_api.accounts.throttle import ThrottlePolicy

from ..fhir_api.conftest import serve, settings_for
from ..fhir_api.login_helpers import fast_password_hashing
from .world import Clinic, Staff, load_clinic

ROOT = Path(__file__).resolve().parents[2]
VENDOR = Path(__file__).resolve().parent / "vendor"
ARTIFACTS = Path(os.environ.get("HOMEVITALS_TEST_ARTIFACTS") or ROOT / "build" / "ui-screenshots")
SERIOUS = ("serious", "critical")


def _clinic(backend: str, tmp: Path) -> Iterator[Clinic]:
    with ExitStack() as stack:
        stack.enter_context(fast_password_hashing())
        settings = settings_for(backend, stack, tmp, require_totp=False)

        apps = []

        def configure(app: Any) -> None:
            # Every test signs in from 127.0.0.1: the address lock is not under test here.
            app.state.accounts.policy = ThrottlePolicy(address_limit=100_000)
            apps.append(app)

        base, store = stack.enter_context(serve(settings, configure=configure))

        def set_clock(clock: Callable[[], float]) -> None:
            # The store's write clock (meta.lastUpdated): a heartbeat hours old.
            store._clock = clock

        clinic = load_clinic(base, store.engine, set_clock)
        clinic.app = apps[0]
        yield clinic


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """A server with the clinic's data (SQLite)."""
    yield from _clinic("sqlite", tmp_path_factory.mktemp("ui-sqlite"))


@pytest.fixture(scope="module")
def clinic_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """A server with the clinic's data (PostgreSQL)."""
    yield from _clinic("postgresql", tmp_path_factory.mktemp("ui-pg"))


@pytest.fixture
def page_in(browser: Any) -> Iterator[Callable[[str], Any]]:
    """Open pages with a browser language; console errors (a CSP refusal too) fail the test."""
    contexts = []
    errors: list[str] = []

    def open_page(lang: str = "ja") -> Any:
        context = browser.new_context(
            locale={"ja": "ja-JP", "en": "en-GB"}[lang],
            viewport={"width": 1600, "height": 1000},
            timezone_id="Asia/Tokyo",
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == [], errors


def sign_in(page: Any, root: str, staff: Staff) -> None:
    """Log in through the /login form; the clinical home is the patient list."""
    page.goto(f"{root}/login")
    page.fill("input[name=username]", staff.username)
    page.fill("input[name=password]", staff.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{root}/patients")


def axe(page: Any) -> list[dict[str, Any]]:
    """Run axe-core in `page`; fail on serious or critical violations, return them all.

    The script is evaluated through the DevTools protocol: the page's CSP (no inline
    script) stays on and is tested at the same time.
    """
    page.evaluate((VENDOR / "axe.min.js").read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                            "best-practice"]},
            resultTypes: ["violations"]})"""
    )
    violations: list[dict[str, Any]] = result["violations"]
    bad = [
        (v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:5])
        for v in violations
        if v["impact"] in SERIOUS
    ]
    assert bad == [], bad
    return violations


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot for people to look at; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

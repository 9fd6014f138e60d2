"""Options for the whole suite, and the session secret every test server runs with."""

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .services import unavailable

# A server outside development mode refuses to start without a real session secret
# (issue 11): the suite runs its servers as production does, with a random one, which
# subprocesses (`homevitals server`, the demo) inherit.
os.environ.setdefault("HOMEVITALS_SESSION_SECRET", secrets.token_urlsafe(32))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ble-adapter",
        default=None,
        help="run the hardware tests on this Bluetooth adapter (e.g. hci0), with real devices",
    )


CHROMIUM = os.environ.get("HOMEVITALS_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium for the whole session, shared by every browser test (one
    Playwright per process: a second sync Playwright beside it refuses to start)."""
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        unavailable(f"chromium is not installed ({CHROMIUM})")  # fails under CI=true
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that drive Chromium ignore ResourceWarnings of sockets left to the collector.

    Chromium keeps its keep-alive connections to a test server (uvicorn in a thread)
    open until the server's loop ends; their transports are collected later, in some
    other test, as "unclosed transport" warnings, which the suite's `error` filter made
    a random test fail (seen in a full run: the alert inbox's browser test). Some
    browser modules ignored them one by one; this does it for every test that uses the
    `browser` fixture, and for no other.
    """
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.filterwarnings("ignore::ResourceWarning"))

"""Options for the whole suite, and the session secret every test server runs with."""

import os
import secrets

import pytest

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

"""Options for the whole suite."""

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ble-adapter",
        default=None,
        help="run the hardware tests on this Bluetooth adapter (e.g. hci0), with real devices",
    )

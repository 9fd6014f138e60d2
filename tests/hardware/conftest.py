"""Hardware tests run only on a real Pi with devices: `pytest tests/hardware --ble-adapter hci0`."""

import pytest


@pytest.fixture
def adapter(request: pytest.FixtureRequest) -> str:
    name = request.config.getoption("--ble-adapter")
    if not name:
        pytest.skip("hardware test: pass --ble-adapter hci0 on a Pi with a device in pairing mode")
    return str(name)

"""A simulated home's file is its devices' memory: it outlives the gateway's process."""

from __future__ import annotations

import json
import stat

from gateway.simulation import VirtualBus
from gateway.simulation.home_file import start_home
from gateway.simulation.peripherals import BloodPressureCuff, PulseOximeter, SleepSensor

CUFF = "D0:00:00:00:40:01"
OXIMETER = "D0:00:00:00:40:0A"
SLEEP = "D0:00:00:00:40:0B"


def _home(tmp_path):
    home = tmp_path / "home.json"
    home.write_text(
        json.dumps(
            {
                "devices": [
                    {
                        "kind": "blood-pressure",
                        "address": CUFF,
                        "readings": [
                            [120, 80, 70, 1, "2026-11-27T07:00:00"],
                            [121, 81, 71, 1, "2026-11-27T19:00:00"],
                        ],
                    },
                    {
                        "kind": "pulse-oximeter",
                        "address": OXIMETER,
                        "readings": [[97, 66, "2026-11-27T07:10:00"]],
                    },
                    {
                        "kind": "sleep",
                        "address": SLEEP,
                        "readings": [
                            [7, 2, "2026-11-27T23:00:00", 600, 54],
                            [8, 3, "2026-11-27T23:10:00", 600, 52],
                        ],
                    },
                ]
            }
        )
    )
    return home


async def _start(home):
    devices = await start_home(home, VirtualBus())
    cuff, oximeter, sleep = devices
    assert isinstance(cuff, BloodPressureCuff) and isinstance(oximeter, PulseOximeter)
    assert isinstance(sleep, SleepSensor)
    return devices


async def test_a_confirmed_reading_is_remembered_as_sent_after_a_restart(tmp_path):
    home = _home(tmp_path)
    devices = await _start(home)
    cuff = devices[0]
    cuff.memory[0].sent = True
    cuff._memory_changed()  # what the cuff does when the confirmation arrives
    for device in devices:
        await device.stop()

    readings = json.loads(home.read_text())["devices"][0]["readings"]
    assert readings == [
        [120, 80, 70, 1, "2026-11-27T07:00:00", True],
        [121, 81, 71, 1, "2026-11-27T19:00:00"],
    ]
    devices = await _start(home)
    assert [record.sent for record in devices[0].memory] == [True, False]
    for device in devices:
        await device.stop()


async def test_records_deleted_through_racp_are_gone_after_a_restart(tmp_path):
    home = _home(tmp_path)
    devices = await _start(home)
    _, oximeter, sleep = devices
    oximeter.memory.clear()
    oximeter._memory_changed()  # what the oximeter does on a RACP delete
    sleep.memory = [(s, p) for s, p in sleep.memory if s > 7]
    sleep._memory_changed()  # ... and the sleep sensor on "delete up to 7"
    for device in devices:
        await device.stop()

    stored = json.loads(home.read_text())["devices"]
    assert stored[1]["readings"] == []
    assert stored[2]["readings"] == [[8, 3, "2026-11-27T23:10:00", 600, 52]]
    assert stat.S_IMODE(home.stat().st_mode) == 0o600  # health data: owner only
    devices = await _start(home)
    cuff, oximeter, sleep = devices
    assert oximeter.memory == []
    assert [s for s, _ in sleep.memory] == [8]
    assert sleep._next_sequence == 9  # it goes on counting where it was
    assert len(cuff.memory) == 2  # the cuff's memory untouched
    for device in devices:
        await device.stop()

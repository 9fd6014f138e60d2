"""A simulated home's file is its devices' memory: it outlives the gateway's process."""

from __future__ import annotations

import json
import stat

from gateway.simulation import VirtualBus
from gateway.simulation.home_file import start_home
from gateway.simulation.peripherals import BloodPressureCuff, PulseOximeter

CUFF = "D0:00:00:00:40:01"
OXIMETER = "D0:00:00:00:40:0A"


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
                ]
            }
        )
    )
    return home


async def _start(home):
    devices = await start_home(home, VirtualBus())
    cuff, oximeter = devices
    assert isinstance(cuff, BloodPressureCuff) and isinstance(oximeter, PulseOximeter)
    return devices


async def test_a_confirmed_reading_is_remembered_as_sent_after_a_restart(tmp_path):
    home = _home(tmp_path)
    cuff, oximeter = await _start(home)
    cuff.memory[0].sent = True
    cuff._memory_changed()  # what the cuff does when the confirmation arrives
    await cuff.stop()
    await oximeter.stop()

    readings = json.loads(home.read_text())["devices"][0]["readings"]
    assert readings == [
        [120, 80, 70, 1, "2026-11-27T07:00:00", True],
        [121, 81, 71, 1, "2026-11-27T19:00:00"],
    ]
    cuff, oximeter = await _start(home)
    assert [record.sent for record in cuff.memory] == [True, False]
    await cuff.stop()
    await oximeter.stop()


async def test_records_deleted_through_racp_are_gone_after_a_restart(tmp_path):
    home = _home(tmp_path)
    cuff, oximeter = await _start(home)
    oximeter.memory.clear()
    oximeter._memory_changed()  # what the oximeter does on a RACP delete
    await cuff.stop()
    await oximeter.stop()

    assert json.loads(home.read_text())["devices"][1]["readings"] == []
    assert stat.S_IMODE(home.stat().st_mode) == 0o600  # health data: owner only
    cuff, oximeter = await _start(home)
    assert oximeter.memory == []
    assert len(cuff.memory) == 2  # the cuff's memory untouched
    await cuff.stop()
    await oximeter.stop()

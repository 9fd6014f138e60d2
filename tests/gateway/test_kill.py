"""SIGKILL the gateway process at random moments, 50 times: nothing lost, nothing twice.

The gateway runs as its own process (`homevitals gateway run --simulate`) with an
emulated cuff that re-sends its whole memory at every connection (as many real
cuffs do); the server is real, over loopback. The seed is printed; pin it with
KILL_SEED.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

KILLS = 50
CUFF = "D0:00:00:00:30:01"


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path, fhir_server, capsys):
    seed = int(os.environ.get("KILL_SEED", random.randrange(2**32)))
    with capsys.disabled():
        print(f"\nkill seed: KILL_SEED={seed}")  # noqa: T201 - to reproduce a failure
    rng = random.Random(seed)
    home = tmp_path / "home.json"
    readings: list[list] = []
    start = datetime.now().replace(microsecond=0) - timedelta(days=2)  # noqa: DTZ005 - device clock

    def add_readings(n: int) -> None:
        for _ in range(n):
            k = len(readings)
            readings.append(
                [
                    100 + k,
                    60 + k % 30,
                    55 + k % 40,
                    1,
                    (start + timedelta(minutes=7 * k)).isoformat(),
                ]
            )
        home.write_text(
            json.dumps(
                {
                    "devices": [
                        {
                            "kind": "blood-pressure",
                            "address": CUFF,
                            "resend": True,
                            "readings": readings,
                        }
                    ]
                }
            )
        )

    config = tmp_path / "gateway.toml"
    config.write_text(
        "cooldown = 0.2\nidle_timeout = 0.5\n[[devices]]\n"
        f'address = "{CUFF}"\nkind = "blood-pressure"\npatients = {{ "*" = "kill-test" }}\n'
    )
    env = {
        **os.environ,
        "HOMEVITALS_GATEWAY_CONFIG": str(config),
        "HOMEVITALS_GATEWAY_SERVER_URL": fhir_server.base,
        "HOMEVITALS_GATEWAY_TOKEN": fhir_server.token,
        "HOMEVITALS_GATEWAY_DATA_DIR": str(tmp_path / "gateway-data"),
    }
    command = [
        sys.executable,
        "-m",
        "homevitals_cli",
        "gateway",
        "run",
        "--simulate",
        "--home",
        str(home),
    ]
    log = (tmp_path / "gateway.log").open("ab")
    add_readings(8)
    for kill in range(KILLS):
        if kill % 5 == 4:
            add_readings(3)  # measuring goes on between crashes
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        time.sleep(rng.uniform(0.15, 1.6))
        process.send_signal(signal.SIGKILL)
        process.wait()

    expected = {reading[0] for reading in readings}  # systolic values are unique
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        with fhir_server.client() as client:
            while True:
                found = client.get(
                    "/Observation?patient=Patient/kill-test&code=85354-9&_count=1000"
                ).json()
                systolic = [
                    e["resource"]["component"][0]["valueQuantity"]["value"]
                    for e in found.get("entry", [])
                ]
                if set(systolic) >= expected or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            pulses = client.get(
                "/Observation?patient=Patient/kill-test&code=8867-4&_summary=count"
            ).json()["total"]
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    assert sorted(systolic) == sorted(expected), (
        f"KILL_SEED={seed}: missing {sorted(expected - set(systolic))}"
    )
    assert len(systolic) == len(expected), f"KILL_SEED={seed}: duplicates"
    assert pulses == len(expected)
    status = subprocess.run(
        [sys.executable, "-m", "homevitals_cli", "gateway", "status"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(status.stdout)["rejected"] == 0

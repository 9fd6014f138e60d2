"""`homevitals gateway pair` and `gateway status` as processes, against the real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.mapping import PatientLink
from gateway.outbox import Outbox

CUFF = "D0:00:00:00:31:01"


def _gateway(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homevitals_cli", "gateway", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _env(tmp_path: Path, fhir_server) -> dict[str, str]:
    return {
        **os.environ,
        "HOMEVITALS_GATEWAY_SERVER_URL": fhir_server.base,
        "HOMEVITALS_GATEWAY_TOKEN": fhir_server.token,
        "HOMEVITALS_GATEWAY_DATA_DIR": str(tmp_path / "gateway-data"),
        "HOMEVITALS_GATEWAY_SYSTEM_ID": "B827EBFFFE00C1C1",
    }


def test_pair_binds_the_simulated_cuff_and_status_reports_the_empty_queue(tmp_path, fhir_server):
    home = tmp_path / "home.json"
    home.write_text(json.dumps({"devices": [{"kind": "blood-pressure", "address": CUFF}]}))
    env = _env(tmp_path, fhir_server)
    simulated = ["--simulate", "--home", str(home)]

    paired = _gateway(
        ["pair", "--patient", "cli-pair", "--slot", "1", "--timeout", "20", *simulated], env
    )
    assert paired.returncode == 0, paired.stderr
    line = paired.stdout.splitlines()[-1]
    assert line.startswith(f"paired blood-pressure {CUFF} (Device/")
    assert line.endswith("), user 1 -> Patient/cli-pair")
    device_id = line.split("(Device/")[1].split(")")[0]
    with fhir_server.client() as client:
        device = client.get(f"/Device/{device_id}")
    assert device.status_code == 200, device.text
    outbox = Outbox(tmp_path / "gateway-data" / "gateway.db")
    (binding,) = outbox.bindings()  # the gateway remembers the pairing across restarts
    outbox.close()
    assert binding.address == CUFF
    assert binding.patient_for(1) == PatientLink(logical_id="cli-pair")
    assert binding.patient_for(2) is None

    missing = _gateway(
        [
            "pair",
            "--patient",
            "cli-pair",
            "--address",
            "D0:00:00:00:31:99",
            "--timeout",
            "1",
            *simulated,
        ],
        env,
    )
    assert missing.returncode == 1
    assert "pairing failed" in missing.stderr

    status = _gateway(["status"], env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["gateway"] == "B827EBFFFE00C1C1"
    assert report["queue_depth"] == 0
    assert report["server"] == fhir_server.base

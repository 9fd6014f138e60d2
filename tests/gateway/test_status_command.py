"""`homevitals gateway status`: the outbox's size, and what someone has to look at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.outbox import Outbox

from .test_outbox import entry


def run_status(data: Path) -> subprocess.CompletedProcess[str]:
    """`homevitals gateway status` on the gateway data in `data`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "homevitals_cli", "gateway", "status"],
        env={**os.environ, "HOMEVITALS_GATEWAY_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_shows_the_outbox_size_and_the_rejected_and_quarantined_rows(tmp_path):
    data = tmp_path / "gateway-data"
    outbox = Outbox(data / "gateway.db")
    outbox.add([entry(1), entry(2), entry(3)])
    first, second, _ = outbox.due(10)
    outbox.mark_sent([first.seq])
    outbox.mark_rejected(second.seq, {"resourceType": "OperationOutcome", "issue": []})
    outbox.quarantine("D0:00:00:00:00:02", "2a35", b"\x1e\x7a", "too short")
    outbox.close()
    done = run_status(data)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["queue_depth"], report["sent"], report["rejected"]) == (1, 1, 1)
    assert report["outbox_rows"] == 4  # three readings and the quarantined payload
    assert report["outbox_bytes"] > 0
    assert report["sent_retention_days"] == 7
    (rejected,) = report["rejected_rows"]
    assert rejected["resource"] == "2" and "OperationOutcome" in rejected["outcome"]
    (payload,) = report["quarantined_payloads"]
    assert (payload["device"], payload["payload"], payload["error"]) == (
        "D0:00:00:00:00:02",
        "1e7a",
        "too short",
    )
    assert report["storage"] == "ok" and report["damaged_outbox_files"] == []

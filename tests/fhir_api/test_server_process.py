"""`homevitals server` as the process an operator starts, with its worker processes."""

from __future__ import annotations

from pathlib import Path

import httpx

from fhir_api.launch import start_server_process

from ..services import free_port


def test_workers_setting_starts_that_many_processes_serving_one_store(tmp_path):
    port = free_port()
    process, token = start_server_process(
        tmp_path,
        port,
        client="t",
        log=tmp_path / "server.log",
        environment={"HOMEVITALS_WORKERS": "2"},
    )
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) >= 2, children  # uvicorn's supervisor spawns one per worker
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/fhir", headers=headers) as client:
            made = client.post("/Patient", json={"resourceType": "Patient", "gender": "female"})
            assert made.status_code == 201
            patient = made.json()["id"]
            # Whichever worker answers, it reads the same store.
            for _ in range(10):
                assert client.get(f"/Patient/{patient}").json()["gender"] == "female"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_killed_server_leaves_nothing_in_the_temporary_folder_issue_9(tmp_path):
    """The metrics' multiprocess files lived in a new folder under TMPDIR, removed only
    on a clean exit: every killed server left one behind (seen after a full test run)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    data = tmp_path / "data"
    process, _ = start_server_process(
        data, free_port(), client="kill", environment={"TMPDIR": str(scratch)}
    )
    process.kill()
    process.wait(timeout=30)
    assert list(scratch.iterdir()) == []
    assert (data / "metrics").stat().st_mode & 0o777 == 0o700  # emptied at the next start

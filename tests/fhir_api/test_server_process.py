"""`homevitals server` as the process an operator starts, with its worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ..services import free_port

ROOT = Path(__file__).resolve().parents[2]


def _token(env: dict[str, str]) -> str:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "homevitals_cli",
            "token",
            "create",
            "--role",
            "system",
            "--name",
            "t",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()


@contextmanager
def _server(tmp_path: Path, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    env = {
        **os.environ,
        "HOMEVITALS_DATA_DIR": str(tmp_path),
        **{f"HOMEVITALS_{k.upper()}": v for k, v in settings.items()},
    }
    token = _token(env)
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "homevitals_cli", "server", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(
                        f"{base}/metadata", headers={"Authorization": f"Bearer {token}"}
                    ).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the server did not start: {log.read_text()}")
        yield process, base, token
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_workers_setting_starts_that_many_processes_serving_one_store(tmp_path):
    with _server(tmp_path, workers="2") as (process, base, token):
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) >= 2, children  # uvicorn's supervisor spawns one per worker
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
        with httpx.Client(base_url=base, headers=headers) as client:
            made = client.post("/Patient", json={"resourceType": "Patient", "gender": "female"})
            assert made.status_code == 201
            patient = made.json()["id"]
            # Whichever worker answers, it reads the same store.
            for _ in range(10):
                assert client.get(f"/Patient/{patient}").json()["gender"] == "female"

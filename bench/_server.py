"""Start the real server (`homevitals server`, one worker) for a benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def start_server(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """The server on the embedded store in `data_dir`, and a new system token for it."""
    env = {**os.environ, "HOMEVITALS_DATA_DIR": str(data_dir)}
    cli = [sys.executable, "-m", "homevitals_cli"]
    token = subprocess.run(
        [*cli, "token", "create", "--role", "system", "--name", "bench"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()
    server = subprocess.Popen(
        [*cli, "server", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            response = httpx.get(
                f"http://127.0.0.1:{port}/fhir/metadata",
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code == 200:
                return server, token
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise SystemExit("server did not start")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=10)

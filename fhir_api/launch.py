"""`homevitals server` as a process of its own: for the demo, the benchmarks and tests.

They need what an operator does (a token, then the server, then wait until it
answers) and nothing in-process, so that what they measure or show is the server
as it runs in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

__all__ = ["start_server_process"]


def start_server_process(
    data_dir: Path,
    port: int,
    *,
    client: str,
    log: Path | None = None,
    environment: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """The server on the embedded store in `data_dir`, and a new system token for it.

    Returns once `/fhir/metadata` answers. `client` names the token (what `homevitals
    token revoke --name` takes). `log` receives the server's output
    (discarded when None); `environment` adds `HOMEVITALS_*` settings.

    Raises:
        RuntimeError: the server exited or did not answer within `timeout` seconds.
    """
    env = {**os.environ, "HOMEVITALS_DATA_DIR": str(data_dir), **(environment or {})}
    cli = [sys.executable, "-m", "homevitals_cli"]
    token = subprocess.run(  # noqa: S603 - our own command
        [*cli, "token", "create", "--role", "system", "--name", client],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    output = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [*cli, "server", "--port", str(port)], env=env, stdout=output, stderr=output
        )
    finally:
        if log is not None:
            output.close()  # type: ignore[union-attr]  # the child has its own handle
    metadata = f"http://127.0.0.1:{port}/fhir/metadata"
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = httpx.get(metadata, headers={"Authorization": f"Bearer {token}"})
            if answer.status_code == 200:
                return process, token
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            where = f"; see {log}" if log is not None else ""
            raise RuntimeError(f"the server did not start{where}")
        time.sleep(0.1)

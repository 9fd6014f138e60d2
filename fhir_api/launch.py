"""`homevitals server` as a process of its own: for the demo, the benchmarks and tests.

They need what an operator does (a token, then the server, then wait until it
answers) and nothing in-process, so that what they measure or show is the server
as it runs in production.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

__all__ = ["port_problem", "start_server_process"]


def _can_listen(host: str, port: int) -> OSError | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port whose old connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on `host:port`, in one line with the way out.

    Checked before the server prints its address, so that a port held by another
    process (often a demo still running) gives one clear line instead of an
    address that is not being served and a traceback. None when the port is free.
    """
    problem = _can_listen(host, port)
    if problem is None:
        return None
    if problem.errno != errno.EADDRINUSE:
        return f"cannot listen on {host}:{port} ({problem.strerror}): choose another with --port"
    free = next(
        (p for p in range(port + 1, min(port + 50, 65536)) if _can_listen(host, p) is None), None
    )
    example = f" (e.g. --port {free})" if free is not None else ""
    return f"port {port} is already in use on {host}: choose another with --port{example}"


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
        RuntimeError: the port is taken (the message says so and names `--port`), or the
            server exited or did not answer within `timeout` seconds.
    """
    problem = port_problem("127.0.0.1", port)
    if problem is not None:
        raise RuntimeError(problem)
    env = {**os.environ, "HOMEVITALS_DATA_DIR": str(data_dir), **(environment or {})}
    # Like any production server it needs a session secret: a random one for this run
    # unless the caller has one (every worker reads the same variable).
    env.setdefault("HOMEVITALS_SESSION_SECRET", secrets.token_urlsafe(32))
    cli = [sys.executable, "-m", "homevitals_cli"]
    created = subprocess.run(  # noqa: S603 - our own command
        [*cli, "token", "create", "--role", "system", "--name", client],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if created.returncode != 0:  # e.g. a bad HOMEVITALS_* setting
        raise RuntimeError(f"the server's token could not be created: {_gist(created.stderr)}")
    token = created.stdout.strip()
    output = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [*cli, "server", "--port", str(port)], env=env, stdout=output, stderr=output
        )
    finally:
        if log is not None:
            output.close()  # type: ignore[union-attr]  # the child has its own handle
    try:
        _wait_until_serving(process, port, token, timeout, log)
    except BaseException:  # also Ctrl-C while waiting: never leave the server behind
        process.kill()
        process.wait()
        raise
    return process, token


def _wait_until_serving(
    process: subprocess.Popen[bytes], port: int, token: str, timeout: float, log: Path | None
) -> None:
    metadata = f"http://127.0.0.1:{port}/fhir/metadata"
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = httpx.get(metadata, headers={"Authorization": f"Bearer {token}"})
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start{_why(log)}")
        time.sleep(0.1)


def _why(log: Path | None) -> str:
    """The server log's last line, which says why it stopped (the demo may delete the log)."""
    if log is None:
        return ""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return f": {lines[-1]} (see {log})" if lines else f"; see {log}"


def _gist(stderr: str) -> str:
    """The line of an error output that says what is wrong (with a setting's name before it)."""
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and "For further information visit" not in line
    ]
    if not lines:
        return "no output"
    if len(lines) >= 2 and " " not in lines[-2]:  # pydantic: the field, then the problem
        return f"{lines[-2]}: {lines[-1]}"
    return lines[-1]

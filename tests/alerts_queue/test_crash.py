"""Two server processes on PostgreSQL; one is killed (SIGKILL) between a reading's commit
and its notification: the notification is still sent, exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import sqlalchemy as sa

from fhir_api.alerts import store as alert_store
from fhir_api.app import build_store
from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings
from fhir_api.storage.schema import alert_notifications, alert_work

from ..fhir_api.helpers import JSON, blood_pressure, patient
from ..services import free_port, postgres_database
from .evaluator import PAUSE_FILE
from .receivers import webhook_receiver
from .test_end_to_end import _care_manager

ROOT = Path(__file__).resolve().parents[2]


def start(port: int, environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "tests.alerts_queue.server_app:app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as output:
        return subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
        )


def wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)


def wait_for(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def count(engine: sa.Engine, table: sa.Table, *where) -> int:
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(table).where(*where)
        return int(connection.execute(query).scalar_one())


def test_a_worker_killed_after_the_commit_still_gets_the_notification_sent_once(tmp_path):
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database())
        settings = Settings(data_dir=tmp_path, database_url=url, series_backend="postgresql")
        store = build_store(settings)  # migrated before either server starts
        stack.callback(store.engine.dispose)
        token = TokenStore(store.engine).create("crash-test", Role.SYSTEM)
        hook_port, hooks = stack.enter_context(webhook_receiver())
        marker = tmp_path / "claimed-by"
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HOMEVITALS_DATA_DIR": str(tmp_path),
            "HOMEVITALS_DATABASE_URL": url,
            "HOMEVITALS_SERIES_BACKEND": "postgresql",
            "HOMEVITALS_ALERTS_POLL_SECONDS": "0.1",
            "HOMEVITALS_NOTIFY_CHANNELS": json.dumps(
                {"ops-hook": f"json://127.0.0.1:{hook_port}/alerts"}
            ),
            PAUSE_FILE: str(marker),
        }
        ports = [free_port(), free_port()]
        processes = {}
        logs = [tmp_path / f"server-{index}.log" for index in range(2)]
        for port, log in zip(ports, logs, strict=True):
            process = start(port, environment, log)
            stack.callback(_stop, process)
            processes[process.pid] = process
        for port, process, log in zip(ports, processes.values(), logs, strict=True):
            wait_ready(port, process, log)

        headers = {"Authorization": f"Bearer {token}", **JSON}
        base = f"http://127.0.0.1:{ports[0]}/fhir"
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            made = client.post("/Patient", json=patient(identifier="P-crash"))
            assert made.status_code == 201, made.text
            subject = f"Patient/{made.json()['id']}"
            manager = _care_manager(client, store, made.json()["id"])
            with store.transaction() as tx:
                alert_store.set_recipient_channel(tx.connection, manager, "ops-hook", None)
            body = blood_pressure(subject, "2026-11-30T07:00:00+09:00", 210, 100)
            assert client.post("/Observation", json=body).status_code == 201

        # One worker claims the reading and pauses holding its claim (the evaluator's
        # test hook); kill it there, between the reading's commit and its notification.
        wait_for(marker.exists, "a worker to claim the reading")
        wait_for(lambda: marker.read_text() != "", "the claimer's pid")
        victim = int(marker.read_text())
        assert victim in processes
        assert count(store.engine, alert_work) == 1  # the kill lands before the evaluation
        assert count(store.engine, alert_notifications) == 0
        os.kill(victim, signal.SIGKILL)
        assert processes[victim].wait(timeout=10) == -signal.SIGKILL

        wait_for(lambda: len(hooks) >= 1, "the notification from the surviving worker")
        time.sleep(1.0)  # several more rounds of the survivor: nothing else may arrive
        assert [h["title"] for h in hooks] == ["【緊急】血圧が著しく高値 — 田中 花子"]
        assert count(store.engine, alert_work) == 0
        sent = alert_notifications.c.sent_ms.is_not(None)
        assert count(store.engine, alert_notifications, sent) == 1


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

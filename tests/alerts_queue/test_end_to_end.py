"""Over real HTTP: urgent readings uploaded through the FHIR API become one message per
occasion at a real SMTP server and a real webhook, soon after the upload."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
import uvicorn

from fhir_api.alerts import store as alert_store
from fhir_api.alerts.seam import Evaluator
from fhir_api.app import build_store, create_app
from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings
from fhir_api.storage.resources import ResourceStore

from ..fhir_api.helpers import JSON, blood_pressure, patient
from ..services import free_port, postgres_database
from .evaluator import NURSE, CountingEvaluator
from .receivers import smtp_server, webhook_receiver


@contextmanager
def serving(
    settings: Settings, evaluator: Evaluator | None = None
) -> Iterator[tuple[str, ResourceStore]]:
    """The server with an evaluator (the stand-in by default), in a thread on loopback."""
    store = build_store(settings)
    app = create_app(settings, store, evaluator=evaluator or CountingEvaluator())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/fhir", store
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        store.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_urgent_readings_of_one_occasion_arrive_once_by_mail_and_webhook(backend, tmp_path):
    with ExitStack() as stack:
        smtp_port, mailbox = stack.enter_context(smtp_server())
        hook_port, hooks = stack.enter_context(webhook_receiver())
        channels = {
            "clinic-mail": f"mailto://127.0.0.1:{smtp_port}?from=alerts@clinic.example",
            "ops-hook": f"json://127.0.0.1:{hook_port}/alerts",
        }
        extra: dict[str, object] = {}
        if backend == "postgresql":
            extra = {
                "database_url": stack.enter_context(postgres_database()),
                "series_backend": "postgresql",
            }
        settings = Settings(
            data_dir=tmp_path, notify_channels=channels, alerts_poll_seconds=5.0, **extra
        )
        base, store = stack.enter_context(serving(settings))
        token = TokenStore(store.engine).create("e2e", Role.SYSTEM)
        with store.transaction() as tx:
            alert_store.set_recipient_channel(
                tx.connection, NURSE, "clinic-mail", "n@clinic.example"
            )
            alert_store.set_recipient_channel(tx.connection, NURSE, "ops-hook", None)
        headers = {"Authorization": f"Bearer {token}", **JSON}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            made = client.post("/Patient", json=patient(identifier="P-e2e"))
            subject = f"Patient/{made.json()['id']}"
            occasion = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": blood_pressure(subject, f"2026-11-30T07:0{m}:00+09:00", s, 95),
                        "request": {"method": "POST", "url": "Observation"},
                    }
                    for m, s in ((0, 184), (1, 188))
                ],
            }
            uploaded = time.monotonic()
            assert client.post("", json=occasion).status_code == 200
        # The write wakes this process's worker: no wait for its 5 s poll.
        deadline = uploaded + 10
        while len(hooks) < 1 or len(mailbox.messages) < 1:
            assert time.monotonic() < deadline, "no notification arrived"
            time.sleep(0.02)
        latency = time.monotonic() - uploaded
        time.sleep(0.3)  # nothing more may come
    assert latency < 2.0, f"upload to notification took {latency:.2f} s (issue 13: < 2 s)"
    assert [h["title"] for h in hooks] == ["HomeVitals: 2 alerts"]
    [(to, message)] = mailbox.messages
    assert to == ["n@clinic.example"] and message["Subject"] == "HomeVitals: 2 alerts"

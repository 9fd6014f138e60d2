"""Over real HTTP with the real rules: readings uploaded through the FHIR API raise, update
and resolve an alert, told once per occasion at a real SMTP server and a real webhook,
soon after the upload."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from fhir_api.alerts import store as alert_store
from fhir_api.alerts.seam import Evaluator
from fhir_api.app import build_store, create_app, real_evaluator
from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings
from fhir_api.storage.resources import ResourceStore
from fhir_api.storage.schema import staff_accounts

from ..fhir_api.helpers import JSON, blood_pressure, patient
from ..services import free_port, postgres_database
from .evaluator import CountingEvaluator
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


def _care_manager(client: httpx.Client, store: ResourceStore, patient_id: str) -> str:
    """A care manager (account and Practitioner) in the patient's care team; their reference."""
    made = client.post("/Practitioner", json={"resourceType": "Practitioner"})
    practitioner = made.json()["id"]
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": [{"member": {"reference": f"Practitioner/{practitioner}"}}],
    }
    assert client.post("/CareTeam", json=team).status_code == 201
    with store.engine.begin() as connection:
        connection.execute(
            sa.insert(staff_accounts).values(
                username=f"cm-{practitioner[:8]}",
                roles="care_manager",
                practitioner_id=practitioner,
                created_ms=0,
            )
        )
    return f"Practitioner/{practitioner}"


def _wait(condition, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited in vain for {what}"
        time.sleep(0.02)


URGENT = "【緊急】血圧が著しく高値 — 田中 花子"
RESOLVED = "【解消】血圧が著しく高値 — 田中 花子"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_readings_raise_update_and_resolve_an_alert_told_once_by_mail_and_webhook(
    backend, tmp_path
):
    """The real rules: an urgent sitting is one message per channel within 2 s; more high
    readings update the alert without a message; a normal one resolves it (told once)."""
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
        base, store = stack.enter_context(serving(settings, real_evaluator(settings)))
        token = TokenStore(store.engine).create("e2e", Role.SYSTEM)
        headers = {"Authorization": f"Bearer {token}", **JSON}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            made = client.post("/Patient", json=patient(identifier="P-e2e"))
            patient_id = made.json()["id"]
            subject = f"Patient/{patient_id}"
            manager = _care_manager(client, store, patient_id)
            with store.transaction() as tx:
                alert_store.set_recipient_channel(
                    tx.connection, manager, "clinic-mail", "cm@clinic.example"
                )
                alert_store.set_recipient_channel(tx.connection, manager, "ops-hook", None)

            def upload(*readings: tuple[str, float, float]) -> None:
                bundle = {
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [
                        {
                            "resource": blood_pressure(subject, f"2026-11-30T{t}:00+09:00", s, d),
                            "request": {"method": "POST", "url": "Observation"},
                        }
                        for t, s, d in readings
                    ],
                }
                assert client.post("", json=bundle).status_code == 200

            def issue() -> dict:
                found = client.get("/DetectedIssue", params={"patient": patient_id}).json()
                return found["entry"][0]["resource"] if found.get("total") else {}

            uploaded = time.monotonic()
            upload(("07:00", 184, 95), ("07:01", 188, 95))
            # The write wakes this process's worker: no wait for its 5 s poll.
            _wait(lambda: len(hooks) >= 1 and len(mailbox.messages) >= 1, "the urgent message")
            latency = time.monotonic() - uploaded

            upload(("07:30", 192, 100))  # the same alert, worse: updated, not sent again
            _wait(lambda: "3 reading(s)" in issue().get("detail", ""), "the update")
            assert issue()["detail"] == "bp-urgent: last 192/100 mm[Hg]; 3 reading(s)"

            upload(("08:00", 128, 78))  # back under 160/100: resolved by the rule
            _wait(lambda: issue().get("status") == "final", "the resolution")
            _wait(lambda: len(hooks) >= 2 and len(mailbox.messages) >= 2, "its message")
            time.sleep(0.3)  # nothing more may come
    assert latency < 2.0, f"upload to notification took {latency:.2f} s (issue 13: < 2 s)"
    assert [h["title"] for h in hooks] == [URGENT, RESOLVED]
    assert "最新: 血圧 188/95 mmHg" in hooks[0]["message"]
    assert f"/patients/{patient_id}" in hooks[0]["message"]
    assert [to for to, _ in mailbox.messages] == [["cm@clinic.example"]] * 2
    assert [m["Subject"] for _, m in mailbox.messages] == [URGENT, RESOLVED]

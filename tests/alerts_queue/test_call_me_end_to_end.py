"""Over real HTTP (issue 14): the call button's "please call me", uploaded by a gateway with
its own token in the gateway's own shape (`gateway.mapping.communication`: a conditional
create), raises one urgent alert:
one mail at a real SMTP server, one DetectedIssue. A second press updates it without a
message, a repeated upload of the same press counts once, and "fine today" raises nothing.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from fhir_api.access.gateways import GatewayRegistry
from fhir_api.alerts import store as alert_store
from fhir_api.app import real_evaluator
from fhir_api.auth import TokenStore
from fhir_api.codes import CALL_ME, FINE_TODAY
from fhir_api.roles import TokenKind
from fhir_api.settings import Settings
from gateway.mapping import GatewayIdentity, PatientLink
from gateway.mapping.bundle import transaction_bundle
from gateway.mapping.communication import Request, communication_entry

from ..fhir_api.helpers import JSON, patient
from ..services import postgres_database
from .receivers import smtp_server
from .test_end_to_end import _care_manager, _wait, serving

GATEWAY = GatewayIdentity("B827EBFFFE000114", "home-1")


def _press(patient_id: str, request: str, number: int) -> dict[str, Any]:
    """One press as the gateway's own mapping uploads it: a conditional create in a Bundle."""
    entry = communication_entry(
        Request(request),
        gateway=GATEWAY,
        patient=PatientLink(logical_id=patient_id),
        number=number,
        sent=datetime.now(UTC),
    )
    return transaction_bundle([entry])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_call_me_press_from_a_gateway_raises_one_alert_and_one_mail(backend, tmp_path):
    with ExitStack() as stack:
        smtp_port, mailbox = stack.enter_context(smtp_server())
        channels = {"clinic-mail": f"mailto://127.0.0.1:{smtp_port}?from=alerts@clinic.example"}
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
        system = TokenStore(store.engine).create("e2e", TokenKind.SYSTEM)
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {system}", **JSON}, timeout=30
        ) as client:
            patient_id = client.post("/Patient", json=patient(identifier="P-call")).json()["id"]
            manager = _care_manager(client, store, patient_id)
            with store.transaction() as tx:
                alert_store.set_recipient_channel(
                    tx.connection, manager, "clinic-mail", "cm@clinic.example"
                )

            def issues() -> list[dict[str, Any]]:
                found = client.get("/DetectedIssue", params={"patient": patient_id}).json()
                return [e["resource"] for e in found.get("entry", ())]

        GatewayRegistry(store.engine).bind("home-1", [patient_id])
        token = TokenStore(store.engine).create("home-1", TokenKind.GATEWAY, gateway="home-1")
        with (
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}", **JSON}, timeout=30
            ) as gateway,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {system}", **JSON}, timeout=30
            ) as client,
        ):
            answer = gateway.post("", json=_press(patient_id, FINE_TODAY, 1))
            assert answer.status_code == 200, answer.text
            uploaded = time.monotonic()
            assert gateway.post("", json=_press(patient_id, CALL_ME, 2)).status_code == 200
            _wait(lambda: len(mailbox.messages) >= 1, "the call-me mail")
            latency = time.monotonic() - uploaded
            # The same press again (its answer was lost): found, not created, not counted.
            again = gateway.post("", json=_press(patient_id, CALL_ME, 2))
            assert again.json()["entry"][0]["response"]["status"] == "200 OK", again.text
            assert gateway.post("", json=_press(patient_id, CALL_ME, 3)).status_code == 200
            _wait(lambda: "2 press(es)" in (issues() or [{}])[0].get("detail", ""), "the update")
            time.sleep(0.3)  # nothing more may come
            [issue] = issues()
    assert latency < 2.0, f"press to mail took {latency:.2f} s"
    assert issue["severity"] == "high" and issue["code"]["coding"][0]["code"] == "call-me"
    assert len(issue["implicated"]) == 2
    assert all(i["reference"].startswith("Communication/") for i in issue["implicated"])
    [(to, mail)] = mailbox.messages
    assert to == ["cm@clinic.example"]
    assert mail["Subject"].startswith("【緊急】電話の依頼")

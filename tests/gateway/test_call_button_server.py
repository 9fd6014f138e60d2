"""Issue 14: a press of the call button reaches the real server on loopback exactly once.

The gateway's own code path (record_press -> outbox -> Uploader) against the real
FHIR server with the gateway's token. The lost answer is real too: the request
reaches the server over loopback HTTP and the transport drops the response, as a
Wi-Fi drop after the server committed would.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from gateway.call_button import Request, record_press
from gateway.mapping import GatewayIdentity, PatientLink
from gateway.mapping.communication import PATIENT_REQUEST_SYSTEM, PRESS_IDENTIFIER_SYSTEM
from gateway.outbox import Outbox
from gateway.uploader import Uploader

GATEWAY = GatewayIdentity("B827EBFFFE000114", "test")
PRESSED = datetime(2026, 11, 30, 1, 32, tzinfo=UTC)


class AnswerLost(httpx.AsyncBaseTransport):
    """Real loopback HTTP whose first `lose` answers never reach the gateway."""

    def __init__(self, lose: int) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.lose = lose
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.sent += 1
        if self.lose:
            self.lose -= 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("the answer was lost on the way back", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def presses(server, query: str) -> list[dict]:
    with server.admin_client() as client:
        response = client.get(f"/Communication?{query}")
        assert response.status_code == 200, response.text
        return [e["resource"] for e in response.json().get("entry", [])]


def care_team(server, patient: str) -> str:
    with server.admin_client() as client:
        response = client.post(
            "/CareTeam",
            json={
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": f"Patient/{patient}"},
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


async def test_a_press_reaches_the_server_once_when_its_answer_is_lost(tmp_path, fhir_server):
    team = care_team(fhir_server, "tanaka")
    outbox = Outbox(tmp_path / "gw.db")
    record_press(
        outbox,
        Request.CALL_ME,
        gateway=GATEWAY,
        patient=PatientLink(logical_id="tanaka"),
        pressed_at=PRESSED,
        care_team=team,
    )
    transport = AnswerLost(lose=1)
    sent: list = []
    uploader = Uploader(
        fhir_server.base, fhir_server.token, outbox, transport=transport, on_sent=sent.extend
    )
    try:
        assert await uploader.upload_due() == 0  # stored on the server, answer lost
        assert uploader.last_failure is not None
        assert outbox.counts()["pending"] == 1
        outbox.postpone([1], 0, "retry now")
        assert await uploader.upload_due() == 1
    finally:
        await uploader.aclose()
        outbox.close()
    assert transport.sent == 2
    value = f"{GATEWAY.key}-1"
    [stored] = presses(fhir_server, f"identifier={PRESS_IDENTIFIER_SYSTEM}|{value}")
    assert stored["subject"] == stored["sender"] == {"reference": "Patient/tanaka"}
    assert stored["recipient"] == [{"reference": f"CareTeam/{team}"}]
    assert stored["priority"] == "asap"
    call_me = f"{PATIENT_REQUEST_SYSTEM}|call-me"
    assert [p["id"] for p in presses(fhir_server, f"patient=tanaka&category={call_me}")] == [
        stored["id"]
    ]
    assert len(sent) == 1  # the patient hears "sent" once


async def test_a_press_for_a_patient_the_gateway_does_not_serve_is_kept(tmp_path, fhir_server):
    """400 not-found: the gateway keeps the press (pending, retried), never drops it."""
    with fhir_server.admin_client() as client:
        made = client.post("/Patient", json={"resourceType": "Patient", "id": "x"})
        assert made.status_code == 201, made.text
        stranger = made.json()["id"]
    outbox = Outbox(tmp_path / "gw.db")
    record_press(
        outbox,
        Request.FINE_TODAY,
        gateway=GATEWAY,
        patient=PatientLink(logical_id=stranger),
        pressed_at=PRESSED,
    )
    uploader = Uploader(fhir_server.base, fhir_server.token, outbox)
    try:
        assert await uploader.upload_due() == 0
    finally:
        await uploader.aclose()
    assert outbox.counts()["pending"] == 1
    assert outbox.counts()["rejected"] == 0
    outbox.close()
    assert presses(fhir_server, f"patient={stranger}") == []

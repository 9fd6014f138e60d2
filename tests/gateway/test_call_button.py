"""Issue 14: the call button's presses become Communications in the outbox, sent once.

The server does not accept Communication yet (a later slice), so the upload is
tested against a loopback-free MockTransport that stores conditional creates the
way a FHIR server does (If-None-Exist on the identifier); the real server's part
comes with its slice.
"""

import asyncio
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from gpiozero.pins.mock import MockFactory

from gateway.call_button import CallButton, Request, record_press
from gateway.feedback import Feedback, FeedbackOptions, Language, Situation
from gateway.mapping import GatewayIdentity, PatientLink
from gateway.mapping.communication import PRESS_IDENTIFIER_SYSTEM, request_of
from gateway.outbox import Outbox
from gateway.uploader import Uploader

GATEWAY = GatewayIdentity("0011223344556677", "0.1.0")
PATIENT = PatientLink(logical_id="tanaka")
PRESSED = datetime(2026, 11, 30, 0, 5, 7, tzinfo=UTC)


@pytest.fixture
def factory():
    factory = MockFactory()
    yield factory
    factory.reset()


async def presses(factory, hold: float, hold_time: float = 0.05) -> list[Request]:
    loop = asyncio.get_running_loop()
    got: list[Request] = []
    button = CallButton(
        27,
        on_request=lambda request, at: got.append(request),
        loop=loop,
        now=lambda: PRESSED,
        hold_time=hold_time,
        pin_factory=factory,
    )
    pin = factory.pin(27)
    try:
        pin.drive_low()  # pressed: the button pulls the pin to ground
        await asyncio.sleep(hold)
        pin.drive_high()
        await asyncio.sleep(0.02)  # gpiozero's thread, then the loop's callback
    finally:
        button.close()
    return got


async def test_a_short_press_asks_for_a_call(factory):
    assert await presses(factory, hold=0.005) == [Request.CALL_ME]


async def test_a_long_press_is_the_fine_today_check_in_and_nothing_else(factory):
    assert await presses(factory, hold=0.15) == [Request.FINE_TODAY]


async def test_two_short_presses_are_two_requests(factory):
    assert await presses(factory, hold=0.005) + await presses(factory, hold=0.005) == [
        Request.CALL_ME,
        Request.CALL_ME,
    ]


def test_a_press_is_a_communication_from_the_patient_to_the_care_team(tmp_path):
    outbox = Outbox(tmp_path / "gw.db")
    entry = record_press(
        outbox,
        Request.CALL_ME,
        gateway=GATEWAY,
        patient=PATIENT,
        pressed_at=PRESSED,
        care_team="team-a",
    )
    assert outbox.all_resources() == [entry.resource]
    assert entry.resource == {
        "resourceType": "Communication",
        "identifier": [{"system": PRESS_IDENTIFIER_SYSTEM, "value": "0011223344556677-1"}],
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/communication-category",
                        "code": "alert",
                    }
                ]
            },
            {
                "coding": [
                    {
                        "system": "http://homevitals.org/fhir/CodeSystem/patient-request",
                        "code": "call-me",
                        "display": "Please call me",
                    }
                ]
            },
        ],
        "priority": "asap",
        "subject": {"reference": "Patient/tanaka"},
        "sender": {"reference": "Patient/tanaka"},
        "recipient": [{"reference": "CareTeam/team-a"}],
        "sent": "2026-11-30T00:05:07Z",
        "payload": [{"contentString": "Please call me"}],
    }
    assert entry.if_none_exist == (
        "identifier=http://homevitals.org/fhir/sid/call-button-press|0011223344556677-1"
    )
    outbox.close()


def test_press_numbers_survive_a_restart_so_no_identifier_is_reused(tmp_path):
    outbox = Outbox(tmp_path / "gw.db")
    first = record_press(
        outbox, Request.CALL_ME, gateway=GATEWAY, patient=PATIENT, pressed_at=PRESSED
    )
    outbox.close()
    reopened = Outbox(tmp_path / "gw.db")
    second = record_press(
        reopened, Request.FINE_TODAY, gateway=GATEWAY, patient=PATIENT, pressed_at=PRESSED
    )
    assert [r["identifier"][0]["value"] for r in reopened.all_resources()] == [
        "0011223344556677-1",
        "0011223344556677-2",
    ]
    assert "recipient" not in first.resource  # no care team known: none invented
    assert request_of(second.resource) is Request.FINE_TODAY
    assert reopened.counts()["pending"] == 2
    reopened.close()


class FhirLikeServer:
    """Stores transaction entries once per ifNoneExist; can lose its first answer."""

    def __init__(self, lose_answers: int = 0) -> None:
        self.stored: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.lose_answers = lose_answers

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import json

        bundle = json.loads(request.content)
        self.requests.append(bundle)
        for entry in bundle["entry"]:
            self.stored.setdefault(entry["request"]["ifNoneExist"], entry["resource"])
        if self.lose_answers:
            self.lose_answers -= 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response"})


async def test_a_press_is_uploaded_once_even_when_the_answer_is_lost(tmp_path):
    outbox = Outbox(tmp_path / "gw.db")
    record_press(outbox, Request.CALL_ME, gateway=GATEWAY, patient=PATIENT, pressed_at=PRESSED)
    server = FhirLikeServer(lose_answers=1)
    sent = []
    uploader = Uploader(
        "http://clinic.invalid/fhir",
        "t",
        outbox,
        transport=httpx.MockTransport(server),
        on_sent=sent.extend,
    )
    assert await uploader.upload_due() == 0  # no answer: postponed, not sent
    assert uploader.last_failure is not None
    outbox.postpone([1], 0, "retry now")
    assert await uploader.upload_due() == 1
    await uploader.aclose()
    assert len(server.requests) == 2
    [first], [second] = (r["entry"] for r in server.requests)
    assert first == second
    assert first["request"] == {
        "method": "POST",
        "url": "Communication",
        "ifNoneExist": "identifier=http://homevitals.org/fhir/sid/call-button-press|"
        "0011223344556677-1",
    }
    assert len(server.stored) == 1  # the retry found the first one
    assert outbox.counts() == {"pending": 0, "sent": 1, "rejected": 0, "quarantined": 0}
    assert [request_of(row.resource) for row in sent] == [Request.CALL_ME]
    outbox.close()


async def test_the_patient_hears_accepted_then_sent(tmp_path):
    outbox = Outbox(tmp_path / "gw.db")
    feedback = Feedback(
        FeedbackOptions(Language.EN, speech=True),
        zone=ZoneInfo("Asia/Tokyo"),
        clock=time.time,
    )
    record_press(outbox, Request.CALL_ME, gateway=GATEWAY, patient=PATIENT, pressed_at=PRESSED)
    feedback.accepted(Request.CALL_ME)
    uploader = Uploader(
        "http://clinic.invalid/fhir",
        "t",
        outbox,
        transport=httpx.MockTransport(FhirLikeServer()),
        on_sent=feedback.uploaded,
    )
    await uploader.upload_due()
    await uploader.aclose()
    assert [(s, c.text) for s, c in feedback.history] == [
        (Situation.CALL_ACCEPTED, "Sending: please call me."),
        (Situation.CALL_SENT, "The clinic has your request to call you."),
    ]
    outbox.close()

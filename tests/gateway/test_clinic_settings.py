"""Issue 14: settings from the clinic reach the running gateway and stay when the server is down.

The clinic keeps them on the Patient (extension home-settings); the gateway polls
`Device/$gateway-settings` on the real server over loopback with its own token,
applies them to its patient side without a restart, and keeps the last copy on disk.
"""

from __future__ import annotations

import asyncio
import stat
from datetime import datetime, time

import pytest

from fhir_api.home_settings import HomeSettings, Reminder, with_settings
from gateway.clinic_settings import ClinicSettings, merged
from gateway.feedback import Language, Situation
from gateway.outbox import Outbox
from gateway.patient_side import build_patient_side
from gateway.settings import FeedbackConfig, GatewaySettings, ReminderConfig
from gateway.uploader import Uploader

from ..services import free_port
from .test_end_to_end import TOKYO, wait_for

MORNING = ReminderConfig(patient="tanaka", kind="blood-pressure", times=["07:00"])


def set_on_server(server, patient: str, settings: HomeSettings) -> None:
    """What the clinic's settings page does: update the Patient with the extension."""
    with server.admin_client() as client:
        current = client.get(f"/Patient/{patient}").json()
        response = client.put(f"/Patient/{patient}", json=with_settings(current, settings))
        assert response.status_code == 200, response.text


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A patient side configured locally with a 07:00 reminder and speech off."""
    monkeypatch.delenv("HOMEVITALS_GATEWAY_CONFIG", raising=False)
    settings = GatewaySettings(reminders=[MORNING])
    outbox = Outbox(tmp_path / "gateway.db")
    uploader = Uploader("http://127.0.0.1:9/fhir", "t", outbox)
    printed: list[str] = []
    side = build_patient_side(settings, outbox, uploader, output=printed.append)
    assert side is not None
    yield settings, side
    outbox.close()


def clinic(server, tmp_path, settings, side, **kwargs) -> ClinicSettings:
    return ClinicSettings(
        kwargs.pop("base", server.base),
        server.token,
        tmp_path / "clinic-settings.json",
        local=settings.feedback,
        local_reminders=settings.reminders,
        apply=side.apply,
        **kwargs,
    )


async def test_a_change_at_the_clinic_changes_what_the_home_does_without_a_restart(
    tmp_path, fhir_server, home
):
    settings, side = home
    poller = clinic(fhir_server, tmp_path, settings, side, interval=0.1)
    task = asyncio.create_task(poller.run())
    try:
        await wait_for(lambda: poller.applied is not None)
        assert side.plans[0].times == (time(7),)  # nothing set at the clinic: local ones
        set_on_server(
            fhir_server,
            "tanaka",
            HomeSettings(
                language="en",
                speech=True,
                volume=40,
                # No quiet hours here: Feedback reads them on the real clock.
                read_values_aloud=True,
                reminders=(Reminder("blood-pressure", ("08:00", "20:00")),),
            ),
        )
        await wait_for(lambda: side.plans[0].times == (time(8), time(20)))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await poller.aclose()
    assert side.feedback.options.language is Language.EN
    assert side.feedback.options.speech and side.feedback.options.volume == 40
    assert side.feedback.read_values_for == {"tanaka"}
    side.now = lambda: datetime(2026, 11, 30, 8, 0, tzinfo=TOKYO)
    side.look()  # 08:00 is a measurement time now, spoken in English
    assert side.feedback.history[-1][0] is Situation.REMINDER
    assert side.feedback.history[-1][1].text == "It is time to measure your blood pressure."
    kept = tmp_path / "clinic-settings.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


async def test_an_unchanged_answer_is_a_304_and_applies_nothing(tmp_path, fhir_server, home):
    settings, side = home
    set_on_server(
        fhir_server, "tanaka", HomeSettings(speech=False, volume=55, quiet_hours="21:00-07:00")
    )
    poller = clinic(fhir_server, tmp_path, settings, side)
    applied: list[FeedbackConfig] = []
    poller.apply = lambda config, reminders: applied.append(config)
    try:
        assert await poller.poll() is True
        assert poller.etag is not None
        assert await poller.poll() is False  # If-None-Match: 304
    finally:
        await poller.aclose()
    assert [(c.volume, c.quiet_hours) for c in applied] == [(55, "21:00-07:00")]


async def test_the_last_settings_stay_when_the_server_cannot_be_reached(
    tmp_path, fhir_server, home
):
    settings, side = home
    set_on_server(
        fhir_server,
        "tanaka",
        HomeSettings(speech=True, reminders=(Reminder("blood-pressure", ("09:30",)),)),
    )
    first = clinic(fhir_server, tmp_path, settings, side)
    try:
        assert await first.poll() is True
    finally:
        await first.aclose()
    # A restart while the server is down: a fresh patient side from the local file only.
    outbox = Outbox(tmp_path / "restarted.db")
    restarted = build_patient_side(
        settings, outbox, Uploader("http://127.0.0.1:9/fhir", "t", outbox), output=print
    )
    assert restarted is not None and restarted.plans[0].times == (time(7),)
    down = clinic(
        fhir_server,
        tmp_path,
        settings,
        restarted,
        base=f"http://127.0.0.1:{free_port()}/fhir",
    )
    try:
        assert down.load_cached() is True
        assert await down.poll() is False  # nobody answers: the kept ones stay
    finally:
        await down.aclose()
    assert restarted.plans[0].times == (time(9, 30),)
    assert restarted.feedback.options.speech is True
    outbox.close()


def test_settings_the_gateway_refuses_leave_the_last_ones_in_force():
    bad_time = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "reminder",
                "part": [
                    {"name": "patient", "valueString": "tanaka"},
                    {"name": "kind", "valueCode": "blood-pressure"},
                    {"name": "time", "valueTime": "7 o'clock"},
                ],
            }
        ],
    }
    with pytest.raises(ValueError, match="not valid here"):
        merged(bad_time, FeedbackConfig(), [MORNING])
    with pytest.raises(ValueError, match="not valid here"):
        merged(
            {"resourceType": "Parameters", "parameter": [{"name": "volume", "valueInteger": 300}]},
            FeedbackConfig(),
            [],
        )
    with pytest.raises(ValueError, match="Parameters"):
        merged({"resourceType": "Bundle"}, FeedbackConfig(), [])
    # Local pins and the button's patient stay; the clinic's voice options apply.
    local = FeedbackConfig(led_pin=17, button_patient="tanaka", speech=True)
    config, reminders = merged(
        {"resourceType": "Parameters", "parameter": [{"name": "speech", "valueBoolean": False}]},
        local,
        [MORNING],
    )
    assert (config.led_pin, config.button_patient, config.speech) == (17, "tanaka", False)
    assert reminders == []  # the clinic has settings for the home: its reminders rule

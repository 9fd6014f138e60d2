"""Issue 14 end to end: emulated devices -> gateway with its light and voice -> real FHIR server.

The voice is printed, not played (`Speaker(play=False)`): which sentence is said,
and when, is what these tests check; test_feedback_speech proves espeak-ng can say
each one. The LED is a gpiozero MockFactory pin.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

import httpx
import pytest
from gpiozero.pins.mock import MockFactory

from gateway.bindings import Binding, Bindings
from gateway.feedback import (
    Feedback,
    FeedbackOptions,
    Language,
    LedPattern,
    Situation,
    Speaker,
    StatusLight,
)
from gateway.mapping import GatewayIdentity, PatientLink
from gateway.mapping.devices import DeviceKind
from gateway.outbox import Outbox
from gateway.patient_side import PatientSide, build_patient_side
from gateway.reminders import ReminderPlan
from gateway.service import BleEnvironment, Gateway
from gateway.settings import GatewaySettings
from gateway.simulation import VirtualBus
from gateway.simulation.peripherals import BloodPressureCuff
from gateway.uploader import Uploader

from ..services import free_port
from .test_end_to_end import CUFF, TOKYO, stop, wait_for

IDENTITY = GatewayIdentity("B827EBFFFE000101", "test")


@pytest.fixture
def factory():
    factory = MockFactory()
    yield factory
    factory.reset()


def patient_side(outbox, uploader, factory, *, language=Language.JA, **kwargs) -> PatientSide:
    printed: list[str] = []
    feedback = Feedback(
        FeedbackOptions(language, speech=True),
        zone=TOKYO,
        light=StatusLight(17, pin_factory=factory),
        speaker=Speaker(output=printed.append, play=False),
        read_values_for=frozenset({"tanaka"}),
        warn_after=kwargs.pop("warn_after", 1800.0),
    )
    side = PatientSide(
        feedback,
        outbox=outbox,
        uploader=uploader,
        identity=IDENTITY,
        zone=TOKYO,
        pin_factory=factory,
        tick=kwargs.pop("tick", 0.05),
        **kwargs,
    )
    side.printed = printed  # type: ignore[attr-defined]
    return side


async def test_a_reading_is_confirmed_received_then_stored_in_order(tmp_path, fhir_server, factory):
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF)
    cuff.measure(128, 82, 70, user=1)
    bindings = Bindings(
        [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {1: PatientLink(logical_id="tanaka")})]
    )
    outbox = Outbox(tmp_path / "gateway.db")
    uploader = Uploader(fhir_server.base, fhir_server.token, outbox)
    side = patient_side(outbox, uploader, factory)
    await cuff.start(bus)
    gateway = Gateway(
        identity=IDENTITY,
        bindings=bindings,
        outbox=outbox,
        uploader=uploader,
        ble=BleEnvironment.simulated(bus),
        zone=TOKYO,
        idle_timeout=1.0,
        cooldown=0.5,
        patient_side=side,
    )
    task = asyncio.create_task(gateway.run())
    try:
        await wait_for(lambda: len(side.printed) >= 2)
        await asyncio.sleep(0.2)  # nothing more is said for one reading
        assert factory.pin(17).state is True  # steady: at the clinic
    finally:
        await stop(task, gateway)
        await cuff.stop()
    assert side.printed == [
        "測定値を受け取りました。上 128、下 82、脈拍 70。",
        "測定値をクリニックに届けました。",
    ]
    assert factory.pin(17).state is False  # switched off at stop
    assert [s for s, _ in side.feedback.history] == [Situation.RECEIVED, Situation.STORED]
    assert [c.led for _, c in side.feedback.history] == [LedPattern.FAST_BLINK, LedPattern.STEADY]


async def test_an_outage_is_announced_once_and_its_end_too(tmp_path, fhir_server, factory):
    outbox = Outbox(tmp_path / "gateway.db")
    dead = f"http://127.0.0.1:{free_port()}/fhir"  # nothing listens: connection refused
    uploader = Uploader(dead, fhir_server.token, outbox)
    side = patient_side(outbox, uploader, factory, language=Language.EN, warn_after=0.3)
    running = asyncio.create_task(side.run())
    try:
        gateway_device = {"resourceType": "Device", "status": "active"}
        while side.feedback.history == []:
            await uploader.send_status(gateway_device, "urn:ietf:rfc:3986", "urn:x")
            await asyncio.sleep(0.05)
        assert side.feedback.light.pattern is LedPattern.SLOW_BLINK
        await asyncio.sleep(0.3)
        await uploader.send_status(gateway_device, "urn:ietf:rfc:3986", "urn:x")
        await asyncio.sleep(0.1)
        assert len(side.printed) == 1  # said once, however long it lasts
        uploader._client.base_url = httpx.URL(fhir_server.base.rstrip("/") + "/")
        assert await uploader.send_status(gateway_device, "urn:ietf:rfc:3986", "urn:x")
        await wait_for(lambda: len(side.printed) == 2, timeout=5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await uploader.aclose()
        outbox.close()
    assert side.printed == [
        "The clinic cannot be reached. Please check the Wi-Fi. "
        "Your readings are kept safe in this box.",
        "The clinic can be reached again.",
    ]


async def test_a_button_press_in_the_service_is_queued_and_confirmed(tmp_path, factory):
    outbox = Outbox(tmp_path / "gateway.db")
    uploader = Uploader("http://clinic.invalid/fhir", "t", outbox)
    side = patient_side(
        outbox,
        uploader,
        factory,
        language=Language.EN,
        button_pin=27,
        button_patient=PatientLink(logical_id="tanaka"),
        hold_time=0.05,
    )
    running = asyncio.create_task(side.run())
    try:
        await asyncio.sleep(0.02)
        pin = factory.pin(27)
        pin.drive_low()
        await asyncio.sleep(0.005)
        pin.drive_high()
        await wait_for(lambda: outbox.counts()["pending"] == 1, timeout=5)
        await wait_for(lambda: len(side.printed) == 1, timeout=5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await uploader.aclose()
    [communication] = outbox.all_resources()
    assert communication["resourceType"] == "Communication"
    assert communication["subject"] == {"reference": "Patient/tanaka"}
    assert side.printed == ["Sending: please call me."]
    outbox.close()


async def test_reminders_in_the_service_stop_once_a_reading_arrived(tmp_path, factory):
    clock = [datetime(2026, 11, 30, 7, 0, tzinfo=TOKYO)]
    outbox = Outbox(tmp_path / "gateway.db")
    uploader = Uploader("http://clinic.invalid/fhir", "t", outbox)
    plan = ReminderPlan("tanaka", "blood-pressure", (time(7),), timedelta(minutes=30), 2)
    side = patient_side(
        outbox, uploader, factory, language=Language.EN, plans=[plan], now=lambda: clock[0]
    )
    side.look()
    clock[0] += timedelta(minutes=30)
    side.look()
    side.last_reading[("tanaka", "blood-pressure")] = clock[0] + timedelta(minutes=5)
    clock[0] += timedelta(minutes=30)
    side.look()
    assert [s for s, _ in side.feedback.history] == [Situation.REMINDER, Situation.REMINDER]
    assert side.feedback.light.pattern is LedPattern.BLINK
    side.feedback.light.close()
    await uploader.aclose()
    outbox.close()


def test_nothing_of_the_patient_side_runs_unless_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("HOMEVITALS_GATEWAY_CONFIG", raising=False)
    outbox = Outbox(tmp_path / "gateway.db")
    uploader = Uploader("http://clinic.invalid/fhir", "t", outbox)
    assert build_patient_side(GatewaySettings(), outbox, uploader) is None
    assert uploader.on_sent is None
    outbox.close()


def test_settings_build_the_configured_patient_side(tmp_path, monkeypatch, factory):
    config = tmp_path / "gateway.toml"
    config.write_text(
        "[feedback]\n"
        'language = "en"\nspeech = true\nvolume = 40\nquiet_hours = "21:00-07:00"\n'
        'read_values_for = ["tanaka"]\nled_pin = 17\nbutton_pin = 27\n'
        'button_patient = "tanaka"\ncare_team = "team-a"\noutage_warning_after = 600\n'
        "[[reminders]]\n"
        'patient = "tanaka"\nkind = "blood-pressure"\ntimes = ["07:00", "19:00"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HOMEVITALS_GATEWAY_CONFIG", str(config))
    outbox = Outbox(tmp_path / "gateway.db")
    uploader = Uploader("http://clinic.invalid/fhir", "t", outbox)
    side = build_patient_side(GatewaySettings(), outbox, uploader, pin_factory=factory)
    assert side is not None
    assert side.feedback.options == FeedbackOptions(
        Language.EN, speech=True, volume=40, rate=140, quiet=(time(21), time(7))
    )
    assert side.feedback.read_values_for == {"tanaka"}
    assert side.feedback.outage.warn_after == 600
    assert side.plans == [
        ReminderPlan("tanaka", "blood-pressure", (time(7), time(19)), timedelta(minutes=30), 1)
    ]
    assert (side.button_pin, side.button_patient, side.care_team) == (
        27,
        PatientLink(logical_id="tanaka"),
        "team-a",
    )
    assert uploader.on_sent is not None
    side.feedback.light.close()
    outbox.close()


def test_new_settings_apply_while_running_without_repeating_a_reminder(tmp_path, monkeypatch):
    from gateway.settings import FeedbackConfig, ReminderConfig

    monkeypatch.delenv("HOMEVITALS_GATEWAY_CONFIG", raising=False)
    clock = [datetime(2026, 11, 30, 7, 0, tzinfo=TOKYO)]
    outbox = Outbox(tmp_path / "gateway.db")
    uploader = Uploader("http://clinic.invalid/fhir", "t", outbox)
    morning = ReminderConfig(patient="tanaka", kind="blood-pressure", times=["07:00"])
    settings = GatewaySettings(reminders=[morning])
    printed: list[str] = []
    side = build_patient_side(settings, outbox, uploader, output=printed.append)
    side.now = lambda: clock[0]
    side.look()  # speech off: the reminder only blinks
    assert [s for s, _ in side.feedback.history] == [Situation.REMINDER]
    assert side.feedback.history[0][1].text is None
    side.apply(
        FeedbackConfig(language="en", speech=True, volume=50, care_team="team-b"),
        [morning, ReminderConfig(patient="tanaka", kind="weight-scale", times=["07:00"])],
    )
    side.look()  # the blood-pressure reminder is not given again; the new one is, in English
    assert side.feedback.history[-1][1].text == "It is time to measure your weight."
    assert len(side.feedback.history) == 2
    assert side.care_team == "team-b" and side.feedback.options.volume == 50
    outbox.close()

"""Issue 14: the status LED's pin for each situation, through gpiozero's MockFactory."""

import itertools
import time
from zoneinfo import ZoneInfo

import pytest
from gpiozero.pins.mock import MockFactory

from gateway.feedback import (
    Feedback,
    FeedbackOptions,
    LedPattern,
    Rhythm,
    Situation,
    StatusLight,
)
from gateway.feedback.hub import _ACCEPTED
from gateway.mapping.communication import Request

# The real rhythms divided by 50, so a test sees several periods in a few tens of ms.
FAST = {
    LedPattern.FAST_BLINK: Rhythm(0.003, 0.003),
    LedPattern.BLINK: Rhythm(0.010, 0.010),
    LedPattern.SLOW_BLINK: Rhythm(0.030, 0.030),
}


@pytest.fixture
def factory():
    factory = MockFactory()
    yield factory
    factory.reset()


@pytest.fixture
def light(factory):
    light = StatusLight(17, pin_factory=factory, rhythms=FAST)
    yield light
    light.close()


def on_times(pin) -> list[float]:
    """How long the pin stayed high each time it was lit.

    gpiozero's MockPin records each change with the seconds since the change before,
    so a high state's duration is the next change's timestamp.
    """
    changes = pin.states
    return [after.timestamp for now, after in itertools.pairwise(changes) if now.state]


def watch(factory, light, pattern, seconds=0.1):
    pin = factory.pin(17)
    pin.clear_states()
    light.show(pattern)
    time.sleep(seconds)
    return pin


def test_steady_and_off(factory, light):
    assert watch(factory, light, LedPattern.STEADY, 0.01).state is True
    assert watch(factory, light, LedPattern.OFF, 0.01).state is False


@pytest.mark.parametrize(
    ("pattern", "low", "high"),
    [
        (LedPattern.FAST_BLINK, 0.002, 0.009),
        (LedPattern.BLINK, 0.008, 0.020),
        (LedPattern.SLOW_BLINK, 0.025, 0.050),
    ],
)
def test_each_blink_has_its_own_rhythm(factory, light, pattern, low, high):
    pin = watch(factory, light, pattern, 0.15)
    durations = on_times(pin)
    assert len(durations) >= 2, pin.states
    # The median on-time tells the rhythms apart even on a busy machine.
    assert low <= sorted(durations)[len(durations) // 2] <= high, durations


def test_the_same_pattern_again_does_not_restart_the_blink(factory, light):
    light.show(LedPattern.SLOW_BLINK)
    pin = factory.pin(17)
    pin.clear_states()
    light.show(LedPattern.SLOW_BLINK)
    assert len(pin.states) <= 2  # a restart would have switched it off and on at once


def hub(light, **kwargs):
    return Feedback(
        FeedbackOptions(speech=False), zone=ZoneInfo("Asia/Tokyo"), light=light, **kwargs
    )


def test_pin_state_per_situation_through_the_hub(factory, light):
    feedback = hub(light)
    pin = factory.pin(17)
    feedback.received()
    assert light.pattern is LedPattern.FAST_BLINK
    feedback.tell(Situation.STORED)
    assert pin.state is True and light.pattern is LedPattern.STEADY
    feedback.accepted(Request.CALL_ME)
    assert light.pattern is LedPattern.FAST_BLINK
    feedback.tell(Situation.CALL_SENT)
    assert pin.state is True


def test_outage_slow_blinks_until_contact_is_back(factory, light):
    clock = [1000.0]
    feedback = hub(light, warn_after=600, clock=lambda: clock[0])
    clock[0] = 1700.0
    feedback.watch(last_contact=None, last_failure=1690.0)
    assert light.pattern is LedPattern.SLOW_BLINK
    feedback.received()  # a reading during the outage: the light keeps saying "no clinic"
    assert light.pattern is LedPattern.SLOW_BLINK
    feedback.watch(last_contact=1750.0, last_failure=1690.0)
    assert light.pattern is LedPattern.STEADY
    assert [s for s, _ in feedback.history] == [
        Situation.UNREACHABLE,
        Situation.RECEIVED,
        Situation.REACHABLE,
    ]


def test_every_accepted_press_blinks_fast():
    assert set(_ACCEPTED) == set(Request)


def test_stored_is_said_once_per_received_not_per_upload_batch():
    from gateway.outbox import OutboxRow

    feedback = hub(None)
    observation = OutboxRow(1, "urn:uuid:1", {"resourceType": "Observation"}, "", 0)
    feedback.uploaded([observation])  # a stream's rows nobody was told about: silent
    feedback.received()
    feedback.uploaded([observation])
    feedback.uploaded([observation])  # the rest of the cuff's memory
    assert [s for s, _ in feedback.history] == [Situation.RECEIVED, Situation.STORED]

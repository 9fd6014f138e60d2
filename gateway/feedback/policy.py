"""Deciding what the patient sees and hears: a situation in, a `Cue` out. Pure.

The light is one LED, so situations differ by rhythm, never by colour:

- fast blink: something is on its way to the clinic (a reading received, a button press);
- steady: everything is at the clinic (STORED, CALL_SENT, ...) or contact is back;
- medium blink: a measurement is due (a reminder);
- slow blink: the clinic cannot be reached. It wins over every other pattern until
  contact is back, because it is the one a family member must notice.

Speech follows the options: off, or in the patient's language at a volume and a
rate. Quiet hours silence what the gateway says on its own (reminders, the
outage warning and its recovery); what answers the patient's own action (a
reading just taken, a button just pressed) is still said, since the patient is
awake and waiting for it. The outage warning is not lost to quiet hours: the
outage watch says it once they are over (`outage.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from enum import StrEnum

from .messages import Language, Situation, SpokenValues, spoken_text, voice_text

__all__ = ["PATTERNS", "Cue", "FeedbackOptions", "LedPattern", "cue_for", "in_quiet_hours"]


class LedPattern(StrEnum):
    """The status light's rhythms."""

    OFF = "off"
    STEADY = "steady"
    FAST_BLINK = "fast-blink"
    BLINK = "blink"
    SLOW_BLINK = "slow-blink"


PATTERNS: dict[Situation, LedPattern] = {
    Situation.RECEIVED: LedPattern.FAST_BLINK,
    Situation.CALL_ACCEPTED: LedPattern.FAST_BLINK,
    Situation.CHECKIN_ACCEPTED: LedPattern.FAST_BLINK,
    Situation.STORED: LedPattern.STEADY,
    Situation.CALL_SENT: LedPattern.STEADY,
    Situation.CHECKIN_SENT: LedPattern.STEADY,
    Situation.REACHABLE: LedPattern.STEADY,
    Situation.REMINDER: LedPattern.BLINK,
    Situation.UNREACHABLE: LedPattern.SLOW_BLINK,
}

# Said by the gateway of its own accord, so silenced in quiet hours.
UNSOLICITED = frozenset({Situation.UNREACHABLE, Situation.REACHABLE, Situation.REMINDER})


@dataclass(frozen=True, slots=True)
class FeedbackOptions:
    """How one home wants to be spoken to (set by the clinic; see GatewaySettings.feedback).

    Example::

        FeedbackOptions(Language.JA, speech=True, volume=70, quiet=(time(21), time(7)))
    """

    language: Language = Language.JA
    speech: bool = False
    volume: int = 70  # percent of espeak-ng's loudest
    rate: int = 140  # words per minute (espeak-ng's default, 175, is fast for many listeners)
    quiet: tuple[time, time] | None = None  # [start, end) local time; may wrap midnight


@dataclass(frozen=True, slots=True)
class Cue:
    """What to show and say for one situation."""

    led: LedPattern
    text: str | None  # the sentence as written; None: say nothing
    speech: str | None  # what espeak-ng is given (Japanese in kana); None with text
    language: Language
    volume: int
    rate: int


def in_quiet_hours(local: time, quiet: tuple[time, time] | None) -> bool:
    """Is `local` within [start, end)? A window that wraps midnight (21:00-07:00) works."""
    if quiet is None:
        return False
    start, end = quiet
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def cue_for(
    situation: Situation,
    options: FeedbackOptions,
    *,
    local: time,
    unreachable: bool = False,
    values: SpokenValues | None = None,
    subject: str | None = None,
) -> Cue:
    """The light and the sentence for a situation.

    Args:
        situation: what happened.
        options: the home's speech options.
        local: the time of day in the home's zone (for quiet hours).
        unreachable: the clinic cannot be reached at the moment (the light slow-blinks).
        values: values to read aloud (only passed when the patient asked for it).
        subject: a reminder's device kind.
    """
    led = PATTERNS[situation]
    if unreachable and situation is not Situation.REACHABLE:
        led = LedPattern.SLOW_BLINK
    silent = (
        not options.speech
        or options.volume <= 0
        or (situation in UNSOLICITED and in_quiet_hours(local, options.quiet))
    )
    text = speech = None
    if not silent:
        text = spoken_text(situation, options.language, values=values, subject=subject)
        speech = voice_text(situation, options.language, values=values, subject=subject)
    return Cue(led, text, speech, options.language, options.volume, options.rate)

"""The patient's side of the gateway (issue 14): what they see (an LED) and hear (espeak-ng).

Pure decisions (`messages`, `policy`, `outage`) and thin I/O (`light` through
gpiozero, `speech` through an espeak-ng subprocess), joined by `hub.Feedback`.
"""

from .hub import Feedback
from .light import RHYTHMS, Rhythm, StatusLight
from .messages import MESSAGES, Language, Situation, SpokenValues, spoken_text, voice_text
from .outage import OutageWatch
from .policy import Cue, FeedbackOptions, LedPattern, cue_for, in_quiet_hours
from .speech import Speaker, espeak_command

__all__ = [
    "MESSAGES",
    "RHYTHMS",
    "Cue",
    "Feedback",
    "FeedbackOptions",
    "Language",
    "LedPattern",
    "OutageWatch",
    "Rhythm",
    "Situation",
    "Speaker",
    "SpokenValues",
    "StatusLight",
    "cue_for",
    "espeak_command",
    "in_quiet_hours",
    "spoken_text",
    "voice_text",
]

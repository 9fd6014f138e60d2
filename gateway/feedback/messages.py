"""What the patient hears: one table of exact texts per situation and language (issue 14).

Pure: no clock, no I/O. `spoken_text` picks the sentence and, when the patient
asked for it, appends the values just measured ("上 128、下 82、脈拍 70" /
"128 over 82, pulse 70"). Sentences are short and plain, for a listener who
may be old, hard of hearing and not looking at any screen.

Each Japanese sentence also has a reading in kana (`READINGS`), which is what
espeak-ng is given: its Japanese voice reads kana only and says "Chinese letter"
for every kanji. `voice_text` returns that reading (the English text as it is);
numbers stay digits, which both voices read as numbers. The particle は is
written わ in the readings, as it is pronounced.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MESSAGES",
    "READINGS",
    "REMINDER_SUBJECTS",
    "Language",
    "Situation",
    "SpokenValues",
    "spoken_text",
    "spoken_values",
    "voice_text",
]


class Language(StrEnum):
    """The languages the gateway speaks (espeak-ng voice names)."""

    JA = "ja"
    EN = "en"


class Situation(StrEnum):
    """Every moment the gateway tells the patient something."""

    RECEIVED = "received"  # a device handed over a reading; it is committed at home
    STORED = "stored"  # the server answered 2xx for it: safely at the clinic
    UNREACHABLE = "unreachable"  # no contact with the server for longer than configured
    REACHABLE = "reachable"  # contact again, after UNREACHABLE was announced
    CALL_ACCEPTED = "call-accepted"  # short press committed to the outbox
    CHECKIN_ACCEPTED = "checkin-accepted"  # long press committed to the outbox
    CALL_SENT = "call-sent"  # the server has the "please call me"
    CHECKIN_SENT = "checkin-sent"  # the server has the "I am fine today"
    REMINDER = "reminder"  # a measurement time has come (or a re-reminder)


MESSAGES: dict[Situation, dict[Language, str]] = {
    Situation.RECEIVED: {
        Language.JA: "測定値を受け取りました。",
        Language.EN: "Reading received.",
    },
    Situation.STORED: {
        Language.JA: "測定値をクリニックに届けました。",
        Language.EN: "Your reading has reached the clinic.",
    },
    Situation.UNREACHABLE: {
        Language.JA: (
            "クリニックにつながりません。Wi-Fiを確認してください。測定値はこの機械に保存しています。"
        ),
        Language.EN: (
            "The clinic cannot be reached. Please check the Wi-Fi. "
            "Your readings are kept safe in this box."
        ),
    },
    Situation.REACHABLE: {
        Language.JA: "クリニックにまたつながりました。",
        Language.EN: "The clinic can be reached again.",
    },
    Situation.CALL_ACCEPTED: {
        Language.JA: "「電話してください」を送ります。",
        Language.EN: "Sending: please call me.",
    },
    Situation.CHECKIN_ACCEPTED: {
        Language.JA: "「今日は元気です」を送ります。",
        Language.EN: "Sending: I am fine today.",
    },
    Situation.CALL_SENT: {
        Language.JA: "クリニックに「電話してください」が届きました。",
        Language.EN: "The clinic has your request to call you.",
    },
    Situation.CHECKIN_SENT: {
        Language.JA: "クリニックに「今日は元気です」が届きました。",
        Language.EN: "The clinic knows you are fine today.",
    },
    Situation.REMINDER: {
        Language.JA: "{subject}を測る時間です。",
        Language.EN: "It is time to measure your {subject}.",
    },
}

# The Japanese sentences as espeak-ng is to say them (kana; は as わ).
READINGS: dict[Situation, str] = {
    Situation.RECEIVED: "そくていちを うけとりました。",
    Situation.STORED: "そくていちを クリニックに とどけました。",
    Situation.UNREACHABLE: (
        "クリニックに つながりません。ワイファイを かくにんしてください。"
        "そくていちわ このきかいに ほぞんしています。"
    ),
    Situation.REACHABLE: "クリニックに また つながりました。",
    Situation.CALL_ACCEPTED: "でんわしてください を おくります。",
    Situation.CHECKIN_ACCEPTED: "きょうわ げんきです を おくります。",
    Situation.CALL_SENT: "クリニックに でんわしてください が とどきました。",
    Situation.CHECKIN_SENT: "クリニックに きょうわ げんきです が とどきました。",
    Situation.REMINDER: "{subject}を はかる じかんです。",
}

# What a reminder names, per device kind (gateway.mapping.devices.DeviceKind values).
REMINDER_SUBJECTS: dict[str, dict[Language, str]] = {
    "blood-pressure": {Language.JA: "血圧", Language.EN: "blood pressure"},
    "pulse-oximeter": {Language.JA: "酸素飽和度", Language.EN: "oxygen level"},
    "thermometer": {Language.JA: "体温", Language.EN: "temperature"},
    "weight-scale": {Language.JA: "体重", Language.EN: "weight"},
    "glucose-meter": {Language.JA: "血糖値", Language.EN: "blood sugar"},
    "heart-rate": {Language.JA: "脈拍", Language.EN: "pulse"},
}
_SUBJECT_READINGS: dict[str, str] = {
    "blood-pressure": "けつあつ",
    "pulse-oximeter": "さんそほうわど",
    "thermometer": "たいおん",
    "weight-scale": "たいじゅう",
    "glucose-meter": "けっとうち",
    "heart-rate": "みゃくはく",
}
_VALUE_WORDS = {  # language, spoken? -> (upper, lower, pulse)
    (Language.JA, False): ("上", "下", "脈拍"),
    (Language.JA, True): ("うえ", "した", "みゃくはく"),
}


@dataclass(frozen=True, slots=True)
class SpokenValues:
    """The values of a blood-pressure reading as said aloud (mmHg and /min, whole numbers)."""

    systolic: int | None = None
    diastolic: int | None = None
    pulse: int | None = None


def spoken_values(values: SpokenValues, language: Language, *, reading: bool = False) -> str:
    """ "上 128、下 82、脈拍 70" or "128 over 82, pulse 70" (missing parts left out).

    With `reading`, the Japanese words in kana ("うえ 128、した 82、みゃくはく 70").
    """
    parts: list[str] = []
    if language is Language.JA:
        upper, lower, pulse = _VALUE_WORDS[(language, reading)]
        if values.systolic is not None and values.diastolic is not None:
            parts += [f"{upper} {values.systolic}", f"{lower} {values.diastolic}"]
        if values.pulse is not None:
            parts.append(f"{pulse} {values.pulse}")
        return "、".join(parts)
    if values.systolic is not None and values.diastolic is not None:
        parts.append(f"{values.systolic} over {values.diastolic}")
    if values.pulse is not None:
        parts.append(f"pulse {values.pulse}")
    return ", ".join(parts)


def spoken_text(
    situation: Situation,
    language: Language,
    *,
    values: SpokenValues | None = None,
    subject: str | None = None,
) -> str:
    """The exact sentence for a situation, as written (logs, the demo's printout).

    Args:
        situation: what happened.
        language: the patient's language.
        values: a reading's values, appended to RECEIVED when given (the per-patient
            option to read values aloud is decided by the caller).
        subject: the device kind a REMINDER is about (`blood-pressure`, ...).

    Raises:
        KeyError: a REMINDER for a kind with no subject in `REMINDER_SUBJECTS`.
    """
    return _compose(situation, language, values, subject, reading=False)


def voice_text(
    situation: Situation,
    language: Language,
    *,
    values: SpokenValues | None = None,
    subject: str | None = None,
) -> str:
    """The same sentence as espeak-ng is to say it: Japanese in kana, English unchanged."""
    return _compose(situation, language, values, subject, reading=language is Language.JA)


def _compose(
    situation: Situation,
    language: Language,
    values: SpokenValues | None,
    subject: str | None,
    *,
    reading: bool,
) -> str:
    text = READINGS[situation] if reading else MESSAGES[situation][language]
    if situation is Situation.REMINDER:
        kind = subject or "blood-pressure"
        name = _SUBJECT_READINGS[kind] if reading else REMINDER_SUBJECTS[kind][language]
        text = text.format(subject=name)
    if situation is Situation.RECEIVED and values is not None:
        said = spoken_values(values, language, reading=reading)
        if said:
            if language is Language.JA:
                text += said + "。"
            else:
                text += " " + said + "."
    return text

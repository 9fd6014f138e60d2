"""Issue 14: every message can be spoken offline by espeak-ng in both languages."""

import logging
import re
import shutil
import subprocess
import wave
from datetime import time

import pytest

from gateway.feedback import (
    FeedbackOptions,
    Language,
    Situation,
    Speaker,
    SpokenValues,
    cue_for,
    espeak_command,
)

from ..services import unavailable


@pytest.fixture(scope="module")
def espeak() -> str:
    binary = shutil.which("espeak-ng")
    if binary is None:
        unavailable("espeak-ng is not installed (Debian package espeak-ng)")
    return binary


def every_cue():
    for language in Language:
        options = FeedbackOptions(language, speech=True, volume=60)
        for situation in Situation:
            yield cue_for(situation, options, local=time(12), subject="blood-pressure")
        yield cue_for(Situation.RECEIVED, options, local=time(12), values=SpokenValues(128, 82, 70))


async def test_a_wav_file_for_every_message_in_both_languages(espeak, tmp_path):
    speaker = Speaker(espeak)
    cues = list(every_cue())
    assert len(cues) == 2 * (len(Situation) + 1)
    for number, cue in enumerate(cues):
        path = tmp_path / f"{cue.language}-{number}.wav"
        assert await speaker.synthesize(cue, path), cue.text
        with wave.open(str(path)) as audio:
            seconds = audio.getnframes() / audio.getframerate()
        assert 0.5 < seconds < 15, (cue.text, seconds)


def test_japanese_speech_has_no_kanji_espeak_would_spell_as_chinese_letters(espeak):
    """espeak-ng's ja voice reads kana only: a kanji becomes "Chinese letter" (in English)."""
    for cue in every_cue():
        if cue.language is not Language.JA:
            continue
        assert not re.search(r"[\u4e00-\u9fff]", cue.speech), cue.speech
        phonemes = subprocess.run(
            [espeak, "-v", "ja", "-q", "-x", "--", cue.speech],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "(en)" not in phonemes, (cue.speech, phonemes)  # no switch to English


def test_the_command_line_carries_voice_volume_and_rate(tmp_path):
    cue = cue_for(
        Situation.STORED,
        FeedbackOptions(Language.JA, speech=True, volume=70, rate=130),
        local=time(12),
    )
    assert espeak_command(cue.speech, cue.language, cue.volume, cue.rate, tmp_path / "a.wav") == [
        "espeak-ng",
        "-v",
        "ja",
        "-a",
        "140",
        "-s",
        "130",
        "-w",
        str(tmp_path / "a.wav"),
        "--",
        "そくていちを クリニックに とどけました。",
    ]
    assert espeak_command("x", Language.EN, 100, 175)[:7] == [
        "espeak-ng",
        "-v",
        "en",
        "-a",
        "200",
        "-s",
        "175",
    ]


async def test_a_missing_espeak_is_logged_once_and_never_raises(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    printed = []
    speaker = Speaker(output=printed.append)
    cue = cue_for(Situation.STORED, FeedbackOptions(Language.EN, speech=True), local=time(12))
    with caplog.at_level(logging.WARNING, logger="gateway.feedback.speech"):
        assert await speaker.speak(cue) is False
        assert await speaker.speak(cue) is False
    assert printed == ["Your reading has reached the clinic."] * 2
    assert [r.message for r in caplog.records] == [
        "espeak-ng is not installed: the gateway cannot speak"
    ]


async def test_a_failing_sound_device_is_logged_and_never_raises(tmp_path, caplog):
    failing = tmp_path / "espeak-ng"
    failing.write_text("#!/bin/sh\necho 'no sound device' >&2\nexit 1\n")
    failing.chmod(0o755)
    speaker = Speaker(str(failing))
    cue = cue_for(Situation.STORED, FeedbackOptions(Language.EN, speech=True), local=time(12))
    with caplog.at_level(logging.WARNING, logger="gateway.feedback.speech"):
        assert await speaker.speak(cue) is False
    assert "no sound device" in caplog.text

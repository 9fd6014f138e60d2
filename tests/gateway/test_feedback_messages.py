"""Issue 14: the exact sentences per situation and language, and what options do to them."""

from datetime import time

import pytest

from gateway.feedback import (
    MESSAGES,
    FeedbackOptions,
    Language,
    LedPattern,
    Situation,
    SpokenValues,
    cue_for,
    in_quiet_hours,
    spoken_text,
    voice_text,
)

JA, EN = Language.JA, Language.EN
SPEAKING = FeedbackOptions(JA, speech=True, volume=70, quiet=(time(21), time(7)))
NOON = time(12)

EXPECTED = {
    (Situation.RECEIVED, JA): "測定値を受け取りました。",
    (Situation.RECEIVED, EN): "Reading received.",
    (Situation.STORED, JA): "測定値をクリニックに届けました。",
    (Situation.STORED, EN): "Your reading has reached the clinic.",
    (Situation.UNREACHABLE, JA): (
        "クリニックにつながりません。Wi-Fiを確認してください。測定値はこの機械に保存しています。"
    ),
    (Situation.UNREACHABLE, EN): (
        "The clinic cannot be reached. Please check the Wi-Fi. "
        "Your readings are kept safe in this box."
    ),
    (Situation.REACHABLE, JA): "クリニックにまたつながりました。",
    (Situation.REACHABLE, EN): "The clinic can be reached again.",
    (Situation.CALL_ACCEPTED, JA): "「電話してください」を送ります。",
    (Situation.CALL_ACCEPTED, EN): "Sending: please call me.",
    (Situation.CHECKIN_ACCEPTED, JA): "「今日は元気です」を送ります。",
    (Situation.CHECKIN_ACCEPTED, EN): "Sending: I am fine today.",
    (Situation.CALL_SENT, JA): "クリニックに「電話してください」が届きました。",
    (Situation.CALL_SENT, EN): "The clinic has your request to call you.",
    (Situation.CHECKIN_SENT, JA): "クリニックに「今日は元気です」が届きました。",
    (Situation.CHECKIN_SENT, EN): "The clinic knows you are fine today.",
    (Situation.REMINDER, JA): "血圧を測る時間です。",
    (Situation.REMINDER, EN): "It is time to measure your blood pressure.",
}


@pytest.mark.parametrize(("situation", "language"), sorted(EXPECTED))
def test_each_situation_has_its_exact_sentence(situation, language):
    assert (
        spoken_text(situation, language, subject="blood-pressure")
        == EXPECTED[(situation, language)]
    )


def test_every_situation_is_in_the_table_in_both_languages():
    assert set(MESSAGES) == set(Situation)
    assert {(s, lang) for s in Situation for lang in Language} == set(EXPECTED)


def test_values_read_aloud_in_japanese_and_english():
    values = SpokenValues(128, 82, 70)
    assert spoken_text(Situation.RECEIVED, JA, values=values) == (
        "測定値を受け取りました。上 128、下 82、脈拍 70。"
    )
    assert spoken_text(Situation.RECEIVED, EN, values=values) == (
        "Reading received. 128 over 82, pulse 70."
    )


def test_a_reading_without_pulse_says_only_the_pressures():
    assert spoken_text(Situation.RECEIVED, EN, values=SpokenValues(140, 90)) == (
        "Reading received. 140 over 90."
    )


READINGS = {
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
    Situation.REMINDER: "けつあつを はかる じかんです。",
}


@pytest.mark.parametrize("situation", list(Situation))
def test_japanese_is_voiced_from_its_kana_reading_and_english_as_written(situation):
    assert voice_text(situation, JA, subject="blood-pressure") == READINGS[situation]
    assert voice_text(situation, EN, subject="blood-pressure") == EXPECTED[(situation, EN)]


def test_values_voiced_in_kana():
    assert voice_text(Situation.RECEIVED, JA, values=SpokenValues(128, 82, 70)) == (
        "そくていちを うけとりました。うえ 128、した 82、みゃくはく 70。"
    )


def test_reminders_name_the_measurement():
    assert spoken_text(Situation.REMINDER, JA, subject="weight-scale") == "体重を測る時間です。"
    assert spoken_text(Situation.REMINDER, EN, subject="thermometer") == (
        "It is time to measure your temperature."
    )


def test_led_pattern_per_situation():
    patterns = {s: cue_for(s, SPEAKING, local=NOON).led for s in Situation}
    assert patterns == {
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


def test_while_unreachable_the_light_keeps_slow_blinking():
    cue = cue_for(Situation.RECEIVED, SPEAKING, local=NOON, unreachable=True)
    assert cue.led is LedPattern.SLOW_BLINK
    assert cue.text == "測定値を受け取りました。"  # the voice still confirms the reading
    back = cue_for(Situation.REACHABLE, SPEAKING, local=NOON, unreachable=True)
    assert back.led is LedPattern.STEADY


def test_speech_off_and_volume_zero_say_nothing_but_keep_the_light():
    for options in (FeedbackOptions(JA, speech=False), FeedbackOptions(JA, speech=True, volume=0)):
        cue = cue_for(Situation.STORED, options, local=NOON)
        assert cue.text is None
        assert cue.led is LedPattern.STEADY


def test_volume_and_rate_travel_with_the_cue():
    cue = cue_for(
        Situation.STORED, FeedbackOptions(EN, speech=True, volume=35, rate=120), local=NOON
    )
    assert (cue.text, cue.language, cue.volume, cue.rate) == (
        "Your reading has reached the clinic.",
        EN,
        35,
        120,
    )


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        (time(21), True),
        (time(23, 59), True),
        (time(0), True),
        (time(6, 59), True),
        (time(7), False),
        (time(20, 59), False),
        (time(12), False),
    ],
)
def test_quiet_hours_wrap_midnight(local, quiet):
    assert in_quiet_hours(local, (time(21), time(7))) is quiet


def test_quiet_hours_within_a_day_and_none():
    assert in_quiet_hours(time(13, 30), (time(13), time(14)))
    assert not in_quiet_hours(time(14), (time(13), time(14)))
    assert not in_quiet_hours(time(3), None)


def test_quiet_hours_silence_what_the_gateway_says_by_itself_only():
    night = time(23)
    for situation in (Situation.REMINDER, Situation.UNREACHABLE, Situation.REACHABLE):
        cue = cue_for(situation, SPEAKING, local=night, subject="blood-pressure")
        assert cue.text is None, situation
    # The patient just measured or pressed the button: they are awake and waiting for it.
    for situation in (Situation.RECEIVED, Situation.STORED, Situation.CALL_SENT):
        assert cue_for(situation, SPEAKING, local=night).text == EXPECTED[(situation, JA)]

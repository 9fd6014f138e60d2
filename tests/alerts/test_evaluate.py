"""Arriving readings: thresholds, confirmation, hysteresis, order and repeats (pure)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import timedelta

import pytest

from fhir_api.alerts import (
    ChangeKind,
    Kind,
    PatientState,
    Rule,
    Sampling,
    Severity,
    evaluate,
    rules_for,
    state_from_json,
    state_to_json,
)
from fhir_api.vital_limits import Limits, Spo2Scale

from .factories import RULES, T0, bp, feed, kinds_of, one, one_sitting_rules

DAY = timedelta(days=1)
MIN = timedelta(minutes=1)


def test_urgent_blood_pressure_opens_an_urgent_alert_at_once():
    state, changes = feed(PatientState("p1"), [bp(186, 98, T0, obs="o1")])

    assert kinds_of(changes) == [("opened", "bp-urgent")]
    alert = state.alerts["bp-urgent"]
    assert alert.severity is Severity.URGENT
    assert alert.id == "p1/bp-urgent/1"
    assert (alert.count, alert.observations) == (1, ("o1",))
    assert alert.last == {Kind.SYSTOLIC: 186, Kind.DIASTOLIC: 98}


def test_home_hypertension_needs_sitting_means_over_the_line_on_three_days():
    """JSH: the mean of a sitting's two readings; three days within a week."""
    batches = []
    for day in range(2):
        batches += [bp(142, 88, T0 + day * DAY), bp(138, 86, T0 + day * DAY + 2 * MIN)]
    state, changes = feed(PatientState("p1"), batches)
    assert changes == []  # two days over: not yet

    # A sitting whose mean is under 135/85 does not count, even with one reading over.
    state, changes = feed(state, [bp(150, 80, T0 + 2 * DAY), bp(118, 80, T0 + 2 * DAY + MIN)])
    assert changes == []

    state, changes = feed(state, [bp(140, 90, T0 + 3 * DAY), bp(136, 84, T0 + 3 * DAY + MIN)])
    assert kinds_of(changes) == [("opened", "bp-high")]
    alert = state.alerts["bp-high"]
    assert alert.last == {Kind.SYSTOLIC: 138, Kind.DIASTOLIC: 87}  # the sitting's mean
    assert alert.count == 6  # the Observations of the three sittings over the line


def test_days_over_are_the_patients_days_with_late_evenings_counted_for_the_day_before():
    """23:00 and 00:30 in Tokyo are one evening: three calendar dates are two days here."""
    evening = T0.replace(hour=23)
    sittings = [
        bp(150, 95, evening),
        bp(150, 95, evening + MIN),
        bp(150, 95, evening + 90 * MIN),  # 00:30: the same evening
        bp(150, 95, evening + 91 * MIN),
    ]
    state, changes = feed(PatientState("p1"), sittings)
    assert changes == []
    morning = T0 + 2 * DAY  # the third date, the second day
    state, changes = feed(state, [bp(150, 95, morning), bp(150, 95, morning + MIN)])
    assert changes == []
    third = T0 + 3 * DAY
    _, changes = feed(state, [bp(150, 95, third), bp(150, 95, third + MIN)])
    assert kinds_of(changes) == [("opened", "bp-high")]


def test_a_sitting_with_one_reading_waits_for_the_second():
    rules = one_sitting_rules()
    state, changes = feed(PatientState("p1"), [bp(150, 95, T0)], rules=rules)
    assert changes == []
    assert state.pending == T0 + rules.occasion_window

    state, changes = feed(state, [bp(118, 80, T0 + MIN)], rules=rules)
    assert changes == []  # the sitting's mean is 134/87.5: under the line
    assert state.pending is None
    state, changes = feed(state, [bp(150, 95, T0 + DAY), bp(146, 91, T0 + DAY + MIN)], rules=rules)
    assert kinds_of(changes) == [("opened", "bp-high")]


def test_consecutive_readings_confirm_a_low_spo2():
    """Below the patient's SpO2 limit (90 %, as the pages flag it), two in a row."""
    state, changes = feed(PatientState("p1"), [[one(Kind.SPO2, 89, T0)]])
    assert changes == []
    state, changes = feed(
        state, [[one(Kind.SPO2, 90, T0 + MIN)], [one(Kind.SPO2, 88, T0 + 2 * MIN)]]
    )
    assert changes == []  # not in a row: 90 is not below 90
    state, changes = feed(state, [[one(Kind.SPO2, 89, T0 + 3 * MIN)]])
    assert kinds_of(changes) == [("opened", "spo2-low")]


def test_news2_scale_2_for_a_target_of_88_to_92_percent():
    limits = Limits(spo2_low=88, spo2_scale=Spo2Scale.TARGET_88_92)
    scale_2 = rules_for(limits=limits, zone="Asia/Tokyo")
    readings = [[one(Kind.SPO2, 88, T0)], [one(Kind.SPO2, 89, T0 + MIN)]]

    _, on_scale_1 = feed(PatientState("p1"), readings)
    _, on_scale_2 = feed(PatientState("p1"), readings, rules=scale_2)
    assert {c for k, c in kinds_of(on_scale_1) if k == "opened"} == {"spo2-low"}
    assert on_scale_2 == []  # in the patient's target range

    _, low = feed(
        PatientState("p1"),
        [[one(Kind.SPO2, 85, T0)]] * 1 + [[one(Kind.SPO2, 84, T0 + MIN)]],
        rules=scale_2,
    )
    assert kinds_of(low) == [("opened", "spo2-low")]
    _, urgent = feed(PatientState("p1"), [[one(Kind.SPO2, 83, T0)]], rules=scale_2)
    assert kinds_of(urgent) == [("opened", "spo2-urgent")]


def test_a_noisy_value_around_the_limit_does_not_flap():
    """Hysteresis: 182, 178, 181, 179... keeps one alert; 155 (under 160) resolves it."""
    values = [182, 178, 181, 179, 183, 177, 180, 176]
    batches = [bp(v, 90, T0 + n * 5 * MIN) for n, v in enumerate(values)]
    state, changes = feed(PatientState("p1"), batches)
    assert [c for c in changes if c.kind is not ChangeKind.UPDATED] == [changes[0]]
    assert changes[0].kind is ChangeKind.OPENED
    assert state.alerts["bp-urgent"].count == 4
    assert state.alerts["bp-urgent"].worst[Kind.SYSTOLIC] == 183

    state, changes = feed(state, [bp(155, 90, T0 + 2 * DAY)])
    assert kinds_of(changes) == [("resolved", "bp-urgent")]
    assert "bp-urgent" not in state.alerts


def test_noise_never_flaps_property():
    """Seeded: any sequence within +-4 mmHg of 180 opens at most one alert, never resolves."""
    rng = random.Random(13)
    for _ in range(50):
        values = [180 + rng.uniform(-4, 4) for _ in range(12)]
        batches = [bp(v, 90, T0 + n * 5 * MIN) for n, v in enumerate(values)]
        _, changes = feed(PatientState("p1"), batches)
        assert [c.kind for c in changes].count(ChangeKind.OPENED) <= 1
        assert ChangeKind.RESOLVED not in [c.kind for c in changes]


def test_resolves_after_enough_normal_readings_without_recovering_far():
    state, changes = feed(
        PatientState("p1"), [[one(Kind.PULSE, 115, T0)], [one(Kind.PULSE, 116, T0 + MIN)]]
    )
    assert kinds_of(changes) == [("opened", "pulse-high")]
    # 93 is within limits but not past the recovery line (< 90): three of them resolve it.
    state, changes = feed(state, [[one(Kind.PULSE, 93, T0 + n * MIN)] for n in (2, 3)])
    assert changes == []
    state, changes = feed(state, [[one(Kind.PULSE, 93, T0 + 4 * MIN)]])
    assert kinds_of(changes) == [("resolved", "pulse-high")]
    assert changes[0].alert.resolved is not None and changes[0].alert.resolved.by is None


def test_weight_gain_of_2_kg_in_3_days():
    daily = [70.0, 70.4, 71.1, 72.0]  # +2.0 kg over the lowest of the 3 days before
    state, changes = feed(
        PatientState("p1"), [[one(Kind.WEIGHT, w, T0 + n * DAY)] for n, w in enumerate(daily)]
    )
    assert kinds_of(changes) == [("opened", "weight-gain")]
    assert state.alerts["weight-gain"].last == {Kind.WEIGHT: pytest.approx(2.0)}


def test_slow_weight_gain_does_not_alert():
    weights = [70.0 + 0.5 * n for n in range(8)]  # 1.5 kg per 3 days
    _, changes = feed(
        PatientState("p1"), [[one(Kind.WEIGHT, w, T0 + n * DAY)] for n, w in enumerate(weights)]
    )
    assert changes == []


def test_the_same_reading_twice_changes_nothing():
    batch = bp(186, 98, T0, obs="o1")
    state, _ = feed(PatientState("p1"), [batch])
    again = evaluate(state, batch, RULES, T0 + MIN)
    assert again.changes == ()
    assert again.state == state


def test_a_late_reading_older_than_the_newest_does_not_resolve():
    state, _ = feed(PatientState("p1"), [bp(186, 98, T0 + 10 * MIN)])
    # An older normal reading arrives late (a gateway's backlog): the alert stays.
    late = evaluate(state, bp(120, 80, T0), RULES, T0 + 20 * MIN)
    assert late.changes == ()
    assert "bp-urgent" in late.state.alerts


def test_a_late_reading_beyond_the_limit_joins_the_open_alert():
    state, _ = feed(PatientState("p1"), [bp(186, 98, T0 + 10 * MIN)])
    late = evaluate(state, bp(192, 100, T0, obs="late"), RULES, T0 + 20 * MIN)
    assert kinds_of(list(late.changes)) == [("updated", "bp-urgent")]
    alert = late.state.alerts["bp-urgent"]
    assert alert.count == 2 and alert.worst[Kind.SYSTOLIC] == 192
    assert alert.last[Kind.SYSTOLIC] == 186  # still the newest
    assert alert.first_at == T0


def test_the_order_within_a_batch_does_not_matter():
    """Seeded: one batch of readings in any order gives the same state and changes.

    (Readings arriving one by one may open an alert that a late reading would have
    prevented; an alert already sent is not taken back, so that is not tested.)
    """
    rng = random.Random(2026)
    for _ in range(30):
        readings = []
        for n in range(10):
            kind = rng.choice([Kind.PULSE, Kind.SPO2])
            value = (
                rng.choice([45, 70, 115, 135]) if kind is Kind.PULSE else rng.choice([90, 92, 97])
            )
            readings.append(one(kind, value, T0 + n * MIN))
        now = T0 + timedelta(hours=1)
        in_order = evaluate(PatientState("p1"), readings, RULES, now)
        shuffled = evaluate(PatientState("p1"), rng.sample(readings, len(readings)), RULES, now)
        assert shuffled == in_order


def test_readings_too_old_decide_nothing():
    outcome = evaluate(PatientState("p1"), bp(200, 120, T0), RULES, T0 + 9 * DAY)
    assert outcome.changes == ()
    assert outcome.state.points == {}
    assert outcome.state.last_seen[Kind.SYSTOLIC] == T0


def test_a_reading_of_another_patient_is_refused():
    with pytest.raises(ValueError, match="p2"):
        evaluate(PatientState("p1"), bp(120, 80, T0, patient="p2"), RULES, T0)


def test_times_without_a_zone_are_refused():
    with pytest.raises(ValueError, match="zone"):
        one(Kind.PULSE, 70, T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="zone"):
        evaluate(PatientState("p1"), [], RULES, T0.replace(tzinfo=None))


def test_a_retracted_observation_leaves_the_history():
    state, _ = feed(PatientState("p1"), [[one(Kind.SPO2, 88, T0, obs="a")]])
    state = evaluate(state, (), RULES, T0 + MIN, retracted=["a"]).state
    _, changes = feed(state, [[one(Kind.SPO2, 88, T0 + 2 * MIN)]])
    assert changes == []  # the entered-in-error one does not make two in a row


def test_a_corrected_value_under_the_same_id_replaces_the_old_one():
    state, _ = feed(PatientState("p1"), [[one(Kind.SPO2, 97, T0, obs="a")]])
    _, changes = feed(state, [[one(Kind.SPO2, 88, T0, obs="a")], [one(Kind.SPO2, 88, T0 + MIN)]])
    assert kinds_of(changes) == [("opened", "spo2-low")]


def test_after_a_resolution_earlier_readings_cannot_reopen():
    state, _ = feed(
        PatientState("p1"), [[one(Kind.PULSE, 140, T0)], [one(Kind.PULSE, 80, T0 + MIN)]]
    )
    assert "pulse-urgent-high" not in state.alerts
    late = evaluate(state, [one(Kind.PULSE, 150, T0 - MIN)], RULES, T0 + 2 * MIN)
    assert "pulse-urgent-high" not in {c.alert.condition for c in late.changes}
    state, changes = feed(state, [[one(Kind.PULSE, 150, T0 + 5 * MIN)]])
    assert kinds_of(changes) == [("opened", "pulse-urgent-high")]
    assert changes[0].alert.id == "p1/pulse-urgent-high/2"


def test_blood_pressure_and_pulse_of_one_sitting_share_an_occasion():
    """Even when the cuff's two Observations are evaluated one after the other."""
    _, changes = feed(PatientState("p1"), [bp(190, 100, T0), [one(Kind.PULSE, 140, T0 + MIN)]])
    assert {c.alert.condition for c in changes} == {"bp-urgent", "pulse-urgent-high"}
    assert len({c.occasion for c in changes}) == 1


def test_a_custom_rule_in_the_rules():
    rule = Rule(
        "temperature-watch",
        (Kind.TEMPERATURE,),
        RULES.thresholds[0].direction,
        {Kind.TEMPERATURE: 37.5},
        {Kind.TEMPERATURE: 0.3},
        sampling=Sampling.READING,
    )
    rules = replace(RULES, thresholds=(rule,))
    _, changes = feed(PatientState("p1"), [[one(Kind.TEMPERATURE, 37.6, T0)]], rules=rules)
    assert kinds_of(changes) == [("opened", "temperature-watch")]


def test_state_round_trips_through_json():
    batches = [bp(186, 98, T0), [one(Kind.SPO2, 92, T0)], [one(Kind.WEIGHT, 70.2, T0)]]
    state, _ = feed(PatientState("p1"), batches)
    text = json.dumps(state_to_json(state))
    assert state_from_json(json.loads(text)) == state

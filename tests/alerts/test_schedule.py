"""The time-based rules: no reading, gateway offline, escalation, closing sittings (pure)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

from fhir_api.alerts import (
    ChangeKind,
    GatewayState,
    Kind,
    PatientState,
    acknowledge,
    next_due,
    resolve,
    scan,
)

from .factories import RULES, T0, bp, feed, kinds_of, one, one_sitting_rules

DAY = timedelta(days=1)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def _sitting(systolic: float, diastolic: float, at, **kw):
    """Two readings a minute apart: a complete JSH sitting (nothing waits for a second)."""
    return [*bp(systolic, diastolic, at - MIN, **kw), *bp(systolic, diastolic, at, **kw)]


def _measured(patient: str = "p1", gateway: str = "Device/gw1") -> PatientState:
    state, _ = feed(
        PatientState(patient), [_sitting(120, 80, T0, patient=patient, gateway=gateway)]
    )
    assert state.pending is None
    return state


def test_no_blood_pressure_for_three_days_opens_a_no_reading_alert():
    state = _measured()
    assert next_due(state, RULES) == T0 + 3 * DAY

    early = scan([state], {"Device/gw1": T0 + 3 * DAY}, RULES, T0 + 3 * DAY - MIN)
    assert early.changes == ()

    due = scan([state], {"Device/gw1": T0 + 3 * DAY}, RULES, T0 + 3 * DAY)
    assert kinds_of(list(due.changes)) == [("opened", "no-reading-systolic")]
    alert = due.states["p1"].alerts["no-reading-systolic"]
    assert alert.last_at == T0  # the last reading, for the message

    again = scan(due.states.values(), {"Device/gw1": T0 + 4 * DAY}, RULES, T0 + 4 * DAY)
    assert again.changes == ()  # one open alert per condition
    assert next_due(due.states["p1"], RULES) is None


def test_a_reading_resolves_the_no_reading_alert():
    state = scan([_measured()], {}, RULES, T0 + 3 * DAY).states["p1"]
    state, changes = feed(state, [_sitting(122, 78, T0 + 3 * DAY + HOUR)])
    assert kinds_of(changes) == [("resolved", "no-reading-systolic")]
    assert next_due(state, RULES) == T0 + 6 * DAY + HOUR


def test_a_gateway_offline_suppresses_its_patients_no_reading_alerts():
    quiet = _measured("p1", "Device/gw1")
    other = _measured("p2", "Device/gw2")
    heartbeats = {"Device/gw1": T0, "Device/gw2": T0 + 3 * DAY}

    out = scan([quiet, other], heartbeats, RULES, T0 + 3 * DAY)

    assert sorted(kinds_of(list(out.changes))) == [
        ("opened", "gateway-offline"),
        ("opened", "no-reading-systolic"),
    ]
    assert out.gateways.alerts["Device/gw1"].gateway == "Device/gw1"
    assert "p1" not in out.states  # nothing opened for the gateway's patient
    assert "no-reading-systolic" in out.states["p2"].alerts


def test_a_gateway_back_online_resolves_and_its_patients_get_a_grace_period():
    heartbeats = {"Device/gw1": T0}
    down = scan([_measured()], heartbeats, RULES, T0 + 3 * DAY)
    back_at = T0 + 4 * DAY
    up = scan([_measured()], {"Device/gw1": back_at}, RULES, back_at + MIN, down.gateways)
    assert kinds_of(list(up.changes)) == [("resolved", "gateway-offline")]
    assert up.gateways.recovered_at == {"Device/gw1": back_at}

    within = scan([_measured()], {"Device/gw1": back_at}, RULES, back_at + HOUR, up.gateways)
    assert within.changes == ()  # it is uploading what it held
    after = scan([_measured()], {"Device/gw1": back_at}, RULES, back_at + 2 * HOUR, up.gateways)
    assert kinds_of(list(after.changes)) == [("opened", "no-reading-systolic")]


def test_a_gateway_offline_again_opens_a_new_alert():
    first = scan([], {"gw": T0}, RULES, T0 + DAY)
    back = scan([], {"gw": T0 + 2 * DAY}, RULES, T0 + 2 * DAY, first.gateways)
    again = scan([], {"gw": T0 + 2 * DAY}, RULES, T0 + 3 * DAY, back.gateways)
    assert [c.alert.id for c in again.changes] == ["gateway/gw/2"]


def test_a_gateway_alert_resolved_by_hand_stays_quiet_until_it_reports():
    down = scan([], {"gw": T0}, RULES, T0 + DAY)
    alert_id = down.gateways.alerts["gw"].id
    quiet = resolve(down.gateways, alert_id, by="nurse-1", note="router replaced", now=T0 + DAY)
    assert scan([], {"gw": T0}, RULES, T0 + 2 * DAY, quiet.state).changes == ()
    seen = scan([], {"gw": T0 + 2 * DAY}, RULES, T0 + 2 * DAY, quiet.state)
    assert kinds_of(
        list(scan([], {"gw": T0 + 2 * DAY}, RULES, T0 + 3 * DAY, seen.gateways).changes)
    ) == [("opened", "gateway-offline")]


def test_a_gateway_never_heard_from_is_not_offline():
    assert scan([], {"Device/new": None}, RULES, T0).changes == ()


def test_an_unacknowledged_urgent_alert_escalates_every_15_minutes_up_the_chain():
    state, _ = feed(PatientState("p1"), [_sitting(190, 100, T0)], now_after=timedelta(0))
    assert next_due(state, RULES) == T0 + 15 * MIN

    levels = []
    for minutes in (14, 15, 29, 30, 44, 45, 60):
        out = scan([state], {}, replace(RULES, no_reading={}), T0 + minutes * MIN)
        state = out.states.get("p1", state)
        levels.append((minutes, [c.kind.value for c in out.changes]))
    assert levels == [
        (14, []),
        (15, ["escalated"]),
        (29, []),
        (30, ["escalated"]),
        (44, []),
        (45, []),  # care manager -> nurse -> doctor: no one after the doctor
        (60, []),
    ]
    assert state.alerts["bp-urgent"].escalation == 2


def test_an_acknowledged_alert_does_not_escalate():
    state, _ = feed(PatientState("p1"), [_sitting(190, 100, T0)], now_after=timedelta(0))
    alert_id = state.alerts["bp-urgent"].id
    state = acknowledge(state, alert_id, by="cm-1", note="calling", now=T0 + 5 * MIN).state
    out = scan([state], {}, RULES, T0 + 20 * MIN)
    assert out.changes == ()
    assert next_due(state, RULES) == T0 + 3 * DAY


def test_a_no_reading_alert_resolved_by_hand_stays_quiet_until_the_next_reading():
    state = scan([_measured()], {}, RULES, T0 + 3 * DAY).states["p1"]
    alert_id = state.alerts["no-reading-systolic"].id
    state = resolve(state, alert_id, by="nurse-1", note="in hospital", now=T0 + 3 * DAY).state
    assert scan([state], {}, RULES, T0 + 5 * DAY).changes == ()
    assert next_due(state, RULES) is None
    state, _ = feed(state, [_sitting(120, 80, T0 + 6 * DAY)])
    later = scan([state], {}, RULES, T0 + 9 * DAY)
    assert kinds_of(list(later.changes)) == [("opened", "no-reading-systolic")]


def test_a_sitting_with_one_reading_is_judged_when_it_is_over():
    rules = one_sitting_rules()
    state, changes = feed(PatientState("p1"), [bp(150, 95, T0)], rules=rules)
    assert changes == []
    assert next_due(state, rules) == T0 + rules.occasion_window

    out = scan([state], {}, rules, T0 + rules.occasion_window)
    assert kinds_of(list(out.changes)) == [("opened", "bp-high")]
    assert out.states["p1"].pending is None


def test_scanning_10000_patients_takes_well_under_a_second():
    """Issue 13's target for the whole no-reading scan is < 1 s (bench/alerts.py prints it)."""
    states = [
        PatientState(
            f"p{n}",
            last_seen={Kind.SYSTOLIC: T0 - (n % 5) * DAY, Kind.PULSE: T0},
            gateway=f"Device/gw{n % 500}",
        )
        for n in range(10_000)
    ]
    # gw3, gw53, ...: offline; their patients are among the 3 days silent.
    heartbeats = {f"Device/gw{n}": T0 - (DAY if n % 50 == 3 else HOUR) for n in range(500)}
    started = time.perf_counter()
    out = scan(states, heartbeats, RULES, T0, GatewayState())
    elapsed = time.perf_counter() - started
    opened = [c for c in out.changes if c.kind is ChangeKind.OPENED]
    assert len([c for c in opened if c.alert.condition == "gateway-offline"]) == 10
    # Patients 3 and 4 days silent, minus the 200 behind the 10 offline gateways.
    assert len(opened) - 10 == 4000 - 200
    assert elapsed < 1.0, elapsed


def test_a_late_spo2_after_an_escalation_keeps_the_level():
    state, _ = feed(PatientState("p1"), [[one(Kind.SPO2, 85, T0)]], now_after=timedelta(0))
    state = scan([state], {}, RULES, T0 + 15 * MIN).states["p1"]
    state, changes = feed(state, [[one(Kind.SPO2, 84, T0 + 16 * MIN)]])
    assert state.alerts["spo2-urgent"].escalation == 1
    assert ("updated", "spo2-urgent") in kinds_of(changes)

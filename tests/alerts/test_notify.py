"""Who hears about which change, when: routing, quiet hours, digest, silences (pure)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from fhir_api.alerts import (
    Change,
    ChangeKind,
    Content,
    Delivery,
    Kind,
    PatientState,
    Recipient,
    Severity,
    Silence,
    acknowledge,
    change_from_json,
    change_to_json,
    notification_from_json,
    notification_to_json,
    notifications,
    resolve,
    scan,
)

from .factories import RULES, T0, TOKYO, bp, feed, one

MIN = timedelta(minutes=1)
UTC = ZoneInfo("UTC")
CARE_MANAGER = Recipient(
    "cm-1", "line-cm", "Asia/Tokyo", (time(22), time(7)), content=Content.MINIMAL
)
NURSE = Recipient("nurse-1", "clinic-mail", "Asia/Tokyo")
DOCTOR = Recipient("dr-1", "clinic-mail", "Asia/Tokyo", non_urgent=Delivery.DIGEST)
CHAIN = (CARE_MANAGER, NURSE, DOCTOR)


def _chain(_alert):
    return CHAIN


def _changes(batches, **kw) -> list[Change]:
    return feed(PatientState("p1"), batches, **kw)[1]


def _at(hour: int, minute: int = 0, day: int = 30) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TOKYO)


def test_an_urgent_alert_goes_to_the_first_in_the_chain_at_once_even_at_night():
    night = _at(23, 30)
    changes = _changes([bp(190, 100, night)], now_after=timedelta(0))
    [message] = notifications(changes, _chain, night)
    assert (message.recipient, message.send_at, message.severity) == (
        "cm-1",
        night,
        Severity.URGENT,
    )
    assert message.channel == "line-cm" and message.content is Content.MINIMAL
    [item] = message.items
    assert item.link == "/patients/p1" and item.patient == "p1"
    assert item.last == {Kind.SYSTOLIC: 190, Kind.DIASTOLIC: 100}


def test_readings_of_one_sitting_make_one_message_per_recipient():
    changes = _changes([bp(190, 100, T0), [one(Kind.PULSE, 140, T0 + MIN)]])
    assert len(changes) == 2
    [message] = notifications(changes, _chain, T0 + MIN)
    assert [i.condition for i in message.items] == ["bp-urgent", "pulse-urgent-high"]


def test_escalations_go_up_the_chain_and_stop_at_its_end():
    state, _ = feed(PatientState("p1"), [bp(190, 100, T0)], now_after=timedelta(0))
    sent = []
    for minutes in (15, 30):
        out = scan([state], {}, RULES, T0 + minutes * MIN)
        state = out.states["p1"]
        sent += notifications(out.changes, _chain, T0 + minutes * MIN)
    assert [(n.recipient, n.send_at) for n in sent] == [
        ("nurse-1", T0 + 15 * MIN),
        ("dr-1", T0 + 30 * MIN),  # urgent: the doctor's digest preference does not apply
    ]
    short = notifications(out.changes, lambda _a: (CARE_MANAGER,), T0 + 30 * MIN)
    assert [n.recipient for n in short] == ["cm-1"]  # past the end: the last again


def test_a_warning_at_night_waits_for_the_end_of_quiet_hours_in_the_recipients_zone():
    night = _at(23, 30)  # 23:30 in Tokyo; quiet from 22:00 to 07:00
    changes = _changes([[one(Kind.PULSE, 115, night - MIN)], [one(Kind.PULSE, 118, night)]])
    by_recipient = {n.recipient: n for n in notifications(changes, _chain, night)}
    assert by_recipient["cm-1"].send_at == _at(7, 0, day=30) + timedelta(days=1)
    assert by_recipient["nurse-1"].send_at == night  # no quiet hours
    assert by_recipient["dr-1"].send_at == _at(8, 0, day=30) + timedelta(days=1)
    assert by_recipient["dr-1"].digest


def test_quiet_hours_after_midnight_and_in_another_zone():
    new_york = Recipient("nurse-ny", "mail", "America/New_York", (time(21), time(6, 30)))
    changes = _changes([[one(Kind.PULSE, 115, T0)], [one(Kind.PULSE, 118, T0 + MIN)]])
    now = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 02:00 in New York: inside, after midnight
    [message] = notifications(changes, lambda _a: (new_york,), now)
    assert message.send_at == datetime(2026, 11, 30, 6, 30, tzinfo=ZoneInfo("America/New_York"))
    noon = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 12:00 in New York: outside
    assert notifications(changes, lambda _a: (new_york,), noon)[0].send_at == noon


def test_the_daily_digest_gathers_warnings_of_several_patients():
    doctor_only = lambda _a: (DOCTOR,)  # noqa: E731
    morning = _at(9, 0)
    first = feed(
        PatientState("p1"), [[one(Kind.PULSE, 115, morning)], [one(Kind.PULSE, 116, morning)]]
    )[1]
    second = feed(
        PatientState("p2"),
        [
            [one(Kind.SPO2, 88, morning, patient="p2")],
            [one(Kind.SPO2, 88, morning + MIN, patient="p2")],
        ],
    )[1]
    [digest] = notifications(first + second, doctor_only, morning + MIN)
    assert digest.digest and digest.send_at == _at(8, 0, day=30) + timedelta(days=1)
    assert {i.patient for i in digest.items} == {"p1", "p2"}
    assert digest.group == f"dr-1|digest|{digest.send_at.isoformat()}"


def test_updates_and_acknowledgements_are_not_sent_resolutions_are():
    state, _ = feed(PatientState("p1"), [bp(190, 100, T0)])
    state, updated = feed(state, [bp(192, 100, T0 + MIN)])
    assert [c.kind for c in updated] == [ChangeKind.UPDATED]
    assert notifications(updated, _chain, T0 + MIN) == []
    alert_id = state.alerts["bp-urgent"].id
    acked = acknowledge(state, alert_id, by="cm-1", note="", now=T0 + MIN)
    assert notifications(acked.changes, _chain, T0 + MIN) == []
    done = resolve(acked.state, alert_id, by="dr-1", note="treated", now=T0 + 2 * MIN)
    [message] = notifications(done.changes, _chain, T0 + 2 * MIN)
    assert message.recipient == "cm-1"  # the one told at opening (no escalation yet)
    assert message.severity is Severity.INFO
    assert message.items[0].change is ChangeKind.RESOLVED


def test_a_recipient_who_wants_no_warnings_gets_only_urgent_ones():
    off = Recipient("cm-2", non_urgent=Delivery.OFF)
    warning = _changes([[one(Kind.PULSE, 115, T0)], [one(Kind.PULSE, 116, T0 + MIN)]])
    urgent = _changes([bp(190, 100, T0)])
    assert notifications(warning, lambda _a: (off,), T0) == []
    assert [n.recipient for n in notifications(urgent, lambda _a: (off,), T0)] == ["cm-2"]


def test_a_silenced_patient_is_recorded_but_nobody_is_told():
    hospital = Silence(
        "s1", T0 - MIN, T0 + timedelta(days=7), "in hospital", "nurse-1", patient="p1"
    )
    changes = _changes([bp(190, 100, T0)])
    assert [c.kind for c in changes] == [ChangeKind.OPENED]  # the alert still opens
    assert notifications(changes, _chain, T0, silences=[hospital]) == []
    later = _changes([bp(190, 100, T0 + timedelta(days=8))])
    assert notifications(later, _chain, T0 + timedelta(days=8), silences=[hospital]) != []


def test_a_silenced_rule_leaves_the_others():
    broken_cuff = Silence(
        "s2", T0 - MIN, T0 + timedelta(days=2), "cuff broken", "cm-1", condition="bp-urgent"
    )
    changes = _changes([bp(190, 100, T0), [one(Kind.PULSE, 140, T0 + MIN)]])
    [message] = notifications(changes, _chain, T0 + MIN, silences=[broken_cuff])
    assert [i.condition for i in message.items] == ["pulse-urgent-high"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reason": "travel", "author": "cm-1"}, "names"),
        ({"reason": " ", "author": "cm-1", "patient": "p1"}, "reason"),
    ],
)
def test_a_silence_must_name_what_it_silences_and_why(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Silence("s", T0, T0 + MIN, **kwargs)
    with pytest.raises(ValueError, match="end"):
        Silence("s", T0, T0, "travel", "cm-1", patient="p1")


def test_a_gateway_alert_links_to_the_gateways_page():
    out = scan([], {"Device/gw1": T0}, RULES, T0 + timedelta(days=1))
    [message] = notifications(out.changes, lambda _a: (NURSE,), T0 + timedelta(days=1))
    assert message.items[0].link == "/gateways" and message.items[0].gateway == "Device/gw1"


def test_a_warning_on_values_an_urgent_alert_covers_is_recorded_not_sent():
    """SpO2 84 % twice: spo2-urgent is sent; spo2-low opens but says nothing new."""
    state, first = feed(PatientState("p1"), [[one(Kind.SPO2, 84, T0)]])
    state, second = feed(state, [[one(Kind.SPO2, 84, T0 + MIN)]])
    assert [n.items[0].condition for n in notifications(first, _chain, T0)] == ["spo2-urgent"]
    [low] = [c for c in second if c.alert.condition == "spo2-low"]
    assert low.kind is ChangeKind.OPENED
    assert low.inhibited_by == state.alerts["spo2-urgent"].id
    assert notifications(second, _chain, T0 + MIN) == []


def test_an_urgent_high_does_not_inhibit_a_low_warning():
    """Even while the urgent high is still open (here: a rule that never recovers)."""
    sticky = replace(RULES.rule("pulse-urgent-high"), margins={Kind.PULSE: 200.0})
    rules = replace(RULES, thresholds=(sticky, RULES.rule("pulse-low")))
    state, _ = feed(PatientState("p1"), [[one(Kind.PULSE, 140, T0)]], rules=rules)
    _, changes = feed(
        state,
        [[one(Kind.PULSE, 45, T0 + MIN)], [one(Kind.PULSE, 44, T0 + 2 * MIN)]],
        rules=rules,
    )
    assert "pulse-urgent-high" in state.alerts
    [low] = [c for c in changes if c.alert.condition == "pulse-low"]
    assert low.inhibited_by is None
    assert len(notifications([low], _chain, T0)) == len(CHAIN)  # a warning: everyone


def test_notifications_and_changes_round_trip_through_json():
    changes = _changes([bp(190, 100, T0), [one(Kind.PULSE, 140, T0 + MIN)]])
    for change in changes:
        assert change_from_json(json.loads(json.dumps(change_to_json(change)))) == change
    for message in notifications(changes, _chain, T0 + MIN):
        text = json.dumps(notification_to_json(message))
        assert notification_from_json(json.loads(text)) == message

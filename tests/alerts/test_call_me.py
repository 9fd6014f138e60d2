"""A patient's "please call me" as an alert (issue 14): one urgent alert per patient that
each further press updates, escalated by the schedule, resolved only by hand; its
message in Japanese and English."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fhir_api.alerts.call_me import CALL_ME_CONDITION, Press, pressed
from fhir_api.alerts.evaluator import press_of
from fhir_api.alerts.lifecycle import resolve
from fhir_api.alerts.messages import item_payload
from fhir_api.alerts.model import ChangeKind, GatewayState, PatientState, Severity, Status
from fhir_api.alerts.notify import Recipient, notifications
from fhir_api.alerts.resources import detected_issue
from fhir_api.alerts.schedule import next_due, scan_patient
from fhir_api.codes import CALL_ME, FINE_TODAY, PATIENT_REQUEST

from .factories import RULES, T0, TOKYO


def communication(request: str = CALL_ME, *, ident: str = "c1", status: str = "completed") -> dict:
    return {
        "resourceType": "Communication",
        "id": ident,
        "status": status,
        "category": [{"coding": [{"system": PATIENT_REQUEST, "code": request}]}],
        "subject": {"reference": "Patient/p1"},
        "sender": {"reference": "Patient/p1"},
        "sent": "2026-11-29T22:00:00Z",
    }


def test_a_press_opens_one_urgent_alert_and_a_second_press_updates_it() -> None:
    first = pressed(PatientState("p1"), [Press("c1", T0)], T0)
    [opened] = first.changes
    assert opened.kind is ChangeKind.OPENED
    alert = first.state.alerts[CALL_ME_CONDITION]
    assert (alert.severity, alert.status, alert.count) == (Severity.URGENT, Status.OPEN, 1)
    assert alert.observations == ("c1",) and alert.patient == "p1"

    later = T0 + timedelta(minutes=3)
    second = pressed(first.state, [Press("c2", later)], later)
    assert [c.kind for c in second.changes] == [ChangeKind.UPDATED]
    again = second.state.alerts[CALL_ME_CONDITION]
    assert (again.id, again.count, again.last_at) == (alert.id, 2, later)
    # The same press evaluated again (a repeated upload) counts once.
    assert pressed(second.state, [Press("c2", later)], later).changes == ()


def test_the_first_in_the_chain_is_told_at_once_and_updates_tell_no_one() -> None:
    chain = [Recipient("Practitioner/cm"), Recipient("Practitioner/nurse")]
    first = pressed(PatientState("p1"), [Press("c1", T0)], T0)
    [message] = notifications(first.changes, lambda _: chain, T0)
    assert message.recipient == "Practitioner/cm" and message.send_at == T0
    second = pressed(first.state, [Press("c2", T0)], T0)
    assert notifications(second.changes, lambda _: chain, T0) == []


def test_an_unacknowledged_call_escalates_and_no_rule_resolves_it() -> None:
    state = pressed(PatientState("p1"), [Press("c1", T0)], T0).state
    due = next_due(state, RULES)
    assert due == T0 + RULES.escalate_after
    state, changes = scan_patient(state, RULES, due, GatewayState())
    assert [c.kind for c in changes] == [ChangeKind.ESCALATED]
    # Much later, nothing resolves it but a person.
    state, changes = scan_patient(state, RULES, T0 + timedelta(days=5), GatewayState())
    assert CALL_ME_CONDITION in state.alerts
    alert_id = state.alerts[CALL_ME_CONDITION].id
    done = resolve(state, alert_id, by="Practitioner/cm", note="called back", now=T0)
    assert CALL_ME_CONDITION not in done.state.alerts
    # The next press after that opens a new alert.
    reopened = pressed(done.state, [Press("c3", T0 + timedelta(hours=1))], T0)
    assert [c.kind for c in reopened.changes] == [ChangeKind.OPENED]
    assert reopened.state.alerts[CALL_ME_CONDITION].id != alert_id


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (communication(), Press("c1", T0)),  # sent 22:00 UTC: 07:00 in Tokyo
        (communication(FINE_TODAY), None),  # "fine today" raises nothing
        (communication(status="entered-in-error"), None),
        ({**communication(), "subject": {"reference": "Patient/p2"}}, None),
    ],
)
def test_press_of_reads_only_this_patients_call_me(resource: dict, expected: Press | None) -> None:
    assert press_of(resource, "p1") == expected


def test_the_message_says_the_patient_asked_to_be_called_in_both_languages() -> None:
    chain = [Recipient("Practitioner/cm")]
    state = pressed(PatientState("p1"), [Press("c1", T0)], T0).state
    state = pressed(state, [Press("c2", T0 + timedelta(minutes=2))], T0).state
    alert = state.alerts[CALL_ME_CONDITION]
    first = pressed(PatientState("p1"), [Press("c1", T0)], T0)
    [message] = notifications(first.changes, lambda _: chain, T0)
    [item] = message.items
    ja = item_payload(item, language="ja", zone=TOKYO, patient_name="田中 花子")
    en = item_payload(item, language="en", zone=TOKYO, patient_name="Hanako Tanaka")
    assert ja["title"] == "【緊急】電話の依頼 — 田中 花子"
    assert ja["body"] == "呼び出しボタン: 2026年11月30日(月) 07:00"
    assert en["title"] == "[Urgent] Asked to be called — Hanako Tanaka"
    assert en["body"] == "Call button pressed: Mon 30 Nov 2026 07:00"
    issue = detected_issue(alert)
    assert issue["implicated"] == [
        {"reference": "Communication/c1"},
        {"reference": "Communication/c2"},
    ]
    assert issue["detail"] == "call-me: pressed at 2026-11-30T07:02+0900; 2 press(es)"

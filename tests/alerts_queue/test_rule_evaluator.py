"""The real rules in the queue: the patient's limits, zone and care team read in the
worker's transaction; alerts stored as the core's record; messages to the chain."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from fhir_api.access.policy import scopes_for_roles
from fhir_api.access.principal import Access, Principal, system_access
from fhir_api.alerts import AlertNotFound, TransitionError, alert_from_json, inbox
from fhir_api.alerts.evaluator import RuleEvaluator, alert_row_id
from fhir_api.alerts.people import chain_order
from fhir_api.alerts.preferences import PreferenceRefused, Preferences, set_preferences
from fhir_api.alerts.silence_store import SilenceRefused, add_silence, end_silence, list_silences
from fhir_api.alerts.worker import evaluate_next, scan_due
from fhir_api.roles import StaffRole, TokenKind
from fhir_api.service import FhirService
from fhir_api.storage.schema import (
    alert_notifications,
    alert_state,
    alerts,
    audit_events,
    staff_accounts,
)
from fhir_api.vital_limits import Spo2Scale, with_limits

from ..fhir_api.helpers import blood_pressure, patient
from .conftest import Clock, alerting_service, rows, with_clock

WHEN = "2026-11-30T08:00:00+09:00"
NOW = datetime(2026, 11, 30, 0, 0, 30, tzinfo=UTC)
RULES = RuleEvaluator(server_zone="Asia/Tokyo", base_url="https://clinic.example", language="ja")


def _practitioner(service: FhirService, family: str) -> str:
    body = {
        "resourceType": "Practitioner",
        "identifier": [{"system": "urn:homevitals:staff", "value": uuid.uuid4().hex}],
        "name": [{"family": family, "given": ["一郎"]}],
    }
    return service.create("Practitioner", body).stored.id


def _team(service: FhirService, patient_id: str, *members: str, status: str = "active") -> None:
    body = {
        "resourceType": "CareTeam",
        "status": status,
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": [{"member": {"reference": f"Practitioner/{m}"}} for m in members],
    }
    service.create("CareTeam", body)


def _account(store, practitioner: str, *roles: StaffRole) -> None:
    """A staff account row (no password: hashing one costs a second per test)."""
    with store.transaction() as tx:
        tx.connection.execute(
            sa.insert(staff_accounts).values(
                username=f"u{uuid.uuid4().hex[:10]}",
                roles=",".join(r.value for r in roles),
                practitioner_id=practitioner,
                created_ms=0,
            )
        )


def _setup(store, patient_body=None):
    """A patient with a care team: doctor, nurse and care manager, listed in that order."""
    service = alerting_service(store)
    body = patient_body or patient(identifier=f"P-{uuid.uuid4().hex[:10]}")
    patient_id = service.create("Patient", body).stored.id
    doctor, nurse, manager = (_practitioner(service, n) for n in ("医師", "看護", "ケア"))
    _account(store, doctor, StaffRole.DOCTOR)
    _account(store, nurse, StaffRole.NURSE)
    _account(store, manager, StaffRole.CARE_MANAGER)
    _team(service, patient_id, doctor, nurse, manager)
    with store.transaction() as tx:
        for who in (doctor, nurse, manager):
            tx.connection.execute(
                sa.text("INSERT INTO alert_recipients VALUES (:r, 'ops-hook', NULL)"),
                {"r": f"Practitioner/{who}"},
            )
    return service, patient_id, {"doctor": doctor, "nurse": nurse, "manager": manager}


def _bp(service, patient_id, systolic, diastolic=80, when=WHEN) -> str:
    body = blood_pressure(f"Patient/{patient_id}", when, systolic, diastolic)
    return service.create("Observation", body).stored.id


def _alerts(store):
    return {r.rule: r for r in rows(store, alerts)}


def _messages(store):
    return [(r.recipient, json.loads(r.payload)) for r in rows(store, alert_notifications)]


def test_an_urgent_reading_opens_an_alert_and_tells_the_care_manager_first(store):
    service, patient_id, staff = _setup(store)
    observation = _bp(service, patient_id, 186, 98)
    assert evaluate_next(store, RULES, lambda: NOW) == (patient_id, 1)

    row = _alerts(store)["bp-urgent"]
    alert = alert_from_json(json.loads(row.content))
    assert (row.patient_id, row.status, row.severity) == (patient_id, "open", "urgent")
    assert row.id == alert_row_id(alert.id) and alert.observations == (observation,)
    [(recipient, payload)] = _messages(store)
    assert recipient == f"Practitioner/{staff['manager']}"
    [item] = payload["items"]
    assert item["title"] == "【緊急】血圧が著しく高値 — 田中 花子"
    assert item["body"] == "最新: 血圧 186/98 mmHg\n2026年11月30日(月) 08:00"
    assert item["link"] == f"https://clinic.example/patients/{patient_id}"
    [event] = [e for e in rows(store, audit_events) if f"DetectedIssue/{row.id}" in e.content]
    assert (event.agent, event.action, event.subtype) == ("system:alert-rules", "C", "alert-opened")
    assert patient_id in event.content  # written with the alert, in its transaction
    state = rows(store, alert_state)[0]
    assert json.loads(state.state)["patient"] == patient_id
    assert state.due_ms is not None  # no blood pressure for 3 days: looked at again then


def test_the_patients_own_urgent_limit_is_the_alerts(store):
    body = with_limits(
        patient(identifier=f"P-{uuid.uuid4().hex[:10]}"),
        {"systolic_urgent": 170},
        Spo2Scale.STANDARD,
    )
    service, patient_id, _ = _setup(store, body)
    _bp(service, patient_id, 172)
    evaluate_next(store, RULES, lambda: NOW)
    assert set(_alerts(store)) == {"bp-urgent"}


def test_an_entered_in_error_reading_is_retracted_and_cannot_confirm(store):
    """SpO2 below 90 twice in a row opens spo2-low; not when the first was withdrawn."""
    service, patient_id, _ = _setup(store)

    def spo2(value: float, minute: int) -> dict:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "59408-5"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": f"2026-11-30T08:0{minute}:00+09:00",
            "valueQuantity": {
                "value": value,
                "unit": "%",
                "system": "http://unitsofmeasure.org",
                "code": "%",
            },
        }

    first = service.create("Observation", spo2(88, 0)).stored
    evaluate_next(store, RULES, lambda: NOW)
    withdrawn = {**first.content, "status": "entered-in-error"}
    service.update("Observation", first.id, withdrawn)
    evaluate_next(store, RULES, lambda: NOW)
    service.create("Observation", spo2(88, 5))
    evaluate_next(store, RULES, lambda: NOW)
    assert _alerts(store) == {}
    service.create("Observation", spo2(87, 6))
    evaluate_next(store, RULES, lambda: NOW)
    assert set(_alerts(store)) == {"spo2-low"}


def test_no_blood_pressure_for_three_days_opens_a_no_reading_alert_on_the_scan(store):
    service, patient_id, staff = _setup(store)
    _bp(service, patient_id, 120)
    evaluate_next(store, RULES, lambda: NOW)
    assert scan_due(store, RULES, lambda: NOW + timedelta(days=2)) == 0
    assert scan_due(store, RULES, lambda: NOW + timedelta(days=3, minutes=1)) == 1
    row = _alerts(store)["no-reading-systolic"]
    assert (row.status, row.severity) == ("open", "warning")
    recipients = {r for r, _ in _messages(store)}
    assert recipients == {f"Practitioner/{p}" for p in staff.values()}  # a warning: everyone
    titles = {p["items"][0]["title"] for _, p in _messages(store)}
    assert titles == {"【注意】血圧の測定がありません — 田中 花子"}


def test_an_unacknowledged_urgent_alert_escalates_to_the_nurse(store):
    service, patient_id, staff = _setup(store)
    _bp(service, patient_id, 190)
    evaluate_next(store, RULES, lambda: NOW)
    scan_due(store, RULES, lambda: NOW + timedelta(minutes=16))
    recipients = [r for r, _ in _messages(store)]
    assert recipients == [f"Practitioner/{staff['manager']}", f"Practitioner/{staff['nurse']}"]


def test_the_chain_orders_by_role_and_leaves_out_non_clinical_accounts():
    roles = {
        "Practitioner/d": [StaffRole.DOCTOR],
        "Practitioner/a": [],  # an admin only, or a disabled account
        "Practitioner/n": [StaffRole.NURSE, StaffRole.DOCTOR],
        "Practitioner/c": [StaffRole.CARE_MANAGER],
    }
    members = ["Practitioner/x", "Practitioner/d", "Practitioner/a", "Practitioner/n"]
    assert chain_order([*members, "Practitioner/c"], roles) == [
        "Practitioner/c",
        "Practitioner/n",
        "Practitioner/d",
        "Practitioner/x",  # no account: reachable by a channel, last
    ]


def test_an_inactive_care_team_is_not_told(store):
    service, patient_id, _ = _setup(store)
    other = _practitioner(service, "別")
    _account(store, other, StaffRole.CARE_MANAGER)
    _team(service, patient_id, other, status="inactive")
    _bp(service, patient_id, 190)
    evaluate_next(store, RULES, lambda: NOW)
    assert f"Practitioner/{other}" not in {r for r, _ in _messages(store)}


def test_a_silent_gateway_raises_its_own_alert_and_suppresses_its_patients(store):
    """Heartbeat 7 h old: gateway-offline opens (to the patients' chains) and the patient's
    no-reading alert waits; the gateway back: resolved, and 2 h later no-reading opens."""
    clock = Clock((NOW - timedelta(hours=7)).timestamp())
    timed = with_clock(store, clock)
    service, patient_id, staff = _setup(timed)
    gateway = service.create("Device", {"resourceType": "Device", "status": "active"}).stored.id
    body = blood_pressure(f"Patient/{patient_id}", "2026-11-26T08:00:00+09:00", 120, 80)
    body["extension"] = [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice",
            "valueReference": {"reference": f"Device/{gateway}"},
        }
    ]
    service.create("Observation", body)
    evaluate_next(timed, RULES, lambda: NOW - timedelta(hours=7))

    scan_due(timed, RULES, lambda: NOW)
    [row] = rows(store, alerts)
    assert (row.rule, row.patient_id, row.status) == ("gateway-offline", "", "open")
    assert {r for r, _ in _messages(store)} == {f"Practitioner/{p}" for p in staff.values()}

    clock.now = (NOW + timedelta(hours=1)).timestamp()  # the heartbeat replaces its Device
    service.update("Device", gateway, {"resourceType": "Device", "id": gateway, "status": "active"})
    scan_due(timed, RULES, lambda: NOW + timedelta(hours=1))
    assert _alerts(store)["gateway-offline"].status == "resolved"
    assert "no-reading-systolic" not in _alerts(store)  # its grace: uploading what it held
    scan_due(timed, RULES, lambda: NOW + timedelta(hours=3, minutes=1))
    assert _alerts(store)["no-reading-systolic"].status == "open"


def _staff_access(practitioner: str, patients: set[str]) -> Access:
    principal = Principal(
        TokenKind.STAFF,
        "nurse",
        scopes_for_roles([StaffRole.NURSE]),
        roles=frozenset({StaffRole.NURSE}),
        practitioner_id=practitioner,
    )
    return Access(principal, frozenset(patients), frozenset())


def test_a_silenced_patients_alert_opens_but_tells_no_one_until_the_silence_ends(store):
    service, patient_id, staff = _setup(store)
    nurse = _staff_access(staff["nurse"], {patient_id})
    silence = add_silence(
        store,
        nurse,
        patient=patient_id,
        reason="入院中",
        starts=NOW - timedelta(hours=1),
        ends=NOW + timedelta(days=7),
    )
    assert silence.author == f"Practitioner/{staff['nurse']}"
    assert [s.id for s in list_silences(store.engine, nurse, [patient_id])] == [silence.id]
    _bp(service, patient_id, 190)
    evaluate_next(store, RULES, lambda: NOW)
    assert _alerts(store)["bp-urgent"].status == "open"  # recorded and shown
    assert _messages(store) == []  # but sent to no one

    an_hour_later = with_clock(store, Clock((NOW + timedelta(hours=1)).timestamp()))
    end_silence(an_hour_later, nurse, silence.id)
    scan_due(an_hour_later, RULES, lambda: NOW + timedelta(hours=1, minutes=1))
    assert [r for r, _ in _messages(store)] == [f"Practitioner/{staff['nurse']}"]  # escalated


def test_only_the_care_team_silences_a_patient(store):
    _, patient_id, staff = _setup(store)
    stranger = _staff_access(staff["nurse"], set())
    for whom in (patient_id, None):  # another's patient; every patient (system only)
        with pytest.raises(SilenceRefused):
            add_silence(
                store,
                stranger,
                patient=whom,
                rule="bp-high",
                reason="travel",
                starts=NOW,
                ends=NOW + timedelta(days=1),
            )
    with pytest.raises(SilenceRefused, match="reason"):
        add_silence(
            store,
            system_access(),
            patient=patient_id,
            reason=" ",
            starts=NOW,
            ends=NOW + timedelta(days=1),
        )


def test_each_recipient_gets_their_language_and_quiet_hours(store):
    """The nurse reads English and is quiet 08:00-10:00 (Tokyo): the 09:01 warning waits
    for 10:00 for her; the others get it in Japanese at once."""
    service, patient_id, staff = _setup(store)
    nurse = f"Practitioner/{staff['nurse']}"
    with store.transaction() as tx:
        quiet = (time(8, 0), time(10, 0))
        set_preferences(tx.connection, nurse, Preferences("en", "Asia/Tokyo", quiet), 0)
        with pytest.raises(PreferenceRefused):
            set_preferences(tx.connection, nurse, Preferences(language="fr"), 0)
    _bp(service, patient_id, 120)
    evaluate_next(store, RULES, lambda: NOW)
    scan_due(store, RULES, lambda: NOW + timedelta(days=3, minutes=1))  # 09:01 in Tokyo
    sent = {r.recipient: r for r in rows(store, alert_notifications)}
    titles = {who: json.loads(r.payload)["items"][0]["title"] for who, r in sent.items()}
    assert titles[nurse] == "[Warning] No blood pressure reading — 田中 花子"
    assert titles[f"Practitioner/{staff['doctor']}"].startswith("【注意】血圧の測定がありません")
    ten = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
    assert sent[nurse].due_ms == int(ten.timestamp() * 1000)
    doctor = sent[f"Practitioner/{staff['doctor']}"]
    assert doctor.due_ms == int((NOW + timedelta(days=3, minutes=1)).timestamp() * 1000)


def test_the_inbox_service_lists_open_urgent_first_counts_and_changes(store):
    """What the alert pages call: inbox order, per-patient counts, acknowledge, resolve."""
    service, patient_id, staff = _setup(store)
    _bp(service, patient_id, 190)  # bp-urgent at once
    evaluate_next(store, RULES, lambda: NOW)
    scan_due(store, RULES, lambda: NOW + timedelta(days=4))  # no-reading: a warning
    nurse = _staff_access(staff["nurse"], {patient_id})
    views, total = inbox.list_alerts(store.engine, nurse, inbox.AlertFilters())
    assert total == 2
    assert [v.alert.condition for v in views] == ["bp-urgent", "no-reading-systolic"]
    counts = inbox.open_counts(store.engine, nurse, [patient_id, "someone-else"])
    assert counts == {patient_id: {"urgent": 1, "warning": 1}}
    stranger = _staff_access(staff["nurse"], set())
    assert inbox.list_alerts(store.engine, stranger, inbox.AlertFilters()) == ([], 0)
    with pytest.raises(AlertNotFound):
        inbox.acknowledge(store, stranger, views[0].id, "")

    done = inbox.acknowledge(store, nurse, views[0].id, "電話しました")
    assert done.alert.acknowledged.by == f"Practitioner/{staff['nurse']}"
    with pytest.raises(TransitionError):
        inbox.acknowledge(store, nurse, views[0].id, "")
    with pytest.raises(TransitionError):
        inbox.resolve(store, nurse, views[1].id, "  ")  # resolving by hand needs a note
    inbox.resolve(store, nurse, views[1].id, "入院中と確認")
    acknowledged = inbox.AlertFilters(statuses=frozenset({"acknowledged"}))
    assert [v.id for v in inbox.list_alerts(store.engine, nurse, acknowledged)[0]] == [views[0].id]
    # The rules go on from the person's change: acknowledged, it escalates no further
    # (unacknowledged, the next scan would pass it on to the doctor).
    before = len(_messages(store))
    scan_due(store, RULES, lambda: NOW + timedelta(days=4, hours=1))
    assert len(_messages(store)) == before

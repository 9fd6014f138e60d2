"""Work rows commit with their Observation, and each reading is evaluated once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from fhir_api.access.principal import system_access
from fhir_api.alerts import store as alert_store
from fhir_api.alerts.worker import EvaluationFailed, evaluate_next
from fhir_api.codes import CALL_ME, FINE_TODAY, PATIENT_REQUEST
from fhir_api.service import FhirService
from fhir_api.storage.schema import alert_state, alert_work, alerts, resources

from ..fhir_api.helpers import blood_pressure
from .conftest import alerting_service, new_patient, reading, rows
from .evaluator import CountingEvaluator


def test_the_work_row_commits_with_the_observation(store):
    woken: list[int] = []
    service = alerting_service(store, woken)
    patient_id = new_patient(service)
    observation_id = reading(service, patient_id, 150)
    work = rows(store, alert_work)
    assert [(w.observation_id, w.patient_id) for w in work] == [(observation_id, patient_id)]
    assert woken == [1]  # the worker of this process is told after the commit


def test_a_failed_write_leaves_neither_observation_nor_work(store):
    service = alerting_service(store)
    patient_id = new_patient(service)
    access = system_access()

    def audit_fails(_connection):  # the last step of the write's transaction
        raise RuntimeError("the disk is full")

    access.write_audit = audit_fails
    body = blood_pressure(f"Patient/{patient_id}", "2026-11-30T08:00:00+09:00", 150, 80)
    before = observations(store)
    with pytest.raises(RuntimeError):
        service.create("Observation", body, access=access)
    assert rows(store, alert_work) == []
    assert observations(store) == before


def observations(store) -> int:
    return sum(r.resource_type == "Observation" for r in rows(store, resources))


def test_a_server_without_alerts_queues_nothing(store):
    service = FhirService(store)
    reading(service, new_patient(service), 150)
    assert rows(store, alert_work) == []


def test_an_update_and_a_transaction_queue_their_observations(store):
    service = alerting_service(store)
    patient_id = new_patient(service)
    first = reading(service, patient_id, 150)
    current = service.read("Observation", first).content
    service.update("Observation", first, {**current, "status": "amended"})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": blood_pressure(
                    f"Patient/{patient_id}", f"2026-11-30T0{h}:00:00Z", 1, 2
                ),
                "request": {"method": "POST", "url": "Observation"},
            }
            for h in (1, 2)
        ],
    }
    service.bundle(bundle)
    assert Counter(w.patient_id for w in rows(store, alert_work)) == {patient_id: 4}


def test_evaluation_writes_state_alerts_and_deletes_the_work(store):
    service = alerting_service(store)
    patient_id = new_patient(service)
    high = reading(service, patient_id, 190)
    evaluator = CountingEvaluator()
    assert evaluate_next(store, evaluator) == (patient_id, 1)
    assert evaluate_next(store, evaluator) is None
    assert rows(store, alert_work) == []
    [state] = rows(store, alert_state)
    assert state.patient_id == patient_id and high in state.state
    [alert] = rows(store, alerts)
    assert (alert.patient_id, alert.status, alert.severity) == (patient_id, "open", "urgent")


def test_a_rule_that_raises_leaves_the_work_queued(store):
    service = alerting_service(store)
    patient_id = new_patient(service)
    reading(service, patient_id, 190)
    evaluator = CountingEvaluator()
    evaluator.fail_for.add(patient_id)
    with pytest.raises(EvaluationFailed):
        evaluate_next(store, evaluator)
    assert len(rows(store, alert_work)) == 1 and rows(store, alerts) == []
    evaluator.fail_for.clear()
    assert evaluate_next(store, evaluator) == (patient_id, 1)


def test_workers_in_parallel_evaluate_each_reading_once(store):
    """Four workers, five patients with six readings each: every reading exactly once,
    never one patient in two workers at a time, and the work spread over the workers."""
    service = alerting_service(store)
    expected = []
    for _ in range(5):
        patient_id = new_patient(service)
        expected += [(patient_id, reading(service, patient_id, 120 + i)) for i in range(6)]
    evaluator = CountingEvaluator(pause=0.05)
    taken: Counter[str] = Counter()
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        name = threading.current_thread().name
        idle = 0
        while idle < 3:  # a worker that found every patient locked looks again
            done = evaluate_next(store, evaluator)
            if done is None:
                idle += 1
            else:
                idle = 0
                taken[name] += 1

    threads = [threading.Thread(target=work, name=f"w{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(evaluator.evaluated) == sorted(expected)  # each once: no more, no less
    assert evaluator.overlaps == []
    assert rows(store, alert_work) == []
    if store.engine.dialect.name == "postgresql":
        assert len(taken) >= 2, taken  # SKIP LOCKED let several workers take patients


def test_patients_whose_rules_fail_do_not_crowd_out_the_others(store):
    """More failing patients than a worker looks at in one go: the next one is still taken."""
    service = alerting_service(store)
    failing = [new_patient(service) for _ in range(17)]
    for patient_id in failing:
        reading(service, patient_id, 150)
    healthy = new_patient(service)
    reading(service, healthy, 150)
    evaluator = CountingEvaluator()
    assert evaluate_next(store, evaluator, skip=frozenset(failing)) == (healthy, 1)


def test_a_message_for_someone_with_no_channel_is_logged_once_and_the_alert_kept(store, caplog):
    alert_store._WARNED.clear()  # once per process: this test's process
    service = alerting_service(store)
    patients = [new_patient(service) for _ in range(2)]
    for patient_id in patients:
        reading(service, patient_id, 230)
        evaluate_next(store, CountingEvaluator())
    assert sorted(a.patient_id for a in rows(store, alerts)) == sorted(patients)
    said = "Practitioner/nurse-1 has no alert channel: their messages are not sent"
    assert caplog.text.count(said) == 1


def test_a_call_me_press_queues_its_work_and_a_fine_today_none(store) -> None:
    """Issue 14: the press's work commits with it; an id too long for the queue (only a
    client's own id, by PUT) is stored all the same, never a failed write."""
    service = alerting_service(store)
    patient_id = new_patient(service)

    def press(code: str) -> dict:
        return {
            "resourceType": "Communication",
            "status": "completed",
            "category": [{"coding": [{"system": PATIENT_REQUEST, "code": code}]}],
            "subject": {"reference": f"Patient/{patient_id}"},
            "sender": {"reference": f"Patient/{patient_id}"},
            "sent": "2026-11-30T08:00:00+09:00",
        }

    called = service.create("Communication", press(CALL_ME)).stored.id
    service.create("Communication", press(FINE_TODAY))
    long_id = "c" * 64
    service.update("Communication", long_id, {**press(CALL_ME), "id": long_id})
    assert [(r.observation_id, r.patient_id) for r in rows(store, alert_work)] == [
        (f"Communication/{called}", patient_id)
    ]

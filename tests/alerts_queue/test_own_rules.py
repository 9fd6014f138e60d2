"""A patient's own alert rules (the Patient's alert-rules extension) reach the worker:
read in the transaction that reads the Patient, passed to the core as its overrides."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fhir_api.alert_rules import AlertRules, with_alert_rules
from fhir_api.alerts.evaluator import RuleEvaluator
from fhir_api.alerts.model import Kind
from fhir_api.alerts.worker import evaluate_next, scan_due
from fhir_api.storage.schema import alerts

from ..fhir_api.helpers import patient, spo2
from .conftest import alerting_service, reading, rows

NOW = datetime(2026, 11, 30, 0, 0, 30, tzinfo=UTC)
RULES = RuleEvaluator(server_zone="Asia/Tokyo", base_url="https://clinic.example", language="ja")


def _patient_with(service, own: AlertRules) -> str:
    body = with_alert_rules(patient(identifier=f"P-{uuid.uuid4().hex[:10]}"), own)
    return service.create("Patient", body).stored.id


def _open(store) -> set[tuple[str, str]]:
    return {(r.patient_id, r.rule) for r in rows(store, alerts) if r.status == "open"}


def _fever(subject: str, celsius: float) -> dict:
    body = spo2(subject, "2026-11-30T08:05:00+09:00", celsius)
    body["code"] = {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]}
    body["valueQuantity"] = {
        "value": celsius,
        "unit": "Cel",
        "system": "http://unitsofmeasure.org",
        "code": "Cel",
    }
    return body


def test_a_one_day_no_reading_time_alerts_after_a_day_and_the_default_waits_three(store):
    service = alerting_service(store)
    own = _patient_with(service, AlertRules(no_reading={Kind.SYSTOLIC: timedelta(days=1)}))
    default = _patient_with(service, AlertRules())
    for patient_id in (own, default):
        reading(service, patient_id, 120)
        evaluate_next(store, RULES, lambda: NOW)
    scan_due(store, RULES, lambda: NOW + timedelta(days=1, minutes=1))
    assert _open(store) == {(own, "no-reading-systolic")}
    scan_due(store, RULES, lambda: NOW + timedelta(days=3, minutes=1))
    assert _open(store) == {(own, "no-reading-systolic"), (default, "no-reading-systolic")}


def test_a_patient_with_the_fever_rule_off_raises_nothing_for_a_fever(store):
    service = alerting_service(store)
    off = _patient_with(service, AlertRules(off=frozenset({"temperature-high"})))
    on = _patient_with(service, AlertRules())
    for patient_id in (off, on):
        service.create("Observation", _fever(f"Patient/{patient_id}", 39.2))
        evaluate_next(store, RULES, lambda: NOW)
    assert _open(store) == {(on, "temperature-high")}


def test_a_patient_whose_fever_limit_is_37_5_gets_the_alert_at_37_8(store):
    service = alerting_service(store)
    low = _patient_with(service, AlertRules(limits={"temperature-high": 37.5}))
    default = _patient_with(service, AlertRules())
    for patient_id in (low, default):
        service.create("Observation", _fever(f"Patient/{patient_id}", 37.8))
        evaluate_next(store, RULES, lambda: NOW)
    assert _open(store) == {(low, "temperature-high")}

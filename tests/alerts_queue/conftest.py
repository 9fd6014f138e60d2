"""Stores on SQLite and PostgreSQL for the alert queue's tests, emptied of alerts per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import sqlalchemy as sa

from fhir_api.app import build_store
from fhir_api.service import FhirService
from fhir_api.settings import Settings
from fhir_api.storage.resources import ResourceStore
from fhir_api.storage.schema import (
    alert_leases,
    alert_notifications,
    alert_preferences,
    alert_recipients,
    alert_silences,
    alert_state,
    alert_work,
    alerts,
)

from ..fhir_api.helpers import blood_pressure, patient
from ..services import postgres_database

ALERT_TABLES = (
    alert_work,
    alert_state,
    alerts,
    alert_leases,
    alert_recipients,
    alert_notifications,
    alert_silences,
    alert_preferences,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResourceStore]:
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"alerts-{request.param}")
        if request.param == "sqlite":
            settings = Settings(data_dir=tmp)
        else:
            url = stack.enter_context(postgres_database())
            settings = Settings(data_dir=tmp, database_url=url, series_backend="postgresql")
        store = build_store(settings)
        yield store
        store.engine.dispose()


@pytest.fixture
def store(shared_store: ResourceStore) -> ResourceStore:
    """The module's store with no alert rows left by an earlier test."""
    with shared_store.engine.begin() as connection:
        for table in ALERT_TABLES:
            connection.execute(sa.delete(table))
    return shared_store


class Clock:
    """Seconds since the epoch, moved by the test (no sleeping)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def with_clock(store: ResourceStore, clock: Callable[[], float]) -> ResourceStore:
    """The same database and series, with `clock` for the times the store stamps."""
    return ResourceStore(store.engine, store.series, store.zone, clock=clock)


def alerting_service(store: ResourceStore, woken: list[int] | None = None) -> FhirService:
    """A service that queues alert work (as the server does with an evaluator)."""
    calls = woken if woken is not None else []
    return FhirService(store, after_alert_work=lambda: calls.append(1))


def new_patient(service: FhirService) -> str:
    """A Patient with a fresh identifier; its id."""
    body = patient(identifier=f"P-{uuid.uuid4().hex[:10]}")
    return service.create("Patient", body).stored.id


def reading(
    service: FhirService, patient_id: str, systolic: float, when: str = "2026-11-30T08:00:00+09:00"
) -> str:
    """A blood pressure Observation of the patient; its id."""
    body = blood_pressure(f"Patient/{patient_id}", when, systolic, 80)
    return service.create("Observation", body).stored.id


def rows(store: ResourceStore, table: sa.Table) -> list[Any]:
    with store.engine.connect() as connection:
        return list(connection.execute(sa.select(table)))

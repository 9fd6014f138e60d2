"""The page's and the print summary's reading search leaves the marked rates in bed out:
they are read through `$stats` in bed, and a month of 1-minute epochs filled the pages."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pytest

from clinician_ui import patient_routes
from fhir_api.access.principal import system_access
from fhir_api.app import build_store
from fhir_api.service import FhirService
from fhir_api.storage.series.in_bed import IN_BED, SETTING_SYSTEM

from ..fhir_api.conftest import settings_for
from ..fhir_api.test_sleep_series import epoch
from ..fhir_api.test_stats_correctness import vital
from .world import TOKYO


def test_marked_rates_in_bed_are_not_read_as_readings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patient_routes, "_PAGE", 2)
    monkeypatch.setattr(patient_routes, "_MAX_PAGES", 1)
    with ExitStack() as stack:
        store = build_store(settings_for("sqlite", stack, tmp_path))
        stack.callback(store.engine.dispose)
        service = FhirService(store)
        service.update("Patient", "s", {"resourceType": "Patient", "id": "s"})
        service.create(
            "Observation", vital("Patient/s", "8867-4", "2024-11-27T00:30:00Z", 72, "/min")
        )
        for minute in range(0, 25, 5):
            rate = epoch("8867-4", minute, 55)
            rate["category"].append({"coding": [{"system": SETTING_SYSTEM, "code": IN_BED}]})
            service.create("Observation", rate)
        readings, truncated = patient_routes.readings_between(
            service,
            system_access(),
            "s",
            TOKYO,
            datetime(2024, 11, 26, tzinfo=TOKYO),
            datetime(2024, 11, 29, tzinfo=TOKYO),
        )
    assert [(r.kind, r.values) for r in readings] == [("pulse", (72.0,))]
    assert not truncated

"""The benchmarks' audit switch works in development mode only: no environment variable
turns a production server's audit trail off."""

from __future__ import annotations

import pytest

from fhir_api.audit.log import AuditLog
from fhir_api.audit.record import NullAudit
from fhir_api.settings import Settings

from .conftest import serve


@pytest.mark.parametrize(("development", "expected"), [(False, AuditLog), (True, NullAudit)])
def test_the_bench_switch_needs_development_mode(tmp_path, monkeypatch, development, expected):
    monkeypatch.setenv("HOMEVITALS_BENCH_AUDIT", "off")
    apps = []
    settings = Settings(data_dir=tmp_path, development=development)
    with serve(settings, configure=apps.append):
        pass
    assert isinstance(apps[0].state.audit, expected)

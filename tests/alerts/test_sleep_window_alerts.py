"""Issue 15: the gateway sends a night's breathing rate as one SampledData window, and the
server's real rules still raise the respiration alert from it, over real HTTP (the
gateway's own mapper makes the Bundle, the server's worker judges each sample)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

import device_adapters as da
from device_adapters import Quantity, Unit
from fhir_api.alerts.evaluator import RuleEvaluator
from fhir_api.auth import TokenStore
from fhir_api.roles import TokenKind
from gateway.mapping import MappingContext, PatientLink, transaction_bundle, upload_entries
from gateway.mapping.sleep_samples import map_epoch_samples

from ..alerts_queue.test_end_to_end import serving
from ..fhir_api.conftest import settings_for
from ..fhir_api.helpers import JSON, patient
from ..gateway import fixture_cases as fc

TOKYO = ZoneInfo("Asia/Tokyo")


def night(start: datetime, breathing: list[float]) -> list[da.SleepEpoch]:
    """Ten-minute epochs from `start` (the sensor's clock) with these breathing rates."""
    return [
        da.SleepEpoch(
            100 + n,
            start + timedelta(minutes=10 * n),
            Quantity(600.0, Unit.SECOND),
            da.SleepStage.LIGHT,
            heart_rate=Quantity(54.0, Unit.PER_MIN),
            respiration_rate=Quantity(rate, Unit.PER_MIN),
        )
        for n, rate in enumerate(breathing)
    ]


def test_fast_breathing_in_a_gateway_window_raises_the_respiration_alert(tmp_path: Path) -> None:
    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path, alerts_poll_seconds=0.2)
        base, store = stack.enter_context(
            serving(settings, RuleEvaluator(server_zone="Asia/Tokyo"))
        )
        token = TokenStore(store.engine).create("sys", TokenKind.SYSTEM)
        headers = {"Authorization": f"Bearer {token}", **JSON}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            made = client.post("/Patient", json=patient(identifier="P-sleep-window"))
            assert made.status_code == 201, made.text
            link = PatientLink(logical_id=made.json()["id"])
            now = datetime.now(UTC)
            start = (now - timedelta(hours=3)).astimezone(TOKYO).replace(tzinfo=None, second=0)
            ctx = MappingContext(fc.SLEEP_SENSOR, fc.GATEWAY, link, now, zone=TOKYO)
            resources = map_epoch_samples(night(start, [15, 16, 22, 23, 24, 23]), ctx)
            bundle = transaction_bundle(
                upload_entries(resources, fc.SLEEP_SENSOR, fc.GATEWAY, link)
            )
            answer = client.post("/", json=bundle)
            assert answer.status_code == 200, answer.text
            windows = [
                e["response"]["location"].split("/")[1]
                for e in answer.json()["entry"]
                if e["response"]["location"].startswith("Observation/")
            ]
            deadline = time.monotonic() + 15
            while True:
                found = client.get("/DetectedIssue", params={"patient": link.logical_id}).json()
                if found.get("total"):
                    break
                assert time.monotonic() < deadline, "no alert from the window's breathing rate"
                time.sleep(0.1)
    [issue] = [e["resource"] for e in found["entry"]]
    assert "respiration-high" in str(issue)
    [implicated] = issue["implicated"]  # the window once, not one reference per sample
    assert implicated["reference"].split("/")[1] in windows

"""The clinic of `world.py` on a server with the real alert rules and a quick worker.

`alert_clinic` is `conftest._clinic` with an evaluator: every reading uploaded through
the FHIR API is evaluated by the real rules (`RuleEvaluator`), so 鈴木's 185/112 of the
world opens a bp-urgent alert, and a test's own upload opens one within a poll.
`upload_bp` / `upload_spo2` post a reading as the patient's home gateway does;
`wait_for_alert` polls the API (no fixed sleep) until the alert is there.

The HTTP test modules import the fixtures `alerts_clinic` (as their `clinic`: a server
of their own, on SQLite and on PostgreSQL) and `as_staff` (signed-in httpx clients).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fhir_api.accounts.throttle import ThrottlePolicy
from fhir_api.alerts.evaluator import RuleEvaluator
from fhir_api.app import build_store, create_app

from ..fhir_api.conftest import settings_for
from ..fhir_api.login_helpers import fast_password_hashing, post_login
from ..services import free_port
from .world import HOMES, Clinic, blood_pressure, load_clinic, spo2

__all__ = ["alert_clinic", "upload_bp", "upload_spo2", "wait_for_alert"]


@contextmanager
def _serve(settings: Any) -> Iterator[tuple[str, Any, Any]]:
    store = build_store(settings)
    app = create_app(settings, store, evaluator=RuleEvaluator(server_zone="Asia/Tokyo"))
    # Every test signs in from 127.0.0.1: the address lock is not under test here.
    app.state.accounts.policy = ThrottlePolicy(address_limit=100_000)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}/fhir", store, app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        store.engine.dispose()


@contextmanager
def alert_clinic(backend: str, tmp: Path) -> Iterator[Clinic]:
    """The world's clinic with alerts on; 鈴木's urgent alert is open when it is yielded."""
    with ExitStack() as stack:
        stack.enter_context(fast_password_hashing())
        settings = settings_for(backend, stack, tmp, require_totp=False, alerts_poll_seconds=0.1)
        base, store, app = stack.enter_context(_serve(settings))

        def set_clock(clock: Callable[[], float]) -> None:
            store._clock = clock

        clinic = load_clinic(base, store.engine, set_clock)
        clinic.app = app
        wait_for_alert(clinic, "suzuki", "bp-urgent")
        yield clinic


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clinic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clinic]:
    """The importing module's own server: alerts on (SQLite and PostgreSQL)."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    with alert_clinic(request.param, Path(tmp_path_factory.mktemp(module))) as found:
        yield found


@pytest.fixture
def as_staff(clinic: Clinic) -> Iterator[Callable[..., httpx.Client]]:
    """`as_staff(who, language="en")`: an httpx client signed in as the world's `who`."""
    opened: list[httpx.Client] = []

    def open_as(who: str, language: str = "en") -> httpx.Client:
        browser = httpx.Client(
            base_url=clinic.root, timeout=30, headers={"Accept-Language": language}
        )
        opened.append(browser)
        staff = clinic.staff[who]
        assert post_login(browser, staff.username, staff.password).status_code == 303
        return browser

    yield open_as
    for browser in opened:
        browser.close()


def _upload(clinic: Clinic, key: str, body: dict[str, Any]) -> str:
    home = HOMES[key]
    with clinic.client(home) as gateway:
        answer = gateway.post("/Observation", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def upload_bp(clinic: Clinic, key: str, systolic: float, diastolic: float) -> str:
    """A blood pressure taken now, uploaded by the patient's gateway; the Observation id."""
    subject = f"Patient/{clinic.patients[key]}"
    gateway = f"Device/{clinic.gateways[HOMES[key]]}"
    return _upload(clinic, key, blood_pressure(subject, gateway, time.time(), systolic, diastolic))


def upload_spo2(clinic: Clinic, key: str, percent: float) -> str:
    """An SpO2 taken now, uploaded by the patient's gateway; the Observation id."""
    subject = f"Patient/{clinic.patients[key]}"
    gateway = f"Device/{clinic.gateways[HOMES[key]]}"
    return _upload(clinic, key, spo2(subject, gateway, time.time(), percent))


def wait_for_alert(clinic: Clinic, key: str, condition: str, timeout: float = 15) -> str:
    """The id of the patient's open alert of `condition`, once the worker has opened it."""
    deadline = time.monotonic() + timeout
    params = {"patient": clinic.patients[key], "code": condition, "status": "open"}
    with clinic.client() as system:
        while True:
            found = system.get("/DetectedIssue", params=params).json()
            if found.get("total"):
                return str(found["entry"][0]["resource"]["id"])
            assert time.monotonic() < deadline, f"no {condition} alert for {key}"
            time.sleep(0.05)

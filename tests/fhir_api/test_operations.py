"""What an operator needs: public conformance, health, metrics, one log line per request."""

from __future__ import annotations

import importlib.metadata
import io
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from fhir_api.app import build_store, create_app
from fhir_api.auth import Role, TokenStore
from fhir_api.fhir import model_class
from fhir_api.health import check_readiness
from fhir_api.launch import start_server_process
from fhir_api.request_log import JsonFormatter
from fhir_api.settings import Settings
from fhir_api.storage.database import make_engine
from fhir_api.storage.resources import ResourceStore

from ..services import free_port
from .conftest import serve
from .helpers import blood_pressure, patient

ROOT = Path(__file__).resolve().parents[2]
METRICS_TOKEN = "m" * 40
SECRET_NAME = "Zebediah-Quixote"  # noqa: S105 - a name that must never reach the log


@pytest.fixture(scope="module")
def ops(tmp_path_factory) -> Iterator[tuple[str, str, ResourceStore]]:
    """A server on an empty SQLite store, with a metrics token: (root URL, token, store)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("ops"), metrics_token=METRICS_TOKEN)
    with serve(settings) as (base, store):
        token = TokenStore(store.engine).create("ops", Role.SYSTEM)
        yield base.removesuffix("/fhir"), token, store


# --- conformance without a token ------------------------------------------------------------


def test_metadata_needs_no_token_and_tells_the_real_release(ops):
    root, _, _ = ops
    response = httpx.get(f"{root}/fhir/metadata")
    assert response.status_code == 200
    statement = response.json()
    model_class("CapabilityStatement").model_validate(statement)
    assert statement["software"]["version"] == importlib.metadata.version("homevitals")
    committed = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%cI"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()[:10]
    assert statement["software"]["releaseDate"] == committed
    assert statement["date"] == committed


def test_metadata_lists_result_parameters_and_a_readable_stats_definition(ops):
    root, _, _ = ops
    statement = httpx.get(f"{root}/fhir/metadata").json()
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    observation = {p["name"]: p for p in types["Observation"]["searchParam"]}
    assert observation["_sort"]["type"] == "string"
    assert observation["_count"]["type"] == "number"
    assert "_sort" not in {p["name"] for p in types["Patient"]["searchParam"]}
    stats = next(op for op in types["Observation"]["operation"] if op["name"] == "stats")
    assert stats["definition"] == f"{root}/fhir/OperationDefinition/Observation-stats"
    definition = httpx.get(stats["definition"])  # no token: a conformance resource
    assert definition.status_code == 200
    model_class("OperationDefinition").model_validate(definition.json())
    assert definition.json()["url"] == stats["definition"]
    assert {p["name"] for p in definition.json()["parameter"]} >= {"code", "start", "end"}
    assert httpx.get(f"{root}/fhir/OperationDefinition/nope").status_code == 404


def test_other_fhir_requests_still_need_a_token(ops):
    root, _, _ = ops
    assert httpx.get(f"{root}/fhir/Patient").status_code == 401
    assert httpx.get(f"{root}/fhir/OperationDefinition").status_code == 401


# --- health -----------------------------------------------------------------------------------


def test_health_and_readiness_answer_without_token_on_an_empty_store(ops):
    root, _, _ = ops
    alive = httpx.get(f"{root}/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "alive"}
    ready = httpx.get(f"{root}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "series": "ok"}


def test_readiness_names_a_series_backend_that_does_not_answer(tmp_path):
    settings = Settings(
        data_dir=tmp_path, series_backend="influxdb", influx_url=f"http://127.0.0.1:{free_port()}"
    )
    engine = make_engine(settings.sqlalchemy_url)
    try:
        readiness = check_readiness(settings, ResourceStore(engine, None, settings.zone))  # type: ignore[arg-type]
    finally:
        engine.dispose()
    assert readiness.as_json() == {
        "status": "unavailable",
        "database": "ok",
        "series": "unavailable",
    }


def test_readiness_names_a_database_that_does_not_answer(tmp_path):
    url = f"postgresql+psycopg://hv@127.0.0.1:{free_port()}/hv"
    settings = Settings(data_dir=tmp_path, database_url=url, series_backend="postgresql")
    engine = make_engine(url)
    try:
        readiness = check_readiness(settings, ResourceStore(engine, None, settings.zone))  # type: ignore[arg-type]
    finally:
        engine.dispose()
    assert not readiness.ready
    assert readiness.as_json()["database"] == "unavailable"


# --- metrics ------------------------------------------------------------------------------------


def _metric(text: str, name: str) -> float:
    """The value of one sample line `name` (with its labels) in exposition text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def _scrape(root: str) -> str:
    response = httpx.get(f"{root}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    return response.text


def test_metrics_count_interactions_ingest_and_refusals(ops):
    root, token, _ = ops
    auth = {"Authorization": f"Bearer {token}"}
    before = _scrape(root)
    created = httpx.post(f"{root}/fhir/Patient", json=patient(), headers=auth)
    subject = f"Patient/{created.json()['id']}"
    for minute in range(3):
        observation = blood_pressure(subject, f"2024-10-01T08:0{minute}:00+09:00", 120, 80)
        assert httpx.post(f"{root}/fhir/Observation", json=observation, headers=auth).is_success
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": blood_pressure(subject, f"2024-10-02T08:0{minute}:00+09:00", 118, 79),
                "request": {"method": "POST", "url": "Observation"},
            }
            for minute in range(2)
        ],
    }
    assert httpx.post(f"{root}/fhir", json=transaction, headers=auth).status_code == 200
    refused = httpx.post(
        f"{root}/fhir/Observation", json={"resourceType": "Observation"}, headers=auth
    )
    assert refused.status_code == 400
    assert httpx.get(
        f"{root}/fhir/Observation", params={"patient": subject}, headers=auth
    ).is_success
    after = _scrape(root)

    def grew(name: str) -> float:
        return _metric(after, name) - _metric(before, name)

    assert grew('homevitals_http_requests_total{interaction="create",status="201"}') == 4
    assert grew('homevitals_http_requests_total{interaction="search-type",status="200"}') == 1
    assert grew("homevitals_observations_ingested_total") == 5  # 3 creates, 2 in a Bundle
    assert grew('homevitals_validation_refusals_total{interaction="create",status="400"}') == 1
    assert grew('homevitals_http_request_duration_seconds_count{interaction="create"}') == 5
    assert "homevitals_series_queue_depth" in after
    assert "homevitals_rollup_rebuilds_total" in after


def test_metrics_need_their_own_token(ops, tmp_path):
    root, token, _ = ops
    assert httpx.get(f"{root}/metrics").status_code == 401
    system = httpx.get(f"{root}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert system.status_code == 401  # a FHIR token is not a metrics token
    with serve(Settings(data_dir=tmp_path)) as (base, _):  # no metrics_token: metrics are off
        off = httpx.get(base.removesuffix("/fhir") + "/metrics")
        assert off.status_code == 404


def test_metrics_add_up_every_worker(tmp_path):
    """Two worker processes: /metrics counts the requests both served (multiprocess mode)."""
    port = free_port()
    process, token = start_server_process(
        tmp_path / "data",
        port,
        client="metrics-test",
        log=tmp_path / "server.log",
        environment={"HOMEVITALS_WORKERS": "2", "HOMEVITALS_METRICS_TOKEN": METRICS_TOKEN},
    )
    root = f"http://127.0.0.1:{port}"
    try:
        requests = 40
        for _ in range(requests):  # a new connection each time: the kernel spreads them
            with httpx.Client() as one:
                answer = one.get(
                    f"{root}/fhir/Device", headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 200
        text = _scrape(root)
    finally:
        process.terminate()
        process.wait(timeout=30)
    searches = 'homevitals_http_requests_total{interaction="search-type",status="200"}'
    assert _metric(text, searches) == requests


# --- one log line per request, errors handled once ------------------------------------------


@pytest.fixture
def logged_server(tmp_path, caplog) -> Iterator[tuple[str, str]]:
    """A server with a route that fails, every log record captured: (FHIR base, token)."""
    caplog.set_level(logging.INFO)
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)  # uvicorn's own loggers may not propagate
    settings = Settings(data_dir=tmp_path)
    store = build_store(settings)
    app = create_app(settings, store)
    _add_failing_route(app)
    token = TokenStore(store.engine).create("logs", Role.SYSTEM)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started, timeout=20)
        caplog.clear()
        yield f"http://127.0.0.1:{port}/fhir", token
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.engine.dispose()
        uvicorn_logger.removeHandler(caplog.handler)


def _add_failing_route(app) -> None:
    async def fail() -> None:
        raise RuntimeError("a defect in a handler")

    app.add_api_route("/_test/fail", fail, methods=["GET"])


def _access(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "fhir_api.access"]


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_one_line_per_request_with_route_template_and_no_secrets(logged_server, caplog):
    base, token = logged_server
    auth = {"Authorization": f"Bearer {token}", "X-Request-ID": "trace-42"}
    created = httpx.post(f"{base}/Patient", json=patient(family=SECRET_NAME), headers=auth)
    assert created.headers["x-request-id"] == "trace-42"
    patient_id = created.json()["id"]
    httpx.get(f"{base}/Patient", params={"family": SECRET_NAME}, headers=auth)
    httpx.get(f"{base}/Patient/{patient_id}", headers=auth)
    httpx.get(f"{base}/Patient", headers={"Authorization": "Bearer hv_not-a-real-token"})
    _wait_for(lambda: len(_access(caplog)) == 4)
    lines = _access(caplog)
    assert [(r.method, r.route, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("POST", "/fhir/{resource_type}", 201),
        ("GET", "/fhir/{resource_type}", 200),
        ("GET", "/fhir/{resource_type}/{resource_id}", 200),
        ("GET", "/fhir/{resource_type}", 401),
    ]
    assert lines[0].request_id == "trace-42"  # type: ignore[attr-defined]
    assert all(r.duration_ms >= 0 for r in lines)  # type: ignore[attr-defined]
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    everything = "".join(JsonFormatter().format(r) for r in server_side)
    everything += "".join(logging.Formatter().format(r) for r in server_side)
    for secret in (token, "hv_not-a-real-token", SECRET_NAME, patient_id):
        assert secret not in everything


def test_json_log_lines(logged_server, caplog):
    base, token = logged_server
    httpx.get(f"{base}/Device", headers={"Authorization": f"Bearer {token}"})
    _wait_for(lambda: len(_access(caplog)) == 1)
    document = json.loads(JsonFormatter().format(_access(caplog)[0]))
    assert document["logger"] == "fhir_api.access"
    assert (document["method"], document["route"], document["status"]) == (
        "GET",
        "/fhir/{resource_type}",
        200,
    )
    assert len(document["request_id"]) == 32 and isinstance(document["duration_ms"], float)


def test_unexpected_error_is_logged_once_and_closes_the_connection(logged_server, caplog):
    base, token = logged_server
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        response = client.get(f"{base.removesuffix('/fhir')}/_test/fail")
    assert response.status_code == 500
    assert response.headers["connection"] == "close"
    assert response.json()["issue"][0]["code"] == "exception"
    _wait_for(lambda: len(_access(caplog)) == 1)
    time.sleep(0.2)  # uvicorn would log its own copy after the response
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info is not None
    assert errors[0].request_id == response.headers["x-request-id"]  # type: ignore[attr-defined]


def test_connection_after_500_is_closed_by_the_server(logged_server):
    base, token = logged_server
    host, port = base.removeprefix("http://").removesuffix("/fhir").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        request = (
            f"GET /_test/fail HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(65536):  # ends only when the server closes
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 500")
    assert b"connection: close" in head


def test_client_that_leaves_mid_body_is_no_server_error(logged_server, caplog):
    base, token = logged_server
    host, port = base.removeprefix("http://").removesuffix("/fhir").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            (
                f"POST /fhir/Patient HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/fhir+json\r\n"
                "Content-Length: 5000\r\n\r\n"
                '{"resourceType": "Patient", '
            ).encode()
        )
        time.sleep(0.3)  # the handler is waiting for the rest of the body
    _wait_for(lambda: len(_access(caplog)) == 1)
    assert _access(caplog)[0].status == 499  # type: ignore[attr-defined]
    time.sleep(0.2)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not any(r.exc_info for r in caplog.records)


def test_uvicorn_gets_the_limits_from_settings():
    from fhir_api.cli import _uvicorn_options

    options = _uvicorn_options(Settings(limit_concurrency=64, keep_alive_timeout=2.5))
    assert options["limit_concurrency"] == 64
    assert options["timeout_keep_alive"] == 2.5
    assert options["access_log"] is False


def test_json_formatter_carries_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.emit(record)
    document = json.loads(stream.getvalue())
    assert document["level"] == "ERROR" and "ValueError: boom" in document["traceback"]
    assert document["time"].endswith("+00:00")  # UTC, unambiguous across servers

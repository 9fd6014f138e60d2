"""InfluxDB credentials travel in the Authorization header, never in a URL or a log (issue 10)."""

from __future__ import annotations

import base64
import logging
import uuid
from pathlib import Path

import httpx
import pytest

from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings
from fhir_api.storage.series.base import SeriesPoint
from fhir_api.storage.series.influx import InfluxSeriesStore
from fhir_api.storage.series.sync import flush_series_outbox

from ..services import influxdb_server
from .conftest import serve
from .helpers import JSON, ensure_subjects, spo2


def recorded_requests(**credentials: str) -> list[httpx.Request]:
    """The requests an InfluxSeriesStore sends for a write and a query."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/write":
            return httpx.Response(204)
        return httpx.Response(200, json={"results": [{"statement_id": 0}]})

    store = InfluxSeriesStore(
        "http://influx.invalid", "hv", transport=httpx.MockTransport(answer), **credentials
    )
    store.write(None, [SeriesPoint("Patient/p", "8867-4", 0, 60.0, "/min", "o1")])
    store.daily("Patient/p", ["8867-4"], 0, 86_400_000, 0)
    store.close()
    return seen


def test_user_and_password_go_in_basic_auth_not_the_query_string():
    user, secret = "hv-user", uuid.uuid4().hex
    requests = recorded_requests(username=user, password=secret)
    assert [r.url.path for r in requests] == ["/write", "/query"]
    expected = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
    for request in requests:
        assert secret not in str(request.url) and user not in str(request.url)
        assert not {"u", "p"} & set(request.url.params)
        assert request.headers["Authorization"] == expected


def test_a_token_goes_in_the_token_header():
    token, secret = uuid.uuid4().hex, uuid.uuid4().hex
    for request in recorded_requests(token=token, username="hv-user", password=secret):
        assert request.headers["Authorization"] == f"Token {token}"
        assert token not in str(request.url) and secret not in str(request.url)


def test_the_password_never_reaches_the_servers_log_issue_10(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Against a real influxd with auth-enabled: it works, and the log holds no secret."""
    caplog.set_level(logging.DEBUG)
    secret = f"secret-{uuid.uuid4().hex}"
    database = f"hv_{uuid.uuid4().hex[:8]}"
    with influxdb_server(auth_enabled=True) as url:
        created = httpx.post(
            f"{url}/query",
            data={"q": f"CREATE USER homevitals WITH PASSWORD '{secret}' WITH ALL PRIVILEGES"},
        )
        assert created.status_code == 200, created.text
        anonymous = httpx.post(f"{url}/query", data={"q": "SHOW DATABASES"})
        assert anonymous.status_code == 401  # auth really is on
        admin = InfluxSeriesStore(url, database, username="homevitals", password=secret)
        admin.create_database()
        admin.close()
        settings = Settings(
            data_dir=tmp_path,
            series_backend="influxdb",
            influx_url=url,
            influx_database=database,
            influx_username="homevitals",
            influx_password=secret,
        )
        with serve(settings) as (base, store):
            token = TokenStore(store.engine).create("tests", Role.SYSTEM)
            headers = {"Authorization": f"Bearer {token}", **JSON}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                ensure_subjects(client, "Patient/auth")
                reading = spo2("Patient/auth", "2024-11-27T07:00:00+09:00", 97)
                assert client.post("/Observation", json=reading).status_code == 201
                flush_series_outbox(store)
                answer = client.get(
                    "/Observation/$stats?patient=Patient/auth&code=2708-6"
                    "&start=2024-11-27&end=2024-11-28&tz=Asia/Tokyo"
                )
                assert answer.status_code == 200, answer.text
                assert '"valueDecimal":97' in answer.text
    assert "HTTP Request" in caplog.text  # httpx logged the requests, with their URLs
    assert secret not in caplog.text

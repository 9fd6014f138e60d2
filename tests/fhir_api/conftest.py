"""A real server over loopback HTTP, once per storage backend (SQLite, PostgreSQL, InfluxDB)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from fhir_api.app import build_store, create_app
from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings
from fhir_api.storage.resources import ResourceStore
from fhir_api.storage.series.influx import InfluxSeriesStore

from ..services import free_port, influxdb_server, postgres_database

BACKENDS = ["sqlite", "postgresql", "influxdb"]


@dataclass
class RunningServer:
    """A server on loopback and what the tests need to talk to it."""

    backend: str
    base: str
    token: str
    store: ResourceStore
    settings: Settings
    admin_token: str | None = None  # a system token, where `token` is a gateway's

    def admin_client(self) -> httpx.Client:
        """A client with full access (the `system` token), for checks and set-up."""
        return self.client(self.admin_token)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {
            "Authorization": f"Bearer {token or self.token}",
            "Accept": "application/fhir+json",
        }
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def settings_for(backend: str, stack: ExitStack, tmp: Path, **extra: object) -> Settings:
    if backend == "sqlite":
        return Settings(data_dir=tmp, **extra)
    if backend == "postgresql":
        url = stack.enter_context(postgres_database())
        return Settings(data_dir=tmp, database_url=url, series_backend="postgresql", **extra)
    influx = stack.enter_context(influxdb_server())
    database = f"hv_{uuid.uuid4().hex[:8]}"
    store = InfluxSeriesStore(influx, database)
    store.create_database()
    store.close()
    return Settings(
        data_dir=tmp,
        series_backend="influxdb",
        influx_url=influx,
        influx_database=database,
        **extra,
    )


@contextmanager
def serve(
    settings: Settings,
    port: int | None = None,
    *,
    configure: Callable[[FastAPI], None] | None = None,
) -> Iterator[tuple[str, ResourceStore]]:
    """Run uvicorn in a thread on loopback (a free port unless `port` is given).

    `configure` sees the app before it serves (tests put their clock or recorders in).
    """
    store = build_store(settings)
    app = create_app(settings, store)
    if configure is not None:
        configure(app)
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/fhir", store
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A fresh server per test module and backend."""
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"server-{request.param}")
        settings = settings_for(request.param, stack, tmp, max_body_bytes=2 * 1024 * 1024)
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("tests", Role.SYSTEM)
        yield RunningServer(request.param, base, token, store, settings)


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c

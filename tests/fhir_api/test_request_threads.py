"""A worker runs few requests' work at once, writes in a lane of their own (issue 10).

With a thread per waiting request, twenty requests shared the interpreter lock
round-robin, and one 50-reading Bundle took twenty times its own time while
holding SQLite's write lock: p99 4.4 s overall and 6.3 s for writes at 20 clients
(bench/load.py). Here requests' work is made slow on purpose and counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_api.app import READ_THREADS, WRITE_THREADS
from fhir_api.auth import Role, TokenStore
from fhir_api.errors import NotFound
from fhir_api.service import FhirService

from .conftest import serve, settings_for


class Gauge:
    """How many calls run at once, at most."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self.running -= 1


@pytest.fixture
def server(tmp_path: Path) -> Iterator[httpx.Client]:
    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path)
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("tests", Role.SYSTEM)
        yield httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _concurrently(client: httpx.Client, calls: list[tuple[str, str]]) -> list[int]:
    def send(call: tuple[str, str]) -> int:
        method, path = call
        body = b'{"resourceType": "Bundle", "type": "transaction"}' if method == "POST" else None
        headers = {"Content-Type": "application/fhir+json"}
        with httpx.Client(
            base_url=client.base_url, headers={**client.headers, **headers}, timeout=30
        ) as own:
            return own.request(method, path, content=body).status_code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(send, calls))


def test_reads_and_writes_each_run_a_few_at_once(
    server: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads, writes = Gauge(), Gauge()

    def slow_read(self: FhirService, resource_type: str, resource_id: str, **_: Any) -> Any:
        with reads:
            time.sleep(0.15)
        raise NotFound(f"{resource_type}/{resource_id} is not known")

    def slow_bundle(self: FhirService, raw: Any, **_: Any) -> Any:
        with writes:
            time.sleep(0.15)
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": []}

    monkeypatch.setattr(FhirService, "read", slow_read)
    monkeypatch.setattr(FhirService, "bundle", slow_bundle)
    calls = [("GET", f"/Patient/p{n}") for n in range(10)] + [("POST", "/")] * 8
    statuses = _concurrently(server, calls)
    assert statuses == [404] * 10 + [200] * 8
    assert reads.peak == READ_THREADS == 4
    assert writes.peak == WRITE_THREADS == 2


def test_reads_are_answered_while_every_write_waits(
    server: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def stuck_bundle(self: FhirService, raw: Any, **_: Any) -> Any:
        release.wait(20)  # a commit waiting on a slow disk
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": []}

    monkeypatch.setattr(FhirService, "bundle", stuck_bundle)
    with ThreadPoolExecutor(max_workers=1) as pool:
        stuck = pool.submit(_concurrently, server, [("POST", "/")] * 6)
        time.sleep(0.3)
        began = time.monotonic()
        statuses = _concurrently(server, [("GET", f"/Patient/p{n}") for n in range(6)])
        waited = time.monotonic() - began
        release.set()
        assert stuck.result() == [200] * 6
    assert statuses == [404] * 6
    assert waited < 10  # not behind the writes (they were released only afterwards)

"""A worker runs few requests' work at once, the rest wait their turn (issue 10).

With a thread per waiting request, twenty requests shared the interpreter lock
round-robin, and one 50-reading Bundle took twenty times its own time while
holding SQLite's write lock: p99 4.4 s overall and 6.3 s for writes at 20 clients
(bench/load.py). Here requests' work is made slow on purpose and counted.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_api.app import REQUEST_THREADS
from fhir_api.auth import Role, TokenStore
from fhir_api.errors import NotFound
from fhir_api.service import FhirService

from .conftest import serve, settings_for


def test_requests_work_at_most_request_threads_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def slow_read(self: FhirService, resource_type: str, resource_id: str) -> Any:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.15)
        with lock:
            running -= 1
        raise NotFound(f"{resource_type}/{resource_id} is not known")

    monkeypatch.setattr(FhirService, "read", slow_read)
    with ExitStack() as stack:
        settings = settings_for("sqlite", stack, tmp_path)
        base, store = stack.enter_context(serve(settings))
        token = TokenStore(store.engine).create("tests", Role.SYSTEM)
        headers = {"Authorization": f"Bearer {token}"}

        def get(n: int) -> int:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                return client.get(f"/Patient/p{n}").status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(get, range(8)))
    assert statuses == [404] * 8
    assert peak == REQUEST_THREADS == 2

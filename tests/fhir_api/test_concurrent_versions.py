"""A write over a version another writer has replaced meanwhile is refused, not stored.

Found in review of issue 15: once the history stopped holding the current version, an
update or delete no longer collided with a concurrent one (the history row of version
N+1 used to be the unique key both wanted). On PostgreSQL (READ COMMITTED, the current
version read with a plain SELECT) writer B then overwrote writer A's committed version:
A's version vanished from the resource and its history, and two If-Match requests on the
same version both succeeded. The store now replaces a version only if it is still the
current one, and the service starts the write over (where If-Match then fails).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from fhir_api.service import FhirService
from fhir_api.storage.resources import ConcurrentUpdate, ResourceStore, Tx

from .conftest import settings_for
from .test_sleep_series import open_store


def patient(family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResourceStore]:
    with ExitStack() as stack:
        yield open_store(stack, settings_for(request.param, stack, tmp_path))


def history(store: ResourceStore) -> list[tuple[int, Any]]:
    with store.reading() as tx:
        return sorted((s.version_id, s.content.get("name")) for s in tx.history("Patient", "p1"))


def a_commits_version_2(store: ResourceStore) -> Any:
    """Version 1 stored; B reads it; A then commits version 2. Returns B's stale read."""
    with store.transaction() as tx:
        tx.create("Patient", patient("v1"), "p1")
    with store.reading() as tx:
        stale = tx.read("Patient", "p1")
    with store.transaction() as tx:
        tx.update("Patient", "p1", patient("A"), tx.read("Patient", "p1"))
    return stale


def test_an_update_over_a_replaced_version_is_refused(store: ResourceStore) -> None:
    stale = a_commits_version_2(store)
    with pytest.raises(ConcurrentUpdate), store.transaction() as tx:
        tx.update("Patient", "p1", patient("B"), stale)
    assert history(store) == [(1, [{"family": "v1"}]), (2, [{"family": "A"}])]


def test_a_delete_over_a_replaced_version_is_refused(store: ResourceStore) -> None:
    stale = a_commits_version_2(store)
    with pytest.raises(ConcurrentUpdate), store.transaction() as tx:
        tx.delete("Patient", stale)
    with store.reading() as tx:
        current = tx.read("Patient", "p1")
    assert current is not None and current.version_id == 2 and not current.deleted


def test_the_service_starts_the_write_over_from_the_newest_version(store: ResourceStore) -> None:
    stale = a_commits_version_2(store)
    service = FhirService(store)
    attempts: list[int] = []

    def write_b(tx: Tx) -> int:
        # The first attempt writes over what B read before A committed; the retry reads anew.
        current = stale if not attempts else tx.read("Patient", "p1")
        attempts.append(current.version_id)
        return tx.update("Patient", "p1", patient("B"), current).version_id

    assert service._write(write_b) == 3
    assert attempts == [1, 2]
    assert history(store) == [
        (1, [{"family": "v1"}]),
        (2, [{"family": "A"}]),
        (3, [{"family": "B"}]),
    ]

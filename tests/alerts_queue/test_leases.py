"""The scan lease: one holder at a time, handed over when it lapses."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from fhir_api.alerts import leases
from fhir_api.alerts.worker import SCAN_LEASE, AlertWorker
from fhir_api.storage.schema import alert_state

from .evaluator import CountingEvaluator

HOLD = 10_000


def take(store, holder: str, now_ms: int) -> bool:
    with store.transaction() as tx:
        return leases.take(tx.connection, SCAN_LEASE, holder, now_ms, HOLD)


def test_one_contender_holds_the_lease_until_it_lapses(store):
    assert take(store, "a", 1_000)
    assert not take(store, "b", 1_001)
    assert take(store, "a", 5_000)  # renewed: now held until 15 000
    assert not take(store, "b", 14_999)
    assert take(store, "b", 15_001)  # a stopped renewing: b takes over
    assert not take(store, "a", 15_002)
    with store.transaction() as tx:
        leases.release(tx.connection, SCAN_LEASE, "b")
    assert take(store, "a", 15_003)  # a clean stop hands over at once


def test_of_many_contenders_at_once_exactly_one_wins(store):
    start = threading.Barrier(6)
    won: list[str] = []

    def contend(name: str) -> None:
        start.wait()
        if take(store, name, 1_000):
            won.append(name)

    threads = [threading.Thread(target=contend, args=(f"c{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(won) == 1


def test_the_scan_runs_on_the_lease_holder_only(store):
    """Two workers' rounds: the patients due are scanned once, by the one with the lease."""
    now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    due_ms = int((now - timedelta(minutes=1)).timestamp() * 1000)
    with store.transaction() as tx:
        tx.connection.execute(
            sa.insert(alert_state),
            [
                {"patient_id": f"p{i}", "state": "{}", "due_ms": due_ms, "updated_ms": 0}
                for i in range(5)
            ],
        )
    evaluator = CountingEvaluator()
    workers = [AlertWorker(store, evaluator, {}, clock=lambda: now) for _ in range(2)]
    start = threading.Barrier(2)

    def round_of(worker: AlertWorker) -> None:
        start.wait()
        worker.run_once()

    threads = [
        threading.Thread(target=round_of, args=(w,), name=f"w{i}") for i, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(p for p, _ in evaluator.scanned) == [f"p{i}" for i in range(5)]
    assert len({name for _, name in evaluator.scanned}) == 1
    workers[0].stop()
    workers[1].stop()

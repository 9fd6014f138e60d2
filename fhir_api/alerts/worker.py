"""The alert worker: a thread per server process that evaluates, scans and sends.

Each round it
1. evaluates queued readings, one patient at a time (`evaluate_next`: the patient's
   state row locked, the evaluation and the deletion of its work in one transaction);
2. once per `scan_interval`, if it holds the `alerts-scan` lease, runs the time-based
   rules for the patients now due (`scan_due`): one worker across all servers;
3. sends the messages due (`delivery.deliver_due`).
Then it waits `poll_interval`, or less when a write in this process queued work
(`wake`). Several workers (processes, servers) on one PostgreSQL share the work with
no broker: the database is the queue.

An evaluation that raises is logged and its patient is left queued; the worker goes
on with others and tries that patient again next round (`_FAILED_BACKOFF_S`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge

from ..storage.resources import ResourceStore
from . import delivery, leases, outbox, queue, store
from .seam import GATEWAYS_ROW, Evaluator, GatewayScanner

__all__ = [
    "SCAN_LEASE",
    "AlertWorker",
    "EvaluationFailed",
    "evaluate_next",
    "holder_name",
    "scan_due",
]

_LOGGER = logging.getLogger(__name__)
SCAN_LEASE = "alerts-scan"
_CANDIDATES = 16
_FAILED_BACKOFF_S = 30.0

EVALUATED = Counter("homevitals_alert_readings_evaluated", "Readings the alert rules evaluated")
NOTIFICATIONS_SENT = Counter("homevitals_alert_notifications_sent", "Alert messages sent")
NOTIFICATIONS_FAILED = Counter(
    "homevitals_alert_notifications_failed", "Alert messages a channel did not take (retried)"
)
QUEUE_DEPTH = Gauge(
    "homevitals_alert_queue_depth",
    "Readings waiting for evaluation and messages waiting to be sent",
    ["queue"],
    multiprocess_mode="livemax",
)

Clock = Callable[[], datetime]


class EvaluationFailed(Exception):
    """The rules raised for one patient (the cause is chained); their work stays queued."""

    def __init__(self, patient: str) -> None:
        super().__init__(f"evaluating patient {patient} failed")
        self.patient = patient


def _utc_now() -> datetime:
    return datetime.now(UTC)


def evaluate_next(
    resources: ResourceStore,
    evaluator: Evaluator,
    clock: Clock = _utc_now,
    *,
    skip: frozenset[str] = frozenset(),
) -> tuple[str, int] | None:
    """Evaluate the queued readings of one patient no other worker holds.

    Returns (patient id, readings evaluated), or None when there is nothing to take.

    Raises:
        EvaluationFailed: the rules raised; nothing was written and the work stays queued.
    """
    with resources.reading() as tx:
        candidates = queue.candidate_patients(tx.connection, _CANDIDATES, skip)
        missing = queue.missing_states(tx.connection, candidates) if candidates else []
    if not candidates:
        return None
    if missing:  # a patient's first reading: its lock row, in a write of its own
        with resources.transaction() as tx:
            queue.ensure_states(tx.connection, missing, resources.now_ms())
    with resources.transaction() as tx:
        connection = tx.connection
        patient = queue.lock_patient(connection, candidates)
        if patient is None:
            return None
        work = queue.take_work(connection, patient)
        if not work:
            return patient, 0  # another worker took them between our look and our lock
        observations = store.read_observations(connection, [oid for _, oid in work])
        state = store.read_state(connection, patient)
        try:
            evaluation = evaluator.evaluate(
                patient, state, observations, clock(), connection=connection
            )
        except Exception as exc:  # a rule's bug must not stop the other patients' alerts
            raise EvaluationFailed(patient) from exc
        store.write_evaluation(connection, patient, evaluation, resources.now_ms())
        queue.delete_work(connection, [seq for seq, _ in work])
    EVALUATED.inc(len(work))
    return patient, len(work)


def scan_due(
    resources: ResourceStore, evaluator: Evaluator, clock: Clock = _utc_now, *, batch: int = 1000
) -> int:
    """Run the time-based rules for every patient now due; how many were scanned.

    Only the holder of the scan lease calls this; the row locks keep it apart from
    the workers evaluating new readings of the same patients. A batch is one
    transaction: one read of the states, one executemany of the new ones.
    """
    if isinstance(evaluator, GatewayScanner):
        _scan_gateways(resources, evaluator, clock())
    scanned = 0
    while True:
        now = clock()
        now_ms = int(now.timestamp() * 1000)
        with resources.transaction() as tx:
            due = store.due_states(tx.connection, now_ms, batch)
            done = []
            for patient, state in due:
                try:
                    done.append(
                        (patient, evaluator.scan(patient, state, now, connection=tx.connection))
                    )
                except Exception:
                    # As healthchecks does: look again in an hour, so that one bad state
                    # cannot stop the scan of every other patient.
                    _LOGGER.exception("scanning the alerts of patient %s failed", patient)
                    store.postpone(tx.connection, patient, now_ms + 3_600_000)
            store.write_evaluations(tx.connection, done, resources.now_ms())
        scanned += len(due)
        if len(due) < batch:
            return scanned


def _scan_gateways(resources: ResourceStore, evaluator: GatewayScanner, now: datetime) -> None:
    """The gateway-offline rule, once per scan (a failure is logged: the patients go on)."""
    try:
        with resources.transaction() as tx:
            queue.ensure_states(tx.connection, [GATEWAYS_ROW], resources.now_ms())
            row = queue.lock_patient(tx.connection, [GATEWAYS_ROW])
            if row is None:
                return  # another scan holds it (a lease handed over mid-scan)
            state = store.read_state(tx.connection, GATEWAYS_ROW)
            evaluation = evaluator.scan_gateways(state, now, connection=tx.connection)
            store.write_evaluation(tx.connection, GATEWAYS_ROW, evaluation, resources.now_ms())
    except Exception:
        _LOGGER.exception("scanning the gateways for alerts failed")


def holder_name() -> str:
    """This worker's name in leases and claims: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class AlertWorker:
    """The worker thread of one server process (started and stopped with the app)."""

    def __init__(
        self,
        resources: ResourceStore,
        evaluator: Evaluator,
        channels: Mapping[str, str],
        *,
        anonymous: Collection[str] = (),
        clock: Clock = _utc_now,
        send: delivery.Send = delivery.apprise_send,
        poll_interval: float = 1.0,
        scan_interval: float = 60.0,
    ) -> None:
        self.resources = resources
        self.evaluator = evaluator
        self.channels = dict(channels)
        self.anonymous = frozenset(anonymous)
        self.holder = holder_name()
        self._clock = clock
        self._send = send
        self._poll = poll_interval
        self._scan_interval = scan_interval
        self._next_scan = 0.0
        self._failed: dict[str, float] = {}  # patient -> monotonic time to try again
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """New work was committed in this process: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Start the thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alert-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current step and hand the scan lease over at once."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            with self.resources.transaction() as tx:
                leases.release(tx.connection, SCAN_LEASE, self.holder)
        except Exception:  # the lease lapses by itself
            _LOGGER.warning("could not release the alerts' scan lease", exc_info=True)

    def run_once(self) -> None:
        """One round: evaluate all there is, scan if due and leased, send what is due."""
        self._evaluate_all()
        if time.monotonic() >= self._next_scan:
            self._next_scan = time.monotonic() + self._scan_interval
            self._scan_if_leased()
        result = delivery.deliver_due(
            self.resources, self.channels, self.holder, anonymous=self.anonymous, send=self._send
        )
        NOTIFICATIONS_SENT.inc(result.sent)
        NOTIFICATIONS_FAILED.inc(result.failed)
        with self.resources.reading() as tx:
            QUEUE_DEPTH.labels("readings").set(queue.pending_work(tx.connection))
            QUEUE_DEPTH.labels("messages").set(outbox.pending(tx.connection))

    def _evaluate_all(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            self._failed = {p: t for p, t in self._failed.items() if t > now}
            try:
                done = evaluate_next(
                    self.resources, self.evaluator, self._clock, skip=frozenset(self._failed)
                )
            except EvaluationFailed as failure:
                _LOGGER.exception("evaluating the alerts of patient %s failed", failure.patient)
                self._failed[failure.patient] = now + _FAILED_BACKOFF_S
                continue
            if done is None:
                return

    def _scan_if_leased(self) -> None:
        hold_ms = int(self._scan_interval * 3 * 1000)
        with self.resources.transaction() as tx:
            held = leases.take(
                tx.connection, SCAN_LEASE, self.holder, self.resources.now_ms(), hold_ms
            )
        if held:
            scan_due(self.resources, self.evaluator, self._clock)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the round: a wake during it starts the next at once
            try:
                self.run_once()
            except Exception:  # the database may be away for a moment: keep going
                _LOGGER.exception("alert worker round failed")
            self._wake.wait(self._poll)

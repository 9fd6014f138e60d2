"""`AuditLog`: the server's `AuditSink`, cheap for requests, batched for the database.

`record(event)` appends to an in-memory queue and returns (about a microsecond;
no lock, no I/O). A writer thread takes up to `batch_size` events every
`interval` seconds (sooner when a full batch is waiting), renders them, and
appends them in one transaction, chained (`store.append`). A failed write keeps
its batch and tries again, with a growing pause, until the database takes it;
each failure is logged. Nothing queued is dropped, and the order is kept.

`record_in(connection, events)` instead appends inside the caller's open
transaction, so a data write and its AuditEvent commit (or roll back) together.

`flush()` waits until everything recorded before it is in the database;
`close()` flushes and stops the thread (the server calls it at shutdown). Events
still queued when a process dies without `close()` (SIGKILL, power loss) are
lost: at most one interval's worth, by design of a cheap `record`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from .events import OBSERVER
from .record import AuditRecord
from .store import Prepared, append, prepare

__all__ = ["AuditLog"]

_LOGGER = logging.getLogger(__name__)
_MAX_PAUSE = 5.0


def _reason(exc: Exception) -> str:
    """The database's own message, without the statement and its parameters (patient ids)."""
    cause = getattr(exc, "orig", None) if isinstance(exc, SQLAlchemyError) else exc
    return str(cause if cause is not None else exc).splitlines()[0][:200] if str(exc) else ""


class _Barrier:
    """Put in the queue by `flush`: set once everything before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


class AuditLog:
    """Keeps audit records in the database's hash-chained trail (see the module docstring).

    Args:
        engine: the server's database.
        interval: the longest an event waits in memory before its batch is written.
        batch_size: events per transaction at most; a full batch is written at once.
        observer: the server's name in each AuditEvent's `source`.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 0.2,
        batch_size: int = 500,
        observer: str = OBSERVER,
    ) -> None:
        self._engine = engine
        self._interval = interval
        self._batch_size = batch_size
        self._observer = observer
        self._queue: deque[AuditRecord | _Barrier] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.written = 0  # events written by the thread (for tests and metrics)
        self.failures = 0  # failed batch writes, each retried

    def record(self, event: AuditRecord) -> None:
        """Queue `event` for the writer thread; never blocks on the database.

        After `close()` (a request that finished during shutdown) the event is written
        at once instead, in the caller's thread: late, never lost.
        """
        if self._closed:
            self._write([event])
            return
        self._queue.append(event)
        if self._thread is None:
            self._start()
        elif len(self._queue) == self._batch_size:  # the writer drains all once awake
            self._wake.set()

    def record_in(self, connection: Connection, events: Sequence[AuditRecord]) -> list[int]:
        """Append `events` in `connection`'s open transaction (committed with it); their seqs.

        The chain head stays locked until that transaction ends (on PostgreSQL, other
        appends wait for it): call this last, just before the commit.
        """
        return append(connection, [prepare(event, self._observer) for event in events])

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event recorded before this call is written; False on timeout."""
        if self._thread is None and not self._queue:
            return True
        barrier = _Barrier()
        self._queue.append(barrier)
        if self._thread is None:
            self._start()
        self._wake.set()
        return barrier.done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the thread (the server's shutdown)."""
        if self._closed:
            return
        self._closed = True
        if not self.flush(timeout):
            _LOGGER.error("audit: %d events could not be written before shutdown", self._pending())
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _pending(self) -> int:
        return sum(1 for item in list(self._queue) if isinstance(item, AuditRecord))

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                thread.start()
                self._thread = thread

    def _take(self) -> tuple[list[AuditRecord], list[_Barrier]]:
        """Up to one batch from the queue, and the barriers passed on the way."""
        batch: list[AuditRecord] = []
        barriers: list[_Barrier] = []
        while self._queue and len(batch) < self._batch_size:
            item = self._queue.popleft()
            if isinstance(item, _Barrier):
                barriers.append(item)
                if batch:  # what came before the barrier is this batch: write it first
                    break
            else:
                batch.append(item)
        return batch, barriers

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            while self._queue:
                batch, barriers = self._take()
                if batch:
                    self._write(batch)
                for barrier in barriers:
                    barrier.done.set()
            if self._stopping.is_set():
                return

    def _write(self, batch: list[AuditRecord]) -> None:
        """Write one batch, retrying until the database takes it (or the log is closing)."""
        prepared: list[Prepared] = [prepare(event, self._observer) for event in batch]
        pause = self._interval
        while True:
            try:
                with self._engine.begin() as connection:
                    append(connection, prepared)
            except Exception as exc:  # kept and retried, whatever the cause: never dropped
                self.failures += 1
                _LOGGER.warning(
                    "audit: writing %d events failed (%s: %s); retrying in %.1f s",
                    len(prepared),
                    exc.__class__.__name__,
                    _reason(exc),
                    pause,
                )
                if self._stopping.wait(pause):
                    _LOGGER.error("audit: %d events not written: the log closed", len(prepared))
                    return
                pause = min(pause * 2, _MAX_PAUSE)
                continue
            self.written += len(prepared)
            return

"""What the audit trail costs: one `record()` for the caller, one batch for the database.

Run: `.venv/bin/python bench/audit.py [--postgresql URL]` (SQLite in a temporary
folder by default). Prints:

- `record()`: the time a request handler spends handing over one AuditRecord
  (median over many calls; the writer thread is kept from running meanwhile by
  a long interval, so this is the queue append alone);
- render: turning one record into canonical AuditEvent JSON (done in the writer
  thread, before it takes the chain lock);
- one batch of 500: the transaction that chains and inserts them (lock the
  head, 500 hashes, 500 rows and their patient rows, move the head, commit with
  SQLite's `synchronous=FULL`), median of several;
- verify: the whole chain walked again, per 1,000 events.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fhir_api.audit.log import AuditLog
from fhir_api.audit.record import AuditRecord
from fhir_api.audit.store import append, prepare, verify
from fhir_api.storage.database import make_engine, migrate

BATCH = 500
ROUNDS = 10


def _record(n: int) -> AuditRecord:
    """A chart read: the size of a typical event (one patient, a query)."""
    return AuditRecord(
        action="E",
        subtype="search",
        outcome="0",
        agent=f"staff:nurse{n % 7}",
        recorded_ms=1_764_460_800_000 + n,
        agent_reference="Practitioner/pr-7",
        address="192.0.2.15",
        patients=(f"patient-{n % 50}",),
        query="patient=Patient/patient-1&code=http://loinc.org|85354-9&date=ge2025-09-01&_count=200",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgresql", help="a PostgreSQL URL (an empty database) instead")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    url = args.postgresql or f"sqlite:///{folder.name}/bench.db"
    engine = make_engine(url)
    migrate(engine)
    print(f"backend: {engine.dialect.name}")

    log = AuditLog(engine, interval=3600)
    records = [_record(n) for n in range(100_000)]
    log.record(records[0])  # starts the thread (which now sleeps for an hour)
    samples = []
    for start in range(0, len(records), 1000):
        chunk = records[start : start + 1000]
        began = time.perf_counter_ns()
        for event in chunk:
            log.record(event)
        samples.append((time.perf_counter_ns() - began) / len(chunk))
    print(f"record(): {statistics.median(samples):.0f} ns per call (median of 1,000-call runs)")
    began = time.perf_counter()
    log.close()
    took = time.perf_counter() - began
    print(f"close() wrote {log.written:,} queued events in {took:.2f} s")

    began = time.perf_counter()
    prepared = [prepare(event) for event in records[:BATCH]]
    render_us = (time.perf_counter() - began) / BATCH * 1e6
    print(f"render + canonical JSON: {render_us:.1f} us per event (writer thread, no lock)")

    times = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        with engine.begin() as connection:
            append(connection, prepared)
        times.append(time.perf_counter() - began)
    median = statistics.median(times)
    print(
        f"one batch of {BATCH}: {median * 1000:.1f} ms in the database (median of {ROUNDS}), "
        f"{median / BATCH * 1e6:.0f} us per event"
    )

    began = time.perf_counter()
    verdict = verify(engine)
    took = time.perf_counter() - began
    print(
        f"verify: {verdict.count:,} events in {took:.2f} s "
        f"({took / verdict.count * 1000 * 1000:.0f} ms per 1,000); intact={verdict.intact}"
    )
    engine.dispose()
    folder.cleanup()


if __name__ == "__main__":
    main()

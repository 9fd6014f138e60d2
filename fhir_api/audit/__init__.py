"""The audit trail: every access to patient data as an append-only, hash-chained record.

- `record`: `AuditRecord` (what happened) and `AuditSink` (where it goes);
- `events`: an AuditRecord as a FHIR R4 AuditEvent, and its search columns (pure);
- `chain`: the hash chain and the walk that finds its first broken link (pure);
- `store`: append (chained, under the chain head's lock), verify, read and search;
- `log`: `AuditLog`, the server's sink: a queue and a writer thread;
- `query`, `routes`, `access`: read-only `/fhir/AuditEvent` and who may read it.

Only `record` is imported here: request code records without loading the store.
"""

from .record import AuditRecord, AuditSink, NullAudit

__all__ = ["AuditRecord", "AuditSink", "NullAudit"]

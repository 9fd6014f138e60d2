"""The audit trail: every access to patient data as an append-only, hash-chained record."""

from .record import AuditRecord, AuditSink, NullAudit

__all__ = ["AuditRecord", "AuditSink", "NullAudit"]

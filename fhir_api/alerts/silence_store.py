"""Silences kept in the database, and the service the settings pages call.

A silence pauses the messages of a patient's alerts (all of them, or one rule's), or
of every patient's alerts of one rule, or of a gateway's offline alert, from a start
to an end, with a reason and an author (`silences.Silence`, pure: Alertmanager's
choice: alerts still open, update and resolve; only their messages are not sent).
The evaluator reads the silences in effect in its transaction (`active`).

Access: a staff member silences and lists their care teams' patients only (another
patient is "not found"); a silence of a rule for every patient, or of a gateway, is
for a system token (a clinic-wide switch). Each change is audited by the caller's
request (`Access.write_audit`, in the same transaction).

Errors: SilenceRefused (ValueError): no reason, an end before the start, a patient
the caller does not see, an unknown silence.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, Engine, and_, insert, or_, select, update

from ..access.principal import Access
from ..storage.resources import ResourceStore
from ..storage.schema import alert_silences
from .silences import Silence

__all__ = ["SilenceRefused", "active", "add_silence", "end_silence", "list_silences"]

_MAX_REASON = 2000


class SilenceRefused(ValueError):
    """The silence cannot be made or changed (the text says why)."""


@dataclass(frozen=True, slots=True)
class _Row:
    id: str
    patient_id: str | None
    rule: str | None
    gateway: str | None
    starts_ms: int
    ends_ms: int
    reason: str
    author: str


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _silence(row: _Row) -> Silence:
    return Silence(
        row.id,
        _moment(row.starts_ms),
        _moment(row.ends_ms),
        row.reason,
        row.author,
        row.patient_id,
        row.rule,
        row.gateway,
    )


def _rows(connection: Connection, *where: ColumnElement[bool]) -> list[Silence]:
    result = connection.execute(select(alert_silences).where(*where))
    return [
        _silence(
            _Row(r.id, r.patient_id, r.rule, r.gateway, r.starts_ms, r.ends_ms, r.reason, r.author)
        )
        for r in result
    ]


def active(connection: Connection, now_ms: int, *, patient: str | None = None) -> list[Silence]:
    """The silences that may cover this patient's alerts (None: the gateways' alerts) now
    or later: not yet ended, naming the patient (or a gateway), or a rule for everyone."""
    subject = (
        alert_silences.c.patient_id == patient
        if patient is not None
        else alert_silences.c.gateway.is_not(None)
    )
    clinic_wide = and_(
        alert_silences.c.patient_id.is_(None),
        alert_silences.c.gateway.is_(None),
        alert_silences.c.rule.is_not(None),
    )
    return _rows(connection, alert_silences.c.ends_ms > now_ms, or_(subject, clinic_wide))


def _may_silence(access: Access, patient: str | None) -> None:
    if access.unrestricted:
        return
    if patient is None or patient not in (access.patients or frozenset()):
        raise SilenceRefused(
            "Patient not found" if patient else "a clinic-wide silence needs a system token"
        )


def add_silence(
    store: ResourceStore,
    access: Access,
    *,
    reason: str,
    starts: datetime,
    ends: datetime,
    patient: str | None = None,
    rule: str | None = None,
    gateway: str | None = None,
) -> Silence:
    """Pause messages from `starts` to `ends` (a hospital stay, travel, a broken cuff).

    Raises:
        SilenceRefused: see the module docstring.
    """
    _may_silence(access, patient if gateway is None else None)
    author = access.principal.agent_reference or access.principal.agent
    if len(reason) > _MAX_REASON:
        raise SilenceRefused(f"a reason of at most {_MAX_REASON} characters")
    try:
        silence = Silence(
            str(uuid.uuid4()), starts, ends, reason.strip(), author, patient, rule, gateway
        )
    except ValueError as exc:
        raise SilenceRefused(str(exc)) from None
    with store.transaction() as tx:
        tx.connection.execute(
            insert(alert_silences).values(
                id=silence.id,
                patient_id=patient,
                rule=rule,
                gateway=gateway,
                starts_ms=int(starts.timestamp() * 1000),
                ends_ms=int(ends.timestamp() * 1000),
                reason=silence.reason,
                author=author,
                created_ms=store.now_ms(),
            )
        )
        _audit(tx.connection, access, patient)
    access.audited = access.write_audit is not None
    return silence


def end_silence(store: ResourceStore, access: Access, silence_id: str) -> Silence:
    """End a silence now (its messages are sent again from now on).

    Raises:
        SilenceRefused: no such silence the caller may end.
    """
    with store.transaction() as tx:
        found = _rows(tx.connection, alert_silences.c.id == silence_id)
        if not found:
            raise SilenceRefused(f"no silence {silence_id}")
        [silence] = found
        try:
            _may_silence(access, silence.patient if silence.gateway is None else None)
        except SilenceRefused:
            raise SilenceRefused(f"no silence {silence_id}") from None
        now_ms = store.now_ms()
        ends_ms = max(now_ms, int(silence.starts.timestamp() * 1000) + 1)
        tx.connection.execute(
            update(alert_silences)
            .where(alert_silences.c.id == silence_id, alert_silences.c.ends_ms > ends_ms)
            .values(ends_ms=ends_ms)
        )
        _audit(tx.connection, access, silence.patient)
    access.audited = access.write_audit is not None
    return _rows_one(store.engine, silence_id)


def _rows_one(engine: Engine, silence_id: str) -> Silence:
    with engine.connect() as connection:
        return _rows(connection, alert_silences.c.id == silence_id)[0]


def list_silences(
    engine: Engine, access: Access, patients: Collection[str], *, now_ms: int | None = None
) -> list[Silence]:
    """The silences of these patients the caller sees (with `now_ms`: only those not
    ended by then), earliest start first."""
    wanted = sorted(
        set(patients) if access.unrestricted else set(patients) & set(access.patients or ())
    )
    if not wanted:
        return []
    where: list[ColumnElement[bool]] = [alert_silences.c.patient_id.in_(wanted)]
    if now_ms is not None:
        where.append(alert_silences.c.ends_ms > now_ms)
    with engine.connect() as connection:
        found = _rows(connection, *where)
    return sorted(found, key=lambda s: (s.starts, s.id))


def _audit(connection: Connection, access: Access, patient: str | None) -> None:
    """The request's AuditEvent, in the change's transaction (its last step)."""
    if patient is not None:
        access.note([patient])
    if access.write_audit is not None:
        access.write_audit(connection)

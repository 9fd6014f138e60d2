"""People and alerts: list, count, acknowledge and resolve, with the caller's access.

The service the FHIR routes (`alerts/routes.py`) and the alert pages call. The alert
rows are the source of truth (their `content` is the core's record, `alert_to_json`);
a DetectedIssue is a rendering of one (`resources.detected_issue`).

Access: a system token sees every alert; a staff member, the alerts of their care
teams' patients only: another patient's alert is "not found", never "forbidden", so
an id tells nobody that the alert exists. A gateway-offline alert (no patient) is seen,
acknowledged and resolved by the staff of the patients that gateway serves (its Device
is owned by a gateway bound to one of their patients: `fhir_api.access.gateways`).

`acknowledge` and `resolve` run in one transaction with the patient's state row
locked (as the worker holds it while evaluating), the alert row and the request's
AuditEvent (`Access.write_audit`): the rules never overwrite a person's change, and a
change is never missing from the audit trail.

Errors (from `lifecycle`): AlertNotFound (no such alert the caller may see),
TransitionError (e.g. acknowledging twice, resolving without a note).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    false,
    func,
    or_,
    select,
    true,
    update,
)

from ..access.principal import Access
from ..storage.resources import ResourceStore
from ..storage.schema import alert_state, alerts, gateway_patients, resource_owners
from . import lifecycle
from .lifecycle import AlertNotFound, TransitionError
from .model import (
    Alert,
    GatewayState,
    PatientState,
    Severity,
    Status,
    alert_from_json,
    alert_to_json,
    gateways_from_json,
    gateways_to_json,
    state_from_json,
    state_to_json,
)
from .resources import detected_issue
from .seam import GATEWAYS_ROW

__all__ = [
    "AlertFilters",
    "AlertView",
    "acknowledge",
    "as_detected_issue",
    "gateway_devices",
    "gateway_names",
    "get_alert",
    "list_alerts",
    "open_counts",
    "resolve",
    "served_patients",
]

_SEVERITY_RANK = {s.value: s.rank for s in Severity}
_STATUS_RANK = {Status.OPEN.value: 0, Status.ACKNOWLEDGED.value: 1, Status.RESOLVED.value: 2}


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as a caller sees it: its row id (the DetectedIssue id) and the record."""

    id: str
    patient_id: str
    alert: Alert
    updated_ms: int


@dataclass(frozen=True, slots=True)
class AlertFilters:
    """What to list. Empty means any; `identified_*` bound when the alert opened (ms).

    `sort`: "inbox" (open first, then acknowledged, then resolved; within each the most
    severe, then the oldest: what must be seen first), "identified" or "-identified".
    """

    patients: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    conditions: frozenset[str] = frozenset()
    identified_from_ms: int | None = None  # at or after
    identified_before_ms: int | None = None  # before
    sort: str = "inbox"
    count: int = 50
    offset: int = 0


def gateway_devices(connection: Connection, patients: Collection[str]) -> set[str]:
    """The Devices ("Device/<id>") of the gateways that serve any of these patients."""
    if not patients:
        return set()
    serving = select(gateway_patients.c.gateway).where(
        gateway_patients.c.patient_id.in_(sorted(patients))
    )
    rows = connection.execute(
        select(resource_owners.c.resource_id).where(
            resource_owners.c.resource_type == "Device",
            resource_owners.c.gateway.in_(serving),
        )
    ).scalars()
    return {f"Device/{device}" for device in rows}


def gateway_names(engine: Engine, devices: Collection[str]) -> dict[str, str]:
    """The name of the gateway that owns each Device ("Device/<id>" -> e.g. "home-1")."""
    ids = sorted({d.removeprefix("Device/") for d in devices if d.startswith("Device/")})
    if not ids:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(resource_owners.c.resource_id, resource_owners.c.gateway).where(
                resource_owners.c.resource_type == "Device",
                resource_owners.c.resource_id.in_(ids),
            )
        )
        return {f"Device/{device}": str(name) for device, name in rows}


def served_patients(connection: Connection, device: str) -> set[str]:
    """The patients served by the gateway that owns this Device ("Device/<id>")."""
    owner = select(resource_owners.c.gateway).where(
        resource_owners.c.resource_type == "Device",
        resource_owners.c.resource_id == device.removeprefix("Device/"),
    )
    rows = connection.execute(
        select(gateway_patients.c.patient_id).where(gateway_patients.c.gateway.in_(owner))
    ).scalars()
    return {str(patient) for patient in rows}


def _visible(connection: Connection, access: Access) -> ColumnElement[bool]:
    """The alerts the caller may see: their patients', and their patients' gateways'."""
    if access.unrestricted:
        return true()
    patients = sorted(access.patients or ())
    own = and_(alerts.c.patient_id != "", alerts.c.patient_id.in_(patients))
    devices = gateway_devices(connection, patients)
    if not devices:
        return own
    # Gateway alerts are few (one per outage): their gateway is read from the record.
    rows = connection.execute(
        select(alerts.c.id, alerts.c.content).where(alerts.c.patient_id == "")
    )
    ids = sorted(str(row.id) for row in rows if json.loads(row.content).get("gateway") in devices)
    return or_(own, alerts.c.id.in_(ids)) if ids else or_(own, false())


def _view(row: Any) -> AlertView:
    return AlertView(
        str(row.id),
        str(row.patient_id),
        alert_from_json(json.loads(row.content)),
        int(row.updated_ms),
    )


def _where(
    connection: Connection, access: Access, filters: AlertFilters
) -> list[ColumnElement[bool]]:
    clauses = [_visible(connection, access)]
    if filters.patients:
        clauses.append(alerts.c.patient_id.in_(sorted(filters.patients)))
    if filters.statuses:
        clauses.append(alerts.c.status.in_(sorted(filters.statuses)))
    if filters.conditions:
        clauses.append(alerts.c.rule.in_(sorted(filters.conditions)))
    if filters.identified_from_ms is not None:
        clauses.append(alerts.c.opened_ms >= filters.identified_from_ms)
    if filters.identified_before_ms is not None:
        clauses.append(alerts.c.opened_ms < filters.identified_before_ms)
    return clauses


def list_alerts(
    engine: Engine, access: Access, filters: AlertFilters
) -> tuple[list[AlertView], int]:
    """The alerts the caller may see that match, one page of them, and how many match."""
    with engine.connect() as connection:
        clauses = _where(connection, access, filters)
        total = int(
            connection.execute(
                select(func.count()).select_from(alerts).where(*clauses)
            ).scalar_one()
        )
        query = select(alerts).where(*clauses)
        if filters.sort == "identified":
            query = query.order_by(alerts.c.opened_ms, alerts.c.id)
        elif filters.sort == "-identified":
            query = query.order_by(alerts.c.opened_ms.desc(), alerts.c.id)
        else:
            query = query.order_by(
                _rank(alerts.c.status, _STATUS_RANK),
                _rank(alerts.c.severity, _SEVERITY_RANK).desc(),
                alerts.c.opened_ms,
                alerts.c.id,
            )
        rows = connection.execute(query.limit(filters.count).offset(filters.offset)).all()
    return [_view(row) for row in rows], total


def _rank(column: Any, ranks: dict[str, int]) -> Any:
    return case(ranks, value=column, else_=len(ranks))


def get_alert(engine: Engine, access: Access, alert_id: str) -> AlertView:
    """One alert the caller may see.

    Raises:
        AlertNotFound: no such alert, or one of a patient the caller does not see.
    """
    with engine.connect() as connection:
        row = connection.execute(
            select(alerts).where(alerts.c.id == alert_id, _visible(connection, access))
        ).first()
    if row is None:
        raise AlertNotFound(f"DetectedIssue/{alert_id} is not known")
    return _view(row)


def open_counts(
    engine: Engine, access: Access, patient_ids: Collection[str]
) -> dict[str, dict[str, int]]:
    """Per patient, the number of open or acknowledged alerts by severity (for marks on
    the patient list and page); patients the caller does not see are left out."""
    if not patient_ids:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(alerts.c.patient_id, alerts.c.severity, func.count())
            .where(
                _visible(connection, access),
                alerts.c.patient_id.in_(sorted(patient_ids)),
                alerts.c.status != Status.RESOLVED.value,
            )
            .group_by(alerts.c.patient_id, alerts.c.severity)
        )
        counts: dict[str, dict[str, int]] = {}
        for patient, severity, n in rows:
            counts.setdefault(str(patient), {})[str(severity)] = int(n)
    return counts


def _who(access: Access) -> str:
    return access.principal.agent_reference or access.principal.agent


def _change(
    store: ResourceStore,
    access: Access,
    alert_id: str,
    note: str,
    apply: Any,
    now: datetime | None,
) -> AlertView:
    with store.transaction() as tx:
        connection = tx.connection
        row = connection.execute(
            select(alerts).where(alerts.c.id == alert_id, _visible(connection, access))
        ).first()
        if row is None:
            raise AlertNotFound(f"DetectedIssue/{alert_id} is not known")
        if row.status == Status.RESOLVED.value:
            raise TransitionError(f"DetectedIssue/{alert_id} is already resolved")
        core = alert_from_json(json.loads(row.content))
        key = str(row.patient_id) or GATEWAYS_ROW  # a gateway's alert: the gateways' row
        state_json = _locked_state(connection, key)
        state: PatientState | GatewayState = (
            state_from_json(state_json) if row.patient_id else gateways_from_json(state_json)
        )
        moment = now or datetime.fromtimestamp(store.now_ms() / 1000, UTC)
        outcome = apply(state, core.id, by=_who(access), note=note, now=moment)
        [change] = outcome.changes
        now_ms = store.now_ms()
        kept = (
            state_to_json(outcome.state)
            if isinstance(outcome.state, PatientState)
            else gateways_to_json(outcome.state)
        )
        connection.execute(
            update(alert_state)
            .where(alert_state.c.patient_id == key)
            .values(state=json.dumps(kept, ensure_ascii=False), updated_ms=now_ms)
        )
        done = change.alert
        connection.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(
                status=done.status.value,
                updated_ms=now_ms,
                content=json.dumps(alert_to_json(done), ensure_ascii=False),
            )
        )
        if row.patient_id:
            access.note([str(row.patient_id)])
        elif core.gateway is not None:  # the audit trail names the patients it served
            served = served_patients(connection, core.gateway)
            mine = served if access.patients is None else served & access.patients
            access.note(sorted(mine))
        if access.write_audit is not None:
            access.write_audit(connection)
    if access.write_audit is not None:
        access.audited = True
    return AlertView(alert_id, str(row.patient_id), done, now_ms)


def _locked_state(connection: Connection, patient_id: str) -> dict[str, Any]:
    """The patient's state (or the gateways', `GATEWAYS_ROW`), its row locked until the
    transaction ends (the worker and the scan wait)."""
    text = connection.execute(
        select(alert_state.c.state).where(alert_state.c.patient_id == patient_id).with_for_update()
    ).scalar()
    data = json.loads(text) if text else {}
    if patient_id == GATEWAYS_ROW:
        if not data:
            raise AlertNotFound("the gateways' alerts are not kept by the rules")
        return dict(data)
    if data.get("patient") != patient_id:
        raise AlertNotFound(f"the alerts of Patient/{patient_id} are not kept by the rules")
    return dict(data)


def acknowledge(
    store: ResourceStore,
    access: Access,
    alert_id: str,
    note: str = "",
    *,
    now: datetime | None = None,
) -> AlertView:
    """Someone has seen the alert and is on it: its escalation stops.

    Raises:
        AlertNotFound: no such alert the caller may see.
        TransitionError: it is acknowledged or resolved already.
    """
    return _change(store, access, alert_id, note, lifecycle.acknowledge, now)


def resolve(
    store: ResourceStore, access: Access, alert_id: str, note: str, *, now: datetime | None = None
) -> AlertView:
    """Resolve the alert by hand, with a note saying why.

    Raises:
        AlertNotFound: no such alert the caller may see.
        TransitionError: it is resolved already, or there is no note.
    """
    return _change(store, access, alert_id, note, lifecycle.resolve, now)


def as_detected_issue(view: AlertView) -> dict[str, Any]:
    """The alert as a DetectedIssue resource with its id and meta."""
    resource = detected_issue(view.alert)
    last = datetime.fromtimestamp(view.updated_ms / 1000, UTC)
    return {
        "resourceType": "DetectedIssue",
        "id": view.id,
        "meta": {"lastUpdated": last.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
        **{k: v for k, v in resource.items() if k != "resourceType"},
    }


def patients_of(views: Iterable[AlertView]) -> set[str]:
    """The patients of these alerts (for the audit trail)."""
    return {v.patient_id for v in views if v.patient_id}

"""The alert pages' rows, built on the inbox service (`fhir_api.alerts.inbox`).

The inbox service decides who sees which alert and keeps the lifecycle; this module
only turns its `AlertView`s into what a page shows: the patient's name and zone,
the condition and values in words (texts are catalog msgids, translated by the
template), who acknowledged or resolved it by name. `row_of`, `values_text` and
`worst_of` are pure; `inbox_rows`, `open_total` and `staff_names` read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any

from sqlalchemy import Engine, or_, select

from fhir_api.access.principal import Access
from fhir_api.alerts import inbox
from fhir_api.alerts.model import UNITS, Alert, Kind, Severity, Status
from fhir_api.alerts.store import recipient_channels
from fhir_api.dates import patient_zone_name, zone_named
from fhir_api.service import FhirService
from fhir_api.storage.schema import staff_accounts

__all__ = [
    "CONDITIONS",
    "SEVERITY_GLYPHS",
    "SEVERITY_TEXTS",
    "AlertRow",
    "chart_marks",
    "inbox_rows",
    "my_channels",
    "open_total",
    "panel_of",
    "patient_alerts",
    "period_alerts",
    "row_of",
    "staff_names",
    "values_text",
    "worst_of",
]

# Each condition the rules keep, in words (English msgids of the page catalogs).
CONDITIONS: dict[str, str] = {
    "bp-high": "High home blood pressure",
    "bp-urgent": "Very high blood pressure",
    "spo2-low": "Low SpO2",
    "spo2-urgent": "Very low SpO2",
    "pulse-high": "Fast pulse",
    "pulse-low": "Slow pulse",
    "pulse-urgent-high": "Very fast pulse",
    "pulse-urgent-low": "Very slow pulse",
    "temperature-high": "Fever",
    "temperature-low": "Low body temperature",
    "respiration-high": "Fast breathing",
    "respiration-very-high": "Very fast breathing",
    "respiration-low": "Slow breathing",
    "weight-gain": "Weight gain",
    "gateway-offline": "Gateway not reporting",
    "call-me": "Asked to be called",
    "no-reading-systolic": "No blood pressure reading",
    "no-reading-pulse": "No pulse reading",
    "no-reading-spo2": "No SpO2 reading",
    "no-reading-temperature": "No temperature reading",
    "no-reading-respiration": "No respiration reading",
    "no-reading-weight": "No weight reading",
}
_KINDS = {
    Kind.SYSTOLIC: "Blood pressure",
    Kind.DIASTOLIC: "Diastolic",
    Kind.PULSE: "Pulse",
    Kind.SPO2: "SpO2",
    Kind.TEMPERATURE: "Temperature",
    Kind.RESPIRATION: "Respiration",
    Kind.WEIGHT: "Weight",
}
_UNITS = {"mm[Hg]": "mmHg", "/min": "/min", "%": "%", "Cel": "°C", "kg": "kg"}
# Never colour alone: each severity has a glyph and a word too.
SEVERITY_GLYPHS = {Severity.URGENT: "▲▲", Severity.WARNING: "▲", Severity.INFO: "●"}
SEVERITY_TEXTS = {Severity.URGENT: "Urgent", Severity.WARNING: "Warning", Severity.INFO: "Info"}


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert as the pages show it (times in epoch ms; `zone` is the patient's)."""

    id: str
    patient_id: str
    patient_name: str
    zone: tzinfo
    condition: str
    what: str  # msgid
    last: dict[Kind, float]
    worst: dict[Kind, float]
    count: int
    last_at_ms: int | None  # the newest reading beyond the limit (None: a no-reading alert)
    severity: Severity
    status: Status
    opened_ms: int
    acknowledged_by: str | None
    acknowledged_ms: int | None
    acknowledged_note: str
    resolved_by: str | None  # None with resolved_ms: the rule saw the values recover
    resolved_ms: int | None
    resolved_note: str
    gateway: str | None = None  # a gateway's alert (no patient): the gateway's name
    served: tuple[str, ...] = ()  # and the names of the caller's patients it serves


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def values_text(values: Mapping[Kind, float], gettext: Callable[[str], str]) -> str:
    """'血圧 186/112 mmHg' / 'Blood pressure 186/112 mmHg'; 'SpO2 85 %' for one value."""
    if Kind.SYSTOLIC in values and Kind.DIASTOLIC in values:
        pair = f"{_number(values[Kind.SYSTOLIC])}/{_number(values[Kind.DIASTOLIC])}"
        return f"{gettext(_KINDS[Kind.SYSTOLIC])} {pair} mmHg"
    return ", ".join(
        f"{gettext(_KINDS[k])} {_number(v)} {_UNITS.get(UNITS[k], UNITS[k])}"
        for k, v in values.items()
    )


def _ms(moment: Any) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def row_of(view: inbox.AlertView, name: str, zone: tzinfo, names: Mapping[str, str]) -> AlertRow:
    """The row of one alert; `names` maps "Practitioner/7" or "staff:alice" to a name."""
    alert: Alert = view.alert
    ack, done = alert.acknowledged, alert.resolved
    return AlertRow(
        id=view.id,
        patient_id=view.patient_id,
        patient_name=name,
        zone=zone,
        condition=alert.condition,
        what=CONDITIONS.get(alert.condition, alert.condition),
        last=dict(alert.last),
        worst=dict(alert.worst),
        count=alert.count,
        last_at_ms=_ms(alert.last_at) if alert.last else None,
        severity=alert.severity,
        status=alert.status,
        opened_ms=_ms(alert.opened_at) or 0,
        acknowledged_by=names.get(ack.by, ack.by) if ack else None,
        acknowledged_ms=_ms(ack.at) if ack else None,
        acknowledged_note=ack.note if ack else "",
        resolved_by=names.get(done.by, done.by) if done and done.by else None,
        resolved_ms=_ms(done.at) if done else None,
        resolved_note=done.note if done else "",
    )


def worst_of(counts: Mapping[str, int]) -> Severity | None:
    """The most severe level among a patient's open alerts (`inbox.open_counts`' values)."""
    known = {s.value: s for s in Severity}
    found = [known[s] for s, n in counts.items() if n > 0 and s in known]
    return max(found, key=lambda s: s.rank, default=None)


def staff_names(engine: Engine, who: Iterable[str]) -> dict[str, str]:
    """The display names of the people an alert names ("Practitioner/7", "staff:alice")."""
    practitioners = {w.removeprefix("Practitioner/") for w in who if w.startswith("Practitioner/")}
    usernames = {w.removeprefix("staff:") for w in who if w.startswith("staff:")}
    if not practitioners and not usernames:
        return {}
    columns = (staff_accounts.c.username, staff_accounts.c.display_name)
    found: dict[str, str] = {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(*columns, staff_accounts.c.practitioner_id).where(
                or_(
                    staff_accounts.c.practitioner_id.in_(sorted(practitioners)),
                    staff_accounts.c.username.in_(sorted(usernames)),
                )
            )
        )
        for username, display, practitioner in rows:
            shown = display or username
            if practitioner in practitioners:
                found[f"Practitioner/{practitioner}"] = shown
            if username in usernames:
                found[f"staff:{username}"] = shown
    return found


def _people(views: Sequence[inbox.AlertView]) -> set[str]:
    who = set()
    for view in views:
        if view.alert.acknowledged is not None:
            who.add(view.alert.acknowledged.by)
        if view.alert.resolved is not None and view.alert.resolved.by:
            who.add(view.alert.resolved.by)
    return who


def inbox_rows(
    service: FhirService,
    access: Access,
    filters: inbox.AlertFilters,
    default_zone: tzinfo,
    display_name: Callable[[dict[str, Any]], str],
) -> tuple[list[AlertRow], int]:
    """One page of the caller's alerts as rows, and how many match (the service's order).

    Patient names and zones come from one `read_many` with the same Access (a gateway's
    alert, which has no patient, is shown under the gateway's name, in the server's zone).
    """
    engine = service.store.engine
    views, total = inbox.list_alerts(engine, access, filters)
    patient_ids = sorted({v.patient_id for v in views if v.patient_id})
    patients = {
        p.id: p.content
        for start in range(0, len(patient_ids), 100)
        for p in service.read_many("Patient", patient_ids[start : start + 100], access=access)
    }
    names = staff_names(engine, _people(views))
    devices = {v.alert.gateway for v in views if not v.patient_id and v.alert.gateway}
    gateways = inbox.gateway_names(engine, devices)
    with engine.connect() as connection:
        serves = {d: inbox.served_patients(connection, d) for d in sorted(devices)}
    served_ids = sorted({p for found in serves.values() for p in found} - set(patients))
    patients.update(
        (p.id, p.content)
        for start in range(0, len(served_ids), 100)
        for p in service.read_many("Patient", served_ids[start : start + 100], access=access)
    )
    rows = []
    for view in views:
        content = patients.get(view.patient_id)
        zone_name = patient_zone_name(content) if content else None
        zone = (zone_named(zone_name) if zone_name else None) or default_zone
        device = view.alert.gateway or ""
        gateway = None if view.patient_id else gateways.get(device, device)
        name = display_name(content) if content else (gateway or view.patient_id)
        served = tuple(
            sorted(display_name(patients[p]) for p in serves.get(device, ()) if p in patients)
        )
        row = row_of(view, name, zone, names)
        rows.append(replace(row, gateway=gateway, served=served) if gateway else row)
    access.note(inbox.patients_of(views))
    return rows, total


RECENT_MS = 7 * 24 * 3600 * 1000  # the patient page shows alerts resolved in the last 7 days


def patient_alerts(
    service: FhirService,
    access: Access,
    patient_id: str,
    now_ms: int,
    default_zone: tzinfo,
    display_name: Callable[[dict[str, Any]], str],
) -> list[AlertRow]:
    """A patient's unresolved alerts (inbox order), then those resolved in the last 7 days."""
    active = inbox.AlertFilters(
        patients=frozenset({patient_id}),
        statuses=frozenset({Status.OPEN.value, Status.ACKNOWLEDGED.value}),
        count=20,
    )
    recent = inbox.AlertFilters(
        patients=frozenset({patient_id}),
        statuses=frozenset({Status.RESOLVED.value}),
        identified_from_ms=now_ms - RECENT_MS,
        sort="-identified",
        count=10,
    )
    rows = inbox_rows(service, access, active, default_zone, display_name)[0]
    done = inbox_rows(service, access, recent, default_zone, display_name)[0]
    return rows + done


# The chart panel each condition is marked on (the others have no panel of their own).
PANELS = {"bp": "bp", "spo2": "spo2", "pulse": "pulse"}


def panel_of(condition: str) -> str | None:
    """The chart panel of a condition: "bp" for bp-high and bp-urgent, "spo2", "pulse"; None
    for the rest."""
    return PANELS.get(condition.split("-", 1)[0])


def chart_marks(
    rows: Iterable[AlertRow], start_s: float, end_s: float, gettext: Callable[[str], str]
) -> dict[str, list[tuple[int, str]]]:
    """Per chart panel, each alert opened within the charts' period: (epoch seconds, text).

    The text is what the mark says on hover: severity word, condition, values, state.
    """
    marks: dict[str, list[tuple[int, str]]] = {}
    states = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}
    for row in rows:
        panel = panel_of(row.condition)
        at = row.opened_ms // 1000
        if panel is None or not start_s <= at < end_s:
            continue
        text = f"{SEVERITY_GLYPHS[row.severity]} {gettext(SEVERITY_TEXTS[row.severity])} "
        text += gettext(row.what)
        if row.last:
            text += f": {values_text(row.last, gettext)}"
        text += f" ({gettext(states[row.status.value])})"
        marks.setdefault(panel, []).append((at, text))
    return marks


def period_alerts(
    service: FhirService,
    access: Access,
    patient_id: str,
    start_ms: int,
    end_ms: int,
    default_zone: tzinfo,
    display_name: Callable[[dict[str, Any]], str],
) -> list[AlertRow]:
    """The patient's alerts that opened within the charts' period, any state (at most 200)."""
    filters = inbox.AlertFilters(
        patients=frozenset({patient_id}),
        identified_from_ms=start_ms,
        identified_before_ms=end_ms,
        sort="identified",
        count=200,
    )
    return inbox_rows(service, access, filters, default_zone, display_name)[0]


def my_channels(engine: Engine, access: Access) -> list[tuple[str, str | None]] | None:
    """How the caller's alert messages reach them: (channel, address) pairs, as an
    administrator set them (`homevitals admin alerts`); None for a caller who is no
    Practitioner (no message is addressed to them)."""
    recipient = access.principal.agent_reference
    if recipient is None:
        return None
    with engine.connect() as connection:
        return recipient_channels(connection, recipient)


def open_total(engine: Engine, access: Access) -> int:
    """How many open alerts (not yet acknowledged) the caller sees: the header's number,
    their patients' and their patients' gateways' alike (`inbox.list_alerts`' access)."""
    if not access.unrestricted and not access.patients:
        return 0
    only_open = inbox.AlertFilters(statuses=frozenset({Status.OPEN.value}), count=0)
    return inbox.list_alerts(engine, access, only_open)[1]

"""The real `seam.Evaluator`: the pure core, fed from the worker's transaction.

For each evaluation it reads, in the transaction that holds the patient's state row:
the Patient (its zone from tz-code, else the server's; its vital-sign limits, the
thresholds of the flags and the alerts alike) and the care team chain
(`people.care_chain`). Then the core decides (`readings_of`, `evaluate` /
`scan_patient`, `notifications`) and this module turns the outcome into the seam's
`Evaluation`: the new state, every alert that changed (its row's content is the
core's `alert_to_json`, so the DetectedIssue and the inbox read the core's own record)
and one outgoing part per recipient and alert change, in the recipient's language.

A "please call me" Communication in the work (issue 14) opens or adds to the
patient's urgent `call-me` alert (`call_me.pressed`).

A reading the rules no longer judge (entered-in-error, cancelled, moved to another
patient) is passed to the core as `retracted`, so it leaves the history and confirms
nothing.

Gateways: `scan_gateways` runs once per scheduled scan (under the scan lease), opens
and resolves the gateway-offline alerts from the gateways' heartbeat Devices, and
keeps their state in the reserved `alert_state` row `GATEWAYS_ROW`; each patient scan
reads it, so a silent gateway suppresses its patients' no-reading alerts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, exists, select
from sqlalchemy.orm import aliased

from fhir_api.alert_rules import alert_rules_of
from fhir_api.dates import patient_zone_name, zone_named
from fhir_api.patient_requests import is_call_me
from fhir_api.vital_limits import limits_of

from ..storage.indexing import GATEWAY_PARAM
from ..storage.schema import alert_state, resources, search_references, search_terms
from ..storage.search_keys import terms
from . import silence_store
from .call_me import Press, pressed
from .evaluate import evaluate
from .messages import item_payload
from .model import (
    Alert,
    Change,
    ChangeKind,
    GatewayState,
    PatientState,
    alert_to_json,
    gateways_from_json,
    gateways_to_json,
    state_from_json,
    state_to_json,
)
from .notify import Recipient, notifications
from .observations import readings_of
from .people import care_chain
from .preferences import recipients
from .queue import patient_of
from .rules import Rules, rules_for
from .schedule import next_due, scan_gateways, scan_patient
from .seam import GATEWAYS_ROW, AlertRecord, Evaluation, Outgoing

__all__ = [
    "GATEWAYS_ROW",
    "RETIRED_AFTER",
    "RuleEvaluator",
    "alert_row_id",
    "gateway_heartbeats",
    "gateway_patients",
    "patient_display_name",
    "press_of",
]

# A gateway silent this long is taken as retired (replaced, returned): it raises no new
# alert (one already open stays until someone resolves it or the gateway reports).
RETIRED_AFTER = timedelta(days=30)

_ALERT_IDS = uuid.UUID("6f1d0e7c-3b1a-4c55-9a57-1e2f4a0b8c13")


def store_ms(moment: datetime) -> int:
    """An aware datetime as the schema's epoch milliseconds."""
    return int(moment.timestamp() * 1000)


def alert_row_id(core_id: str) -> str:
    """The alert's row and DetectedIssue id: a FHIR id (36 characters) for the core's id
    (e.g. "p1/bp-urgent/3", which has slashes and may be longer than 64)."""
    return str(uuid.uuid5(_ALERT_IDS, core_id))


def patient_display_name(patient: Mapping[str, Any] | None) -> str | None:
    """The name a message shows (the first name's text, else family and given)."""
    for name in (patient or {}).get("name") or ():
        if not isinstance(name, dict):
            continue
        text = name.get("text") or " ".join(
            str(part) for part in (name.get("family"), *(name.get("given") or ())) if part
        )
        if text:
            return str(text)
    return None


def press_of(communication: Mapping[str, Any], patient_id: str) -> Press | None:
    """The "please call me" of this patient in a stored Communication (None: anything else).

    The press's time is `sent` (when the button was pressed), else the server's
    lastUpdated.
    """
    if not is_call_me(dict(communication)) or patient_of(communication) != patient_id:
        return None
    identifier = communication.get("id")
    meta = communication.get("meta")
    text = communication.get("sent") or (
        meta.get("lastUpdated") if isinstance(meta, dict) else None
    )
    if not isinstance(identifier, str) or not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return Press(identifier, at)


def _read_patient(connection: Connection, patient_id: str) -> dict[str, Any] | None:
    content = connection.execute(
        select(resources.c.content).where(
            resources.c.resource_type == "Patient",
            resources.c.id == patient_id,
            resources.c.deleted.is_(False),
        )
    ).scalar()
    return dict(json.loads(content)) if content else None


def gateway_heartbeats(connection: Connection, now: datetime) -> dict[str, datetime]:
    """Each gateway readings name ("Device/<id>") and its last contact: its heartbeat
    Device's lastUpdated (the heartbeat replaces that Device). Gateways silent for more
    than `RETIRED_AFTER`, or whose Device is gone, are left out."""
    # The gateway terms in use: a term is kept after its last reading goes, so only
    # those some index row still names.
    named = select(search_terms.c.code).where(
        search_terms.c.resource_type == "Observation",
        search_terms.c.param == GATEWAY_PARAM,
        search_terms.c.code.like("Device/%"),
        exists().where(search_references.c.term == search_terms.c.id),
    )
    ids = sorted(str(t).split("/", 1)[1] for t in connection.execute(named).scalars())
    found: dict[str, datetime] = {}
    oldest = now - RETIRED_AFTER
    for start in range(0, len(ids), 500):
        rows = connection.execute(
            select(resources.c.id, resources.c.last_updated).where(
                resources.c.resource_type == "Device",
                resources.c.id.in_(ids[start : start + 500]),
                resources.c.deleted.is_(False),
            )
        )
        for device, last_ms in rows:
            seen = datetime.fromtimestamp(int(last_ms) / 1000, UTC)
            if seen >= oldest:
                found[f"Device/{device}"] = seen
    return found


def gateway_patients(connection: Connection, gateway: str) -> list[str]:
    """The patients whose readings name this gateway (ids)."""
    by_gateway = aliased(search_references)
    subject = aliased(search_references)
    subject_term = aliased(search_terms)
    gateway_terms = terms("Observation", GATEWAY_PARAM, search_terms.c.code == gateway)
    rows = connection.execute(
        select(subject_term.c.code)
        .select_from(
            by_gateway.join(subject, subject.c.resource_key == by_gateway.c.resource_key).join(
                subject_term, subject_term.c.id == subject.c.term
            )
        )
        .where(
            by_gateway.c.term.in_(gateway_terms),
            subject_term.c.resource_type == "Observation",
            subject_term.c.param == "subject",
            subject_term.c.code.like("Patient/%"),
        )
        .distinct()
    ).scalars()
    return sorted(str(target).split("/", 1)[1] for target in rows)


def read_gateway_state(connection: Connection) -> GatewayState:
    """The clinic's gateway alerts (none before the first scan)."""
    text = connection.execute(
        select(alert_state.c.state).where(alert_state.c.patient_id == GATEWAYS_ROW)
    ).scalar()
    data = json.loads(text) if text else {}
    return gateways_from_json(data) if data else GatewayState()


@dataclass(frozen=True, slots=True)
class _Patient:
    """What the rules need to know of one patient, read once per evaluation."""

    id: str
    rules: Rules
    zone: tzinfo
    name: str | None


class RuleEvaluator:
    """The alert rules as the queue calls them.

    Args:
        server_zone: the zone of a patient without tz-code (the server's setting).
        base_url: the clinic's address for the links in messages (e.g.
            https://clinic.example); a link is the patient's page under it.
        language: the language of the messages ("ja" or "en").
    """

    def __init__(
        self, *, server_zone: str = "UTC", base_url: str = "", language: str = "ja"
    ) -> None:
        self.server_zone = server_zone
        self.base_url = base_url
        self.language = language
        self._gateway_cache: tuple[tuple[int, datetime], GatewayState] | None = None

    # --- the seam -------------------------------------------------------------------------

    def evaluate(
        self,
        patient_id: str,
        state: Mapping[str, Any],
        observations: Sequence[Mapping[str, Any]],
        now: datetime,
        *,
        connection: Connection,
    ) -> Evaluation:
        """Judge the patient's new readings (see the module docstring)."""
        patient = self._patient(connection, patient_id)
        current = _state_of(patient_id, state)
        readings, retracted, presses = [], [], []
        for observation in observations:
            if observation.get("resourceType") == "Communication":
                press = press_of(observation, patient_id)
                if press is not None:
                    presses.append(press)
                continue
            found = [r for r in readings_of(observation) if r.patient == patient_id]
            if found:
                readings.extend(found)
            elif isinstance(observation.get("id"), str):
                retracted.append(str(observation["id"]))
        outcome = evaluate(current, readings, patient.rules, now, retracted=retracted)
        asked = pressed(outcome.state, presses, now)
        changes = (*outcome.changes, *asked.changes)
        return self._conclude(connection, patient, asked.state, changes, now)

    def scan(
        self, patient_id: str, state: Mapping[str, Any], now: datetime, *, connection: Connection
    ) -> Evaluation:
        """The patient's time-based rules: closed sittings, no reading, escalation."""
        patient = self._patient(connection, patient_id)
        current = _state_of(patient_id, state)
        new, changes = scan_patient(current, patient.rules, now, self._gateways(connection, now))
        return self._conclude(connection, patient, new, changes, now)

    def scan_gateways(
        self, state: Mapping[str, Any], now: datetime, *, connection: Connection
    ) -> Evaluation:
        """Open a gateway-offline alert per silent gateway, resolve it when it reports.

        Its message goes to the chains of the patients whose readings came through it.
        """
        self._gateway_cache = None  # the patients' scans that follow read the new state
        current = gateways_from_json(state) if state else GatewayState()
        heartbeats = gateway_heartbeats(connection, now)
        new, changes = scan_gateways(current, heartbeats, rules_for(zone=self.server_zone), now)
        outgoing: list[Outgoing] = []
        if changes:
            chains: dict[str, list[Recipient]] = {}
            languages: dict[str, str] = {}

            def chain_of(alert: Alert) -> list[Recipient]:
                gateway = alert.gateway or ""
                if gateway not in chains:
                    people: dict[str, None] = {}
                    for patient in gateway_patients(connection, gateway):
                        people.update(dict.fromkeys(care_chain(connection, patient)))
                    chains[gateway], spoken = recipients(
                        connection, list(people), zone=self.server_zone, language=self.language
                    )
                    languages.update(spoken)
                return chains[gateway]

            zone = zone_named(self.server_zone) or UTC
            paused = silence_store.active(connection, store_ms(now))
            for message in notifications(changes, chain_of, now, silences=paused):
                for item in message.items:
                    payload = item_payload(
                        item,
                        language=languages.get(message.recipient, self.language),
                        zone=zone,
                        base_url=self.base_url,
                    )
                    outgoing.append(
                        Outgoing(message.recipient, message.group, message.send_at, payload)
                    )
        return Evaluation(
            state=gateways_to_json(new),
            due_at=None,
            alerts=alert_records(changes),
            outgoing=outgoing,
        )

    # --- the parts ------------------------------------------------------------------------

    def _gateways(self, connection: Connection, now: datetime) -> GatewayState:
        """The gateway alerts, read once per scan batch (one connection, one `now`)."""
        key = (id(connection), now)
        cached = self._gateway_cache
        if cached is None or cached[0] != key:
            cached = (key, read_gateway_state(connection))
            self._gateway_cache = cached
        return cached[1]

    def _patient(self, connection: Connection, patient_id: str) -> _Patient:
        resource = _read_patient(connection, patient_id)
        zone_name = (patient_zone_name(resource) if resource else None) or self.server_zone
        limits = limits_of(resource or {})
        overrides = alert_rules_of(resource or {}).overrides()
        rules = rules_for(overrides, limits=limits, zone=zone_name)
        zone = zone_named(zone_name) or UTC
        return _Patient(patient_id, rules, zone, patient_display_name(resource))

    def _conclude(
        self,
        connection: Connection,
        patient: _Patient,
        state: PatientState,
        changes: Iterable[Change],
        now: datetime,
    ) -> Evaluation:
        changes = list(changes)
        outgoing: list[Outgoing] = []
        if changes:
            chain, languages = recipients(
                connection,
                care_chain(connection, patient.id),
                zone=patient.rules.zone,
                language=self.language,
            )
            paused = silence_store.active(connection, store_ms(now), patient=patient.id)
            for message in notifications(changes, lambda _: chain, now, silences=paused):
                for item in message.items:
                    payload = item_payload(
                        item,
                        language=languages.get(message.recipient, self.language),
                        zone=patient.zone,
                        patient_name=patient.name,
                        base_url=self.base_url,
                    )
                    outgoing.append(
                        Outgoing(message.recipient, message.group, message.send_at, payload)
                    )
        return Evaluation(
            state=state_to_json(state),
            due_at=next_due(state, patient.rules),
            alerts=alert_records(changes),
            outgoing=outgoing,
        )


_AUDITED = frozenset({ChangeKind.OPENED, ChangeKind.RESOLVED, ChangeKind.ESCALATED})


def alert_records(changes: Iterable[Change]) -> list[AlertRecord]:
    """The rows of the alerts these changes leave (the last version of each), with the
    last state change of each for the audit trail."""
    latest: dict[str, Alert] = {}
    audited: dict[str, str] = {}
    for change in changes:
        latest[change.alert.id] = change.alert
        if change.kind in _AUDITED:
            audited[change.alert.id] = change.kind.value
    return [
        AlertRecord(
            alert_row_id(alert.id),
            alert.patient or "",
            alert.condition,
            alert.status.value,
            alert.severity.value,
            alert.opened_at,
            alert_to_json(alert),
            audited.get(alert.id, ""),
        )
        for alert in latest.values()
    ]


def _state_of(patient_id: str, stored: Mapping[str, Any]) -> PatientState:
    """The stored state, or a new one (a first reading; a state the core never wrote)."""
    if stored.get("patient") == patient_id:
        return state_from_json(stored)
    return PatientState(patient_id)

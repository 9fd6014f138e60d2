"""An alert as a FHIR R4 `DetectedIssue` (pure: the alert in, FHIR JSON out).

Issue 13: alerts are FHIR resources too, with references to the Observations that
caused them and the acknowledgements recorded on them. `DetectedIssue` has both
(`implicated`, `mitigation`); a `Flag` has neither. The mapping:

- `identifier`: the core's alert id (system `ALERT_ID`), so the store finds the
  resource of an alert without parsing ids;
- `status`: `preliminary` while the alert is open or acknowledged (still being worked),
  `final` once resolved; the precise state (open, acknowledged, resolved) is the
  `alert-state` extension, a code the inbox can filter on;
- `code`: the condition (system `CONDITIONS`, e.g. `bp-urgent`); `severity`: urgent is
  `high`, warning `moderate`, info `low`;
- `patient`, `identifiedDateTime` (when it opened), `implicated`: its Observations (a
  gateway's alert: the gateway Device);
- `mitigation`: one entry per person's step, the acknowledgement and a resolution,
  each with its date, author (when it is a FHIR reference) and note (`action.text`);
- `detail`: a one-line summary without names, values only (the page shows the rest).

Who may see it is the patient's compartment, as for the Observations it cites.
"""

from __future__ import annotations

from typing import Any

from .call_me import CALL_ME_CONDITION
from .model import UNITS, Alert, Kind, Severity, Status
from .observations import observation_of

__all__ = ["ACTIONS", "ALERT_ID", "ALERT_STATE", "CONDITIONS", "detected_issue"]

_BASE = "http://homevitals.org/fhir"
ALERT_ID = f"{_BASE}/alert-id"
CONDITIONS = f"{_BASE}/CodeSystem/alert-condition"
ACTIONS = f"{_BASE}/CodeSystem/alert-action"
ALERT_STATE = f"{_BASE}/StructureDefinition/alert-state"
ESCALATION = f"{_BASE}/StructureDefinition/alert-escalation"
_SEVERITY = {Severity.URGENT: "high", Severity.WARNING: "moderate", Severity.INFO: "low"}


def _reference(who: str | None) -> dict[str, str] | None:
    """A staff member as a reference when the id is one (e.g. Practitioner/7)."""
    if who and "/" in who and who.split("/", 1)[0][:1].isupper():
        return {"reference": who}
    return None


def _values(values: dict[Kind, float]) -> str:
    """'186/98 mm[Hg]' for blood pressure, '92 %' for one value."""

    def number(value: float) -> str:
        return f"{value:.1f}".rstrip("0").rstrip(".")

    if Kind.SYSTOLIC in values and Kind.DIASTOLIC in values:
        pair = f"{number(values[Kind.SYSTOLIC])}/{number(values[Kind.DIASTOLIC])}"
        return f"{pair} {UNITS[Kind.SYSTOLIC]}"
    return ", ".join(f"{number(v)} {UNITS[k]}" for k, v in values.items())


def _detail(alert: Alert) -> str:
    if alert.gateway is not None and alert.patient is None:
        return f"{alert.condition}: no report since {alert.last_at:%Y-%m-%dT%H:%M%z}"
    if alert.condition == CALL_ME_CONDITION:
        pressed = f"{alert.last_at:%Y-%m-%dT%H:%M%z}"
        return f"{alert.condition}: pressed at {pressed}; {alert.count} press(es)"
    if not alert.last:
        seen = f" since {alert.last_at:%Y-%m-%dT%H:%M%z}" if alert.last_at else ""
        return f"{alert.condition}{seen}"
    text = f"{alert.condition}: last {_values(alert.last)}"
    if alert.worst and alert.worst != alert.last:
        text += f", worst {_values(alert.worst)}"
    return f"{text}; {alert.count} reading(s)"


def _step(code: str, at: str, who: str | None, note: str) -> dict[str, Any]:
    action: dict[str, Any] = {"coding": [{"system": ACTIONS, "code": code}]}
    if note:
        action["text"] = note
    step: dict[str, Any] = {"action": action, "date": at}
    if (author := _reference(who)) is not None:
        step["author"] = author
    return step


def detected_issue(alert: Alert) -> dict[str, Any]:
    """The alert as DetectedIssue JSON (no `id` or `meta`: the store assigns them)."""
    resource: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "extension": [{"url": ALERT_STATE, "valueCode": alert.status.value}],
        "identifier": [{"system": ALERT_ID, "value": alert.id}],
        "status": "final" if alert.status is Status.RESOLVED else "preliminary",
        "code": {
            "coding": [{"system": CONDITIONS, "code": alert.condition}],
            "text": alert.condition,
        },
        "severity": _SEVERITY[alert.severity],
        "identifiedDateTime": alert.opened_at.isoformat(),
        "detail": _detail(alert),
    }
    if alert.escalation:
        resource["extension"].append({"url": ESCALATION, "valueInteger": alert.escalation})
    if alert.patient is not None:
        resource["patient"] = {"reference": f"Patient/{alert.patient}"}
    # A call-me alert holds the presses (Communications), the others their readings.
    source = "Communication" if alert.condition == CALL_ME_CONDITION else "Observation"
    # A night's SampledData gives many readings ("<id>#<i>"): its Observation once.
    held = dict.fromkeys(observation_of(o) for o in alert.observations)
    implicated = [{"reference": f"{source}/{o}"} for o in held]
    if alert.gateway is not None and alert.patient is None:
        implicated.append({"reference": alert.gateway})
    if implicated:
        resource["implicated"] = implicated
    steps = []
    if (ack := alert.acknowledged) is not None:
        steps.append(_step("acknowledged", ack.at.isoformat(), ack.by, ack.note))
    if (done := alert.resolved) is not None:
        code = "resolved" if done.by is not None else "resolved-by-rule"
        steps.append(_step(code, done.at.isoformat(), done.by, done.note))
    if steps:
        resource["mitigation"] = steps
    return resource

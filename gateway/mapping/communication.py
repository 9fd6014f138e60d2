"""A press of the call button as a FHIR R4 Communication from the patient to the care team.

Shape (issue 14; the server's alert rules key on the HomeVitals code)::

    {"resourceType": "Communication",
     "identifier": [{"system": "<HOMEVITALS>/sid/call-button-press",
                     "value": "<gateway key>-<press number>"}],
     "status": "completed",
     "category": [{"coding": [<communication-category alert|notification>]},
                  {"coding": [<HOMEVITALS>/CodeSystem/patient-request call-me|fine-today]}],
     "priority": "asap" | "routine",
     "subject": {"reference": "Patient/<id>"},
     "sender": {"reference": "Patient/<id>"},
     "recipient": [{"reference": "CareTeam/<id>"}],      # when the gateway knows it
     "sent": "<UTC instant of the press>",
     "payload": [{"contentString": "Please call me"}]}

The identifier is the gateway's key and a press number the outbox hands out once
(`Outbox.next_number`), so an upload repeated after a lost answer is a conditional
create that finds the first one (If-None-Exist), and a restart never reuses a number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .bundle import BundleEntry, token_query
from .codes import HOMEVITALS
from .devices import GatewayIdentity
from .identifiers import PatientLink, stable_urn

__all__ = [
    "COMMUNICATION_CATEGORY",
    "PATIENT_REQUEST_SYSTEM",
    "PRESS_IDENTIFIER_SYSTEM",
    "Request",
    "communication_entry",
    "request_of",
]

PRESS_IDENTIFIER_SYSTEM = f"{HOMEVITALS}/sid/call-button-press"
PATIENT_REQUEST_SYSTEM = f"{HOMEVITALS}/CodeSystem/patient-request"
COMMUNICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"


class Request(StrEnum):
    """What a press asks for."""

    CALL_ME = "call-me"  # short press
    FINE_TODAY = "fine-today"  # long press: the 見守り check-in


# request -> (standard category, priority, text for the care team)
_REQUESTS: dict[Request, tuple[str, str, str]] = {
    Request.CALL_ME: ("alert", "asap", "Please call me"),
    Request.FINE_TODAY: ("notification", "routine", "I am fine today"),
}


def communication_entry(
    request: Request,
    *,
    gateway: GatewayIdentity,
    patient: PatientLink,
    number: int,
    sent: datetime,
    care_team: str | None = None,
) -> BundleEntry:
    """The conditional create of one press.

    Args:
        request: short press (CALL_ME) or long press (FINE_TODAY).
        gateway: this gateway (its key names the press).
        patient: who pressed (the button's patient).
        number: the press number from the outbox (unique per gateway, never reused).
        sent: when the button was pressed (aware).
        care_team: the CareTeam's logical id, when the gateway knows it.
    """
    category, priority, text = _REQUESTS[request]
    value = f"{gateway.key}-{number}"
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [{"system": PRESS_IDENTIFIER_SYSTEM, "value": value}],
        "status": "completed",
        "category": [
            {"coding": [{"system": COMMUNICATION_CATEGORY, "code": category}]},
            {
                "coding": [
                    {"system": PATIENT_REQUEST_SYSTEM, "code": request.value, "display": text}
                ]
            },
        ],
        "priority": priority,
        "subject": {"reference": patient.reference},
        "sender": {"reference": patient.reference},
        "sent": sent.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "payload": [{"contentString": text}],
    }
    if care_team is not None:
        resource["recipient"] = [{"reference": f"CareTeam/{care_team}"}]
    return BundleEntry(
        stable_urn("Communication", value),
        resource,
        token_query("identifier", PRESS_IDENTIFIER_SYSTEM, value),
    )


def request_of(resource: dict[str, Any]) -> Request | None:
    """The request a queued Communication carries (None for any other resource)."""
    if resource.get("resourceType") != "Communication":
        return None
    for category in resource.get("category", []):
        for coding in category.get("coding", []):
            if coding.get("system") == PATIENT_REQUEST_SYSTEM:
                return Request(coding["code"])
    return None

"""What patients asked for from home, for the pages (issue 14): "Asked to be called 10:32
(2 h ago)" on the patient page, a marker in the list.

Read through `FhirService.search` with the signed-in user's access (a role that may
not read Communications sees no line, never an error), and told apart by the one seam
`fhir_api.patient_requests.patient_request`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from fhir_api.access.principal import Access
from fhir_api.access.scopes import Interaction
from fhir_api.codes import CALL_ME, FINE_TODAY, PATIENT_REQUEST
from fhir_api.patient_requests import patient_request
from fhir_api.service import FhirService

from .formatting import age_text, moment
from .summary import age

__all__ = ["RECENT_MS", "PatientRequest", "recent_requests", "request_lines"]

# How far back a request is shown: a call asked for last week is no longer news.
RECENT_MS = 3 * 86_400_000
_TEXTS = {
    CALL_ME: "Asked to be called {when} ({ago})",
    FINE_TODAY: "Fine today, said {when} ({ago})",
}


@dataclass(frozen=True, slots=True)
class PatientRequest:
    """One patient's newest request of one kind."""

    patient: str
    kind: str  # call-me or fine-today
    at_ms: int


def _sent_ms(text: object) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        sent = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(sent.astimezone(UTC).timestamp() * 1000) if sent.tzinfo else None


def recent_requests(
    service: FhirService, access: Access, patients: Sequence[str] | None, now_ms: int
) -> dict[str, dict[str, PatientRequest]]:
    """patient -> kind -> the newest request sent in the last RECENT_MS (one search).

    `patients` None: every patient the caller reaches (the list).
    """
    if not access.principal.scopes.allows("Communication", Interaction.SEARCH):
        return {}
    since = datetime.fromtimestamp((now_ms - RECENT_MS) / 1000, UTC)
    params = [
        ("category", f"{PATIENT_REQUEST}|{CALL_ME},{PATIENT_REQUEST}|{FINE_TODAY}"),
        ("sent", "ge" + since.isoformat(timespec="seconds").replace("+00:00", "Z")),
        ("_count", "1000"),
    ]
    if patients is not None:
        params.append(("patient", ",".join(patients)))
    result, _ = service.search("Communication", params, access=access)
    found: dict[str, dict[str, PatientRequest]] = {}
    for match in result.matches:
        kind = patient_request(match.content)
        at_ms = _sent_ms(match.content.get("sent"))
        subject = str((match.content.get("subject") or {}).get("reference", ""))
        if kind is None or at_ms is None or not subject.startswith("Patient/"):
            continue
        patient = subject.split("/", 1)[1]
        newest = found.setdefault(patient, {}).get(kind)
        if newest is None or at_ms > newest.at_ms:
            found[patient][kind] = PatientRequest(patient, kind, at_ms)
    return found


def request_lines(
    requests: dict[str, PatientRequest],
    now_ms: int,
    zone: tzinfo,
    language: str,
    gettext: Callable[[str], str],
) -> list[tuple[str, str]]:
    """(kind, sentence) for one patient's requests, a call first."""
    return [
        (
            kind,
            gettext(_TEXTS[kind]).format(
                when=moment(requests[kind].at_ms, zone, language),
                ago=age_text(age(now_ms, requests[kind].at_ms), gettext),
            ),
        )
        for kind in (CALL_ME, FINE_TODAY)
        if kind in requests
    ]

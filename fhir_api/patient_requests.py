"""What a patient asked for from home (pure): the seam between a stored Communication and
whoever acts on it (issue 14).

The call button at home uploads each press as a Communication from the patient with a
category in the HomeVitals `patient-request` CodeSystem: `call-me` (a short press,
"please call me") or `fine-today` (a long press, the daily 見守り check-in). The
alert rules, the patient page and the patient list ask these functions, never the
JSON, so the shape is read in one place.
"""

from __future__ import annotations

from typing import Any

from .codes import CALL_ME, FINE_TODAY, PATIENT_REQUEST, codings

__all__ = ["REQUESTS", "is_call_me", "patient_request"]

# The requests a patient can make, in the order a page lists them.
REQUESTS = (CALL_ME, FINE_TODAY)


def patient_request(resource: dict[str, Any]) -> str | None:
    """`call-me` or `fine-today` for a completed request Communication, else None.

    A Communication marked entered-in-error (a press recorded by mistake) or still in
    preparation asks for nothing.
    """
    if resource.get("resourceType") != "Communication" or resource.get("status") != "completed":
        return None
    for category in resource.get("category", ()):
        for system, code in codings(category):
            if system == PATIENT_REQUEST and code in REQUESTS:
                return code
    return None


def is_call_me(resource: dict[str, Any]) -> bool:
    """Whether this resource is a patient's "please call me" (what raises an alert)."""
    return patient_request(resource) == CALL_ME

"""A clinician's review of a patient's vitals, as a FHIR Task and as the pages show it (pure).

"Mark as reviewed" (issue 12) is stored as a completed Task with HomeVitals' code
`vitals-review`: `for` the Patient, `owner` the reviewing Practitioner,
`executionPeriod` the days reviewed (dates in the patient's calendar, no offset),
`authoredOn` when, in the patient's zone. Any FHIR client finds it with
`Task?patient=…&code=http://homevitals.org/fhir/CodeSystem/task|vitals-review`.
The pages read it back as a `Review`; the list's "not reviewed for 7 days" filter
counts a patient never reviewed as not reviewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fhir_api.codes import HOMEVITALS_TASK, VITALS_REVIEW
from fhir_api.dates import parse_date_range

__all__ = [
    "MAX_NOTE",
    "MAX_REVIEW_DAYS",
    "STALE_DAYS",
    "Review",
    "practitioner_name",
    "review_of",
    "review_task",
    "reviewed_within",
]

STALE_DAYS = 7  # the list's filter: patients whose last review is older (or none)
MAX_NOTE = 500  # characters of the optional note: a line, not a letter
MAX_REVIEW_DAYS = 366  # the longest period the patient page shows (1 year), and a day
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Review:
    """The newest review of a patient: when, by whom, over which days, with what note."""

    at_ms: int
    reviewer: str
    start: date | None
    end: date | None
    note: str | None = None


def review_task(
    patient_id: str,
    practitioner_id: str,
    first: date,
    last: date,
    now: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """The Task that records `practitioner_id` reviewing `patient_id`'s days `first` to
    `last` at `now` (zone-aware: the patient's zone, so other systems read the local time).

    Raises:
        ValueError: a period that ends before it starts, is longer than a year, or a
            `now` without a zone.
    """
    if last < first or (last - first).days >= MAX_REVIEW_DAYS:
        raise ValueError(f"period {first}..{last}: 1 to {MAX_REVIEW_DAYS} days")
    if now.tzinfo is None:
        raise ValueError("now needs a zone")
    stamp = now.isoformat(timespec="seconds")
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "completed",
        "intent": "order",
        "code": {
            "coding": [
                {
                    "system": HOMEVITALS_TASK,
                    "code": VITALS_REVIEW,
                    "display": "Review of home vital signs",
                }
            ],
            "text": "Review of home vital signs",
        },
        "for": {"reference": f"Patient/{patient_id}"},
        "owner": {"reference": f"Practitioner/{practitioner_id}"},
        "executionPeriod": {"start": first.isoformat(), "end": last.isoformat()},
        "authoredOn": stamp,
        "lastModified": stamp,
    }
    if note and note.strip():
        task["note"] = [{"text": note.strip()[:MAX_NOTE], "time": stamp}]
    return task


def _day(text: Any) -> date | None:
    if not isinstance(text, str):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def review_of(task: Mapping[str, Any], names: Mapping[str, str]) -> Review | None:
    """A review Task as the pages show it; None for a Task without a readable authoredOn.

    `names` maps `Practitioner/id` to the name shown; an owner not in it (a deleted
    Practitioner, or one out of reach) is shown as its reference.
    """
    authored = task.get("authoredOn")
    if not isinstance(authored, str):
        return None
    try:
        at_ms = parse_date_range(authored, UTC).start_ms
    except (ValueError, OverflowError):
        return None
    owner = (task.get("owner") or {}).get("reference")
    period = task.get("executionPeriod") or {}
    notes = [n.get("text") for n in task.get("note", ()) if isinstance(n, dict)]
    return Review(
        at_ms=at_ms,
        reviewer=names.get(str(owner), str(owner or "")),
        start=_day(period.get("start")),
        end=_day(period.get("end")),
        note=next((n for n in notes if isinstance(n, str) and n), None),
    )


def reviewed_within(review: Review | None, now_ms: int, days: int = STALE_DAYS) -> bool:
    """Whether the patient was reviewed in the last `days` days (never reviewed: False)."""
    return review is not None and review.at_ms > now_ms - days * _DAY_MS


def practitioner_name(practitioner: Mapping[str, Any]) -> str:
    """How a reviewer is named: the first name's text, else family and given names."""
    for name in practitioner.get("name", ()):
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str) and name["text"]:
            return str(name["text"])
        parts = [name.get("family"), *name.get("given", ())]
        text = " ".join(p for p in parts if isinstance(p, str) and p)
        if text:
            return text
    return f"Practitioner/{practitioner.get('id', '')}"

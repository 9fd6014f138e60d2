"""Marking a patient as reviewed (`POST /patients/{id}/review`) and reading reviews back
for the patient page and the list (issue 12).

Thin, like the other pages: the review is a Task created through `FhirService` with
the session's `Access`, so the service decides who may (Task create scope: doctors
and nurses; the owner must be the caller's own Practitioner; the patient must be in
reach, else the page's 404) and the write is audited like any other. Reading goes
through `FhirService.newest_reviews` (one query for every listed patient) and the
reviewers' Practitioners in one `read_many`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_api.access.principal import Access
from fhir_api.access.scopes import Interaction
from fhir_api.accounts.sessions import CurrentAccount, check_csrf, session_id_from
from fhir_api.dates import patient_zone_name, zone_named
from fhir_api.errors import BadRequest, FhirError, Forbidden
from fhir_api.service import FhirService

from .access import SessionAccess
from .charts import PERIODS, format_day
from .formatting import moment
from .rendering import Pages
from .review import MAX_NOTE, Review, practitioner_name, review_of, review_task

__all__ = ["ReviewBlock", "may_review", "review_block", "reviews_by_patient", "router"]

router = APIRouter(include_in_schema=False)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TO = " \N{EN DASH} "  # between a period's first and last day


def may_review(access: Access) -> bool:
    """Whether the signed-in person may record a review (Task create, and a Practitioner
    to name as its owner)."""
    principal = access.principal
    return principal.practitioner_id is not None and principal.scopes.allows(
        "Task", Interaction.CREATE
    )


def reviews_by_patient(
    service: FhirService, access: Access, patients: Sequence[str]
) -> dict[str, Review]:
    """Each patient's newest review (patients never reviewed, or out of reach, left out).

    Two queries whatever the number of patients: the newest review Tasks, then their
    reviewers' Practitioners. Nothing for an account that may not search Tasks.
    """
    if not patients or not access.principal.scopes.allows("Task", Interaction.SEARCH):
        return {}
    tasks = service.newest_reviews(patients, access=access)
    owners = sorted(
        {
            reference.removeprefix("Practitioner/")
            for task in tasks
            if isinstance(reference := (task.content.get("owner") or {}).get("reference"), str)
            and reference.startswith("Practitioner/")
        }
    )
    names = {
        f"Practitioner/{p.id}": practitioner_name(p.content)
        for p in service.read_many("Practitioner", owners, access=access)
    }
    found: dict[str, Review] = {}
    for task in tasks:
        patient = str((task.content.get("for") or {}).get("reference", ""))
        review = review_of(task.content, names)
        if review is not None:
            found[patient.removeprefix("Patient/")] = review
    return found


@dataclass(frozen=True, slots=True)
class ReviewBlock:
    """The patient page's review block: the last review as texts, and the form's period."""

    reviewed: bool
    when: str = ""
    reviewer: str = ""
    period: str = ""
    note: str | None = None
    may_review: bool = False
    first: str = ""  # the page's period, YYYY-MM-DD, posted by the form
    last: str = ""
    shown: str = ""  # the page's period as the form's hint shows it


def review_block(
    service: FhirService,
    access: Access,
    patient_id: str,
    zone: tzinfo,
    first: date,
    last: date,
    language: str,
) -> ReviewBlock:
    """The newest review of one patient, in the patient's zone and the page's language."""
    review = reviews_by_patient(service, access, [patient_id]).get(patient_id)
    block = ReviewBlock(
        reviewed=False,
        may_review=may_review(access),
        first=first.isoformat(),
        last=last.isoformat(),
        shown=_TO.join((format_day(first, language), format_day(last, language))),
    )
    if review is None:
        return block
    period = (
        _TO.join((format_day(review.start, language), format_day(review.end, language)))
        if review.start and review.end
        else ""
    )
    return replace(
        block,
        reviewed=True,
        when=moment(review.at_ms, zone, language),
        reviewer=review.reviewer,
        period=period,
        note=review.note,
    )


def _day(text: object, name: str) -> date:
    if not isinstance(text, str) or not _DAY.fullmatch(text):
        raise BadRequest(f"{name}: a date as YYYY-MM-DD", expression=[name])
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}={text!r} is not a date", expression=[name]) from None


def _mark(
    service: FhirService,
    access: Access,
    patient_id: str,
    first_text: object,
    last_text: object,
    note: object,
    clock: Callable[[], float],
) -> None:
    """Create the review Task, through the service with the session's Access.

    Raises:
        Forbidden: an account that may not record reviews.
        NotFound: a patient outside the caller's reach (as on the API).
        BadRequest: an unreadable period or a note too long.
    """
    if not may_review(access):
        raise Forbidden("Your account may not mark patients as reviewed.")
    patient = service.read("Patient", patient_id, access=access)
    zone_text = patient_zone_name(patient.content)
    zone = (zone_named(zone_text) if zone_text else None) or service.store.zone
    first, last = _day(first_text, "first"), _day(last_text, "last")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        raise BadRequest(f"note: at most {MAX_NOTE} characters", expression=["note"])
    try:
        task = review_task(
            patient_id,
            str(access.principal.practitioner_id),
            first,
            last,
            datetime.fromtimestamp(clock(), zone),
            note if isinstance(note, str) else None,
        )
    except ValueError as exc:
        raise BadRequest(str(exc), expression=["first"]) from None
    service.create("Task", task, access=access)


def _back(patient_id: str, period: object, end: object) -> str:
    """The patient page on the period the form was on."""
    query = {}
    if isinstance(period, str) and period in {str(p) for p in PERIODS}:
        query["period"] = period
    if isinstance(end, str) and _DAY.fullmatch(end):
        query["end"] = end
    suffix = f"?{urlencode(query)}" if query else ""
    return f"/patients/{patient_id}{suffix}#review"


@router.post("/patients/{patient_id}/review")
async def mark_reviewed(
    request: Request, patient_id: str, account: CurrentAccount, access: SessionAccess
) -> Response:
    """Record that the signed-in clinician reviewed the period shown, then back (303)."""
    pages: Pages = request.app.state.pages
    form = await request.form()
    key: bytes = request.app.state.settings.signing_key
    raw_id = session_id_from(request)
    check_csrf(key, "session", raw_id, form.get("csrf"))
    clock: Callable[[], float] = getattr(request.app.state, "ui_clock", time.time)
    try:
        await run_in_threadpool(
            _mark,
            request.app.state.service,
            access,
            patient_id,
            form.get("first"),
            form.get("last"),
            form.get("note") or None,
            clock,
        )
    except FhirError as error:
        return pages.patient_error(request, account, error)
    return Pages.redirect(_back(patient_id, form.get("period"), form.get("end")))

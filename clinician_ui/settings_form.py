"""The patient settings form (`/patients/{id}/settings`): what it shows and what it reads.

Pure: no I/O. `fields_of` gives the rows of the form from the Patient (or from a
refused submission, so a doctor's typing is not lost); `read_form` turns a
submission into the patient's choices or into messages next to the fields; `apply`
writes the choices onto the Patient (time zone and vital limits), keeping the rest.
The rules are the model's (`fhir_api.vital_limits`), the same the FHIR API enforces.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_api.dates import TIMEZONE_EXTENSION, patient_zone_name
from fhir_api.vital_limits import (
    FIELDS,
    Limits,
    Problem,
    Spo2Scale,
    chosen_of,
    problems,
    with_limits,
)

__all__ = [
    "COMMON_ZONES",
    "GROUPS",
    "Field",
    "Submission",
    "apply",
    "fields_of",
    "read_form",
    "zone_choices",
]

# The zones offered first (Asia/Tokyo: most patients); any other IANA name may be typed.
COMMON_ZONES = (
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Shanghai",
    "Asia/Taipei",
    "Asia/Manila",
    "Asia/Bangkok",
    "Asia/Ho_Chi_Minh",
    "Asia/Kolkata",
    "Europe/London",
    "Europe/Paris",
    "America/New_York",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Australia/Sydney",
    "UTC",
)

# (heading msgid, [(attribute, label msgid)]): the form's sections, the patient's goal first.
GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Blood pressure target",
        (
            ("target_systolic", "Systolic target: at or below"),
            ("target_diastolic", "Diastolic target: at or below"),
        ),
    ),
    (
        "Blood pressure flags",
        (
            ("systolic", "Systolic: high at or above"),
            ("diastolic", "Diastolic: high at or above"),
            ("systolic_urgent", "Systolic: urgent at or above"),
            ("diastolic_urgent", "Diastolic: urgent at or above"),
        ),
    ),
    (
        "Pulse",
        (
            ("pulse_low", "Pulse: low below"),
            ("pulse_high", "Pulse: high above"),
        ),
    ),
    ("SpO2", (("spo2_low", "SpO2: low below"),)),
)
UNIT_TEXTS = {"mm[Hg]": "mmHg", "%": "%", "/min": "/min"}
NOT_A_NUMBER = "Enter a number."
NOT_A_ZONE = "Not an IANA time zone (e.g. Asia/Tokyo)."


@dataclass(frozen=True, slots=True)
class Field:
    """One row of the form: the value shown, the clinic default, and any message."""

    name: str
    label: str  # msgid
    unit: str  # as shown
    value: str
    default: float
    own: bool  # the patient has a value of their own (the row offers "use the default")
    reset: bool = False  # "use the default" was ticked
    error: Problem | None = None

    @property
    def default_text(self) -> str:
        """The default as a person writes it (135, not 135.0)."""
        return _plain(self.default)


@dataclass
class Submission:
    """A submitted form: the choices it makes, or why not."""

    zone: str | None  # None: the server's zone
    chosen: dict[str, float]
    scale: Spo2Scale
    version: str
    values: dict[str, str] = field(default_factory=dict)  # as typed, for showing again
    resets: set[str] = field(default_factory=set)
    errors: dict[str, Problem] = field(default_factory=dict)  # attribute or "zone" -> problem


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def fields_of(
    patient: Mapping[str, Any], submission: Submission | None = None
) -> list[tuple[str, list[Field]]]:
    """The form's sections and rows: the Patient's values, or a refused submission's."""
    chosen, scale = chosen_of(patient)
    if submission is not None:
        scale = submission.scale
    sections = []
    for heading, rows in GROUPS:
        shown = []
        for name, label in rows:
            default = Limits.default_for(name, scale)
            value = _plain(chosen.get(name, default))
            if submission is not None:
                value = submission.values.get(name, value)
            shown.append(
                Field(
                    name=name,
                    label=label,
                    unit=UNIT_TEXTS[FIELDS[name].unit],
                    value=value,
                    default=default,
                    own=name in chosen,
                    reset=submission is not None and name in submission.resets,
                    error=submission.errors.get(name) if submission else None,
                )
            )
        sections.append((heading, shown))
    return sections


def _number(text: str) -> float | None:
    """A number as typed, full-width digits (a Japanese IME's) and a decimal comma too."""
    cleaned = unicodedata.normalize("NFKC", text).strip().replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value


def read_form(form: Mapping[str, str], zones: frozenset[str]) -> Submission:
    """The submission of `form` (field name -> text); `zones` are the IANA names known.

    A row left at its default (the chosen scale's, or that of the scale the form
    showed, `shown_scale`), emptied, or with "use the default" ticked, is no choice of
    the patient's. A typed zone (`zone_other`) wins over the list's.
    """
    scale, shown_scale = (
        Spo2Scale(text) if text in {s.value for s in Spo2Scale} else Spo2Scale.STANDARD
        for text in (form.get("spo2_scale"), form.get("shown_scale"))
    )
    typed_zone = unicodedata.normalize("NFKC", form.get("zone_other", "")).strip()
    zone_text = typed_zone or form.get("zone", "").strip()
    submission = Submission(
        zone=zone_text or None, chosen={}, scale=scale, version=form.get("version", "")
    )
    if zone_text and zone_text not in zones:
        submission.errors["zone"] = Problem("zone", NOT_A_ZONE, {})
    for name in FIELDS:
        text = form.get(name, "")
        submission.values[name] = text
        if form.get(f"reset_{name}"):
            submission.resets.add(name)
            continue
        if not text.strip():
            continue  # an emptied row: the default
        value = _number(text)
        if value is None:
            submission.errors[name] = Problem(name, NOT_A_NUMBER, {})
        elif value not in (Limits.default_for(name, scale), Limits.default_for(name, shown_scale)):
            # The default the form showed is no choice either: switching the SpO2 scale
            # moves the SpO2 low to the new scale's default.
            submission.chosen[name] = value
    if not any(name in submission.errors for name in FIELDS):
        for problem in problems(submission.chosen, scale):
            submission.errors.setdefault(problem.name, problem)
    return submission


def apply(patient: Mapping[str, Any], submission: Submission) -> dict[str, Any]:
    """A copy of the Patient with the submission's zone and limits (nothing else changes)."""
    updated = with_limits(patient, submission.chosen, submission.scale)
    zone = [{"url": TIMEZONE_EXTENSION, "valueCode": submission.zone}] if submission.zone else []
    extensions: list[Any] = []
    for extension in updated.get("extension", ()):
        if isinstance(extension, dict) and extension.get("url") == TIMEZONE_EXTENSION:
            extensions += zone  # in its place
            zone = []
        else:
            extensions.append(extension)
    extensions = zone + extensions
    updated.pop("extension", None)
    if extensions:
        updated["extension"] = extensions
    return updated


def zone_choices(patient: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The patient's zone (None: the server's) and the zones the list offers."""
    current = patient_zone_name(dict(patient))
    offered = list(COMMON_ZONES)
    if current and current not in offered:
        offered.insert(1, current)
    return current, offered

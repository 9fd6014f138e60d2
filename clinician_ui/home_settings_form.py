"""The home settings form (pure): fields to `HomeSettings` and back, with messages.

What the clinic sets for a patient's home gateway (issue 14): language, speech,
volume, quiet hours, reading values aloud, and measurement times per kind of device.
An empty field leaves that setting to the home (the gateway's own configuration).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from fhir_api.home_settings import HomeSettings, Reminder

__all__ = ["REMINDER_KINDS", "HomeForm", "form_of", "read_home_form"]

# The kinds of device a reminder may be set for here, in the order the form lists them,
# with the label each row shows.
REMINDER_KINDS: dict[str, str] = {
    "blood-pressure": "Blood pressure",
    "weight-scale": "Weight",
    "glucose-meter": "Blood glucose",
    "thermometer": "Temperature",
    "pulse-oximeter": "SpO2",
}
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
VOLUME_ERROR = "Enter a volume from 0 to 100."
QUIET_ERROR = "Enter both times of the quiet hours, or neither."
TIMES_ERROR = "Enter times as HH:MM, separated by spaces (for example 07:00 19:00)."


@dataclass(frozen=True, slots=True)
class HomeForm:
    """The form's values as shown (text), and the message of each refused field."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    settings: HomeSettings | None = None


def form_of(settings: HomeSettings | None) -> HomeForm:
    """The form showing stored settings (empty fields where none are set)."""
    settings = settings or HomeSettings()
    quiet_from, _, quiet_to = (settings.quiet_hours or "").partition("-")
    values = {
        "language": settings.language or "",
        "speech": "" if settings.speech is None else ("on" if settings.speech else "off"),
        "volume": "" if settings.volume is None else str(settings.volume),
        "quiet_from": quiet_from,
        "quiet_to": quiet_to,
        "read_aloud": "1" if settings.read_values_aloud else "",
    }
    times = {r.kind: " ".join(r.times) for r in settings.reminders}
    values.update({f"times_{kind}": times.get(kind, "") for kind in REMINDER_KINDS})
    return HomeForm(values, settings=settings)


def _clock(text: str) -> str | None:
    found = _TIME.match(text.strip())
    return f"{int(found.group(1)):02d}:{found.group(2)}" if found else None


def read_home_form(form: Mapping[str, str]) -> HomeForm:
    """The submitted form: settings when every field is valid, else the messages."""
    values = {key: str(form.get(key, "")).strip() for key in form_of(None).values}
    errors: dict[str, str] = {}
    language = values["language"] if values["language"] in ("ja", "en") else None
    speech = {"on": True, "off": False}.get(values["speech"])
    volume: int | None = None
    if values["volume"]:
        if values["volume"].isdigit() and 0 <= int(values["volume"]) <= 100:
            volume = int(values["volume"])
        else:
            errors["volume"] = VOLUME_ERROR
    quiet: str | None = None
    start, end = _clock(values["quiet_from"]), _clock(values["quiet_to"])
    if values["quiet_from"] or values["quiet_to"]:
        if start is None or end is None:
            errors["quiet_from"] = QUIET_ERROR
        else:
            quiet = f"{start}-{end}"
    reminders: list[Reminder] = []
    for kind in REMINDER_KINDS:
        texts = values[f"times_{kind}"].replace(",", " ").replace("、", " ").split()
        times = [_clock(t) for t in texts]
        if any(t is None for t in times):
            errors[f"times_{kind}"] = TIMES_ERROR
        elif times:
            reminders.append(Reminder(kind, tuple(sorted({t for t in times if t}))))
    if errors:
        return HomeForm(values, errors)
    settings = HomeSettings(
        language=language,
        speech=speech,
        volume=volume,
        quiet_hours=quiet,
        read_values_aloud=values["read_aloud"] == "1",
        reminders=tuple(reminders),
    )
    return HomeForm(values, settings=settings)

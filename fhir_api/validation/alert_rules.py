"""A Patient's alert-rules extension (issue 13): at most one, every part known and sane.

The alert worker reads these rules for every reading of the patient, so a slip stored
here (a no-reading time of 0, an urgent rule turned off, days sent as weeks) would
fire at once, never, or silence a dangerous reading. The rules live with the model
(`fhir_api.alert_rules`), which the alert settings page checks its form with too.
"""

from __future__ import annotations

from typing import Any

from ..alert_rules import ALERT_RULES_EXTENSION, extension_problems

__all__ = ["check_alert_rules"]


def check_alert_rules(patient: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """(message, element path) for each fault of the Patient's alert-rules extension."""
    extensions = patient.get("extension")
    found = [
        (index, extension)
        for index, extension in enumerate(extensions if isinstance(extensions, list) else ())
        if isinstance(extension, dict) and extension.get("url") == ALERT_RULES_EXTENSION
    ]
    issues: list[tuple[str, str]] = [
        ("a Patient has at most one alert-rules extension", f"{path}.extension[{index}]")
        for index, _ in found[1:]
    ]
    for index, extension in found[:1]:
        issues += extension_problems(extension, f"{path}.extension[{index}]")
    return issues

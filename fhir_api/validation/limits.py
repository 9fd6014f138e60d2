"""A Patient's vital-limits extension (issue 12): at most one, every part known and sane.

The limits flag readings and drive alerts, so a typing slip stored here (a systolic
limit of 0, a pulse low above the high, mmHg sent as kPa) would silently flag every
reading or none. The rules themselves live with the model (`fhir_api.vital_limits`),
which the settings page checks its form with too.
"""

from __future__ import annotations

from typing import Any

from ..vital_limits import VITAL_LIMITS_EXTENSION, extension_problems

__all__ = ["check_vital_limits"]


def check_vital_limits(patient: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """(message, element path) for each fault of the Patient's vital-limits extension."""
    extensions = patient.get("extension")
    found = [
        (index, extension)
        for index, extension in enumerate(extensions if isinstance(extensions, list) else ())
        if isinstance(extension, dict) and extension.get("url") == VITAL_LIMITS_EXTENSION
    ]
    issues: list[tuple[str, str]] = [
        ("a Patient has at most one vital-limits extension", f"{path}.extension[{index}]")
        for index, _ in found[1:]
    ]
    for index, extension in found[:1]:
        issues += extension_problems(extension, f"{path}.extension[{index}]")
    return issues

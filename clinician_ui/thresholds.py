"""The limits that flag a reading as out of range: re-exported from `fhir_api.vital_limits`.

The model, its defaults (with their sources) and the patient's own limits live in the
server package, so the pages, the FHIR validation and the alerts read one definition.
"""

from __future__ import annotations

from fhir_api.vital_limits import DEFAULT, DEFAULTS, Level, Limits, limits_of

__all__ = ["DEFAULT", "DEFAULTS", "Level", "Thresholds", "limits_of"]

Thresholds = Limits

"""Flag thresholds, the defaults a clinician confirms (placeholder until helper A's module lands).

Home blood pressure 135/85 is JSH 2019's home-hypertension line; SpO2 below 90 is
low; a pulse below 50 or above 100 is out of range. Helper A owns this module;
this copy has the same names so the patient page works before it is merged.
"""

from __future__ import annotations

__all__ = ["DEFAULTS"]

DEFAULTS: dict[str, float] = {
    "systolic": 135,
    "diastolic": 85,
    "spo2_low": 90,
    "pulse_low": 50,
    "pulse_high": 100,
}

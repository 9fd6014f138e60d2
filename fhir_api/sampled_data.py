"""FHIR R4 SampledData: a night's epochs as one value, read back as timed samples (issue 15).

One night of a bed sensor was 144 Observations (48 epochs x heart rate, breathing
rate and stage). The HL7 PHD IG sends periodic measurements as `valueSampledData`
instead: `origin` (the zero and the unit), `period` (milliseconds between samples),
`factor` (default 1), `dimensions` (interleaved signals; this server charts 1) and
`data`, decimals separated by single spaces, or `E` (error), `L` (below
`lowerLimit`), `U` (above `upperLimit`). Sample i of a one-dimensional series was
taken at the Observation's effective start + i x period, and its value is
origin + factor x data[i] in the origin's unit (FHIR R4, SampledData).

Pure: the validation layer refuses what `problems` names, and the series store
turns what is left into points with `samples`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DATA_CHARACTERS", "MAX_SAMPLES", "last_offset_ms", "problems", "samples"]

MAX_SAMPLES = 10_000  # per Observation: a night of 30-second epochs is 1,440
MAX_DATA_CHARACTERS = 200_000  # 10,000 samples of up to 19 characters and their spaces
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NOT_A_NUMBER = {"E", "L", "U"}  # error, below lowerLimit, above upperLimit


def _number(value: Any) -> float | None:
    """A finite JSON number as a float, None for anything else (bool is no number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def problems(sampled: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(message, element below the SampledData) of what makes it unreadable or too big.

    The JSON types are checked before (the pinned models); this checks what they do not:
    a positive period, the data's tokens, their count against `dimensions`, the sizes.
    """
    found: list[tuple[str, str]] = []
    period = _number(sampled.get("period"))
    if period is None or period <= 0:
        found.append(("period must be a number of milliseconds above 0", "period"))
    origin = sampled.get("origin")
    if not isinstance(origin, Mapping) or _number(origin.get("value")) is None:
        found.append(("origin needs a value (the zero of the data)", "origin"))
    elif not (origin.get("code") or origin.get("unit")):
        found.append(("origin needs a unit (UCUM code): the samples' unit", "origin"))
    if "factor" in sampled and not _number(sampled.get("factor")):
        found.append(("factor must be a number other than 0", "factor"))
    dimensions = sampled.get("dimensions")
    data = sampled.get("data")
    if not isinstance(data, str):
        found.append(("data is needed: samples separated by single spaces", "data"))
        return found
    if len(data) > MAX_DATA_CHARACTERS:
        found.append((f"data of {len(data)} characters; at most {MAX_DATA_CHARACTERS}", "data"))
        return found
    tokens = data.split(" ")
    if len(tokens) > MAX_SAMPLES:
        found.append((f"{len(tokens)} samples; at most {MAX_SAMPLES} per Observation", "data"))
        return found
    for index, token in enumerate(tokens):
        if token not in _NOT_A_NUMBER and not _DECIMAL.fullmatch(token):
            found.append((f"sample {index + 1} is {token[:20]!r}: a decimal, E, L or U", "data"))
            break
    if isinstance(dimensions, int) and dimensions > 0 and len(tokens) % dimensions:
        found.append(
            (f"{len(tokens)} samples are not a whole number of {dimensions} dimensions", "data")
        )
    return found


def samples(sampled: Mapping[str, Any]) -> tuple[float, list[float | None]] | None:
    """(period in ms, each sample's value or None for E, L and U) of a one-dimensional
    SampledData; None when it is not one (several dimensions) or is unreadable."""
    if sampled.get("dimensions") != 1 or problems(sampled):
        return None
    origin = _number(sampled["origin"]["value"]) or 0.0
    factor = _number(sampled.get("factor", 1)) or 1.0
    values: list[float | None] = [
        None if token in _NOT_A_NUMBER else origin + factor * float(token)
        for token in sampled["data"].split(" ")
    ]
    return float(sampled["period"]), values


def last_offset_ms(sampled: Mapping[str, Any]) -> float | None:
    """How long after the first sample the last one was taken; None when unreadable."""
    dimensions = sampled.get("dimensions")
    if problems(sampled) or not isinstance(dimensions, int) or dimensions < 1:
        return None
    count = len(sampled["data"].split(" ")) // dimensions
    return max(count - 1, 0) * float(sampled["period"])

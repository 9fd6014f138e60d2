"""`$stats` writes its answer as bytes (responses.stats_body) for speed: the same bytes as
the Parameters built as dictionaries and encoded by orjson (responses.stats_parameters)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import orjson
import pytest

from fhir_api.responses import stats_body, stats_parameters
from fhir_api.storage.series.base import DayStatistics

# Values whose rounding or text is easy to get wrong: signed zero, the extremes, halves
# at the third decimal, exponents, and numbers of up to 17 digits.
EDGES = (0.0, -0.0, 1e308, -1e308, 5e-324, 0.0005, 2.675, 1.0005, 36.0005, 1e16, 1e-7, 0.1 + 0.2)
CODES = ("8480-6", "8462-4", "8867-4", "2708-6", "8310-5")


def _days(rng: random.Random) -> list[DayStatistics]:
    days = []
    for code in rng.sample(CODES, rng.randint(0, 4)):
        first = date(1900, 1, 1) + timedelta(days=rng.randint(0, 100_000))
        for offset in range(rng.randint(0, 20)):
            low, high, mean = (
                rng.choice(EDGES) if rng.random() < 0.3 else rng.gauss(100, 50) for _ in range(3)
            )
            unit = rng.choice(("mm[Hg]", "", "%", "/min"))
            when, readings = first + timedelta(days=offset), rng.randint(1, 10**6)
            days.append(DayStatistics(code, when, low, high, mean, readings, unit))
    if rng.random() < 0.2:  # codes interleaved: still one series per code
        rng.shuffle(days)
    return days


@pytest.mark.parametrize("seed", range(40))
def test_stats_body_is_byte_for_byte_the_parameters_orjson_writes(seed: int) -> None:
    rng = random.Random(seed)
    subject = rng.choice(("Patient/a", 'Patient/"quoted\\', "Patient/\u00e9\u2028"))
    for _ in range(5):
        days = _days(rng)
        expected = orjson.dumps(stats_parameters(subject, "Europe/Paris", days))
        assert stats_body(subject, "Europe/Paris", days) == expected

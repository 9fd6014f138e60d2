"""When to try an upload again: pure decisions, tested without sleeping.

Compare bleak-retry-connector's `calculate_backoff_time`: the loop stays thin and
only awaits what these functions decide.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime
from enum import StrEnum

__all__ = ["Verdict", "next_retry_delay", "parse_retry_after", "verdict"]

BASE_SECONDS = 1.0
CAP_SECONDS = 300.0
RETRY_AFTER_CAP_SECONDS = 3600.0


class Verdict(StrEnum):
    """What an HTTP answer means for the readings that were sent."""

    SENT = "sent"  # 2xx: stored (or already stored) on the server
    REJECTED = "rejected"  # 4xx other than 408/429: sending it again cannot help
    RETRY = "retry"  # 408, 429, 5xx, or no answer at all


def verdict(status: int | None) -> Verdict:
    """Classify an HTTP status (None: the request never got an answer)."""
    if status is None:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.SENT
    if status in (408, 429) or status >= 500:
        return Verdict.RETRY
    if 400 <= status < 500:
        return Verdict.REJECTED
    return Verdict.RETRY  # 1xx/3xx are not answers to a FHIR transaction


def next_retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    rng: random.Random | None = None,
    base: float = BASE_SECONDS,
    cap: float = CAP_SECONDS,
) -> float:
    """Seconds to wait before attempt `attempt + 1` (attempt counts from 1).

    Exponential backoff with full jitter (uniform in [0, min(cap, base * 2**(attempt-1))]),
    so gateways that lost the server together do not come back together. A server's
    `Retry-After` wins, up to an hour.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, RETRY_AFTER_CAP_SECONDS)
    ceiling = min(cap, base * 2 ** min(attempt - 1, 30))
    return (rng or random).uniform(0, ceiling)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` in seconds from `now` (delay-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)

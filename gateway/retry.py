"""When to try an upload again: pure decisions, tested without sleeping.

Compare bleak-retry-connector's `calculate_backoff_time`: the loop stays thin and
only awaits what these functions decide.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Verdict",
    "next_retry_delay",
    "only_not_found",
    "parse_retry_after",
    "verdict",
    "waiting_delay",
]

BASE_SECONDS = 1.0
CAP_SECONDS = 300.0
RETRY_AFTER_CAP_SECONDS = 3600.0
WAITING_BASE_SECONDS = 60.0
WAITING_CAP_SECONDS = 3600.0


class Verdict(StrEnum):
    """What an HTTP answer means for the readings that were sent."""

    SENT = "sent"  # 2xx: stored (or already stored) on the server
    REJECTED = "rejected"  # 4xx other than 408/429: sending it again cannot help
    RETRY = "retry"  # 408, 429, 5xx, or no answer at all
    # 4xx whose OperationOutcome issues are all `not-found`: the reading refers to a
    # Patient or Device the server does not hold yet (the clinic has not registered
    # it). A setup problem, not a bad reading: sent again later, rarely.
    WAITING = "waiting"


def verdict(status: int | None, outcome: Any = None) -> Verdict:
    """Classify an HTTP status and its body (None: the request never got an answer)."""
    if status is None:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.SENT
    if status in (408, 429) or status >= 500:
        return Verdict.RETRY
    if 400 <= status < 500:
        return Verdict.WAITING if only_not_found(outcome) else Verdict.REJECTED
    return Verdict.RETRY  # 1xx/3xx are not answers to a FHIR transaction


def only_not_found(outcome: Any) -> bool:
    """Is `outcome` an OperationOutcome with issues, each of code `not-found`?

    The server answers so (400) when a reference points at a resource it does not
    hold; any other issue in the same answer makes the reading bad after all.
    """
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return False
    issues = outcome.get("issue")
    if not isinstance(issues, list) or not issues:
        return False
    return all(isinstance(i, dict) and i.get("code") == "not-found" for i in issues)


def waiting_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds before sending a reading the server could not resolve again (attempt from 1).

    A minute, doubling up to an hour, jittered within the upper half: registering a
    patient takes a person, and a home must not ask every few seconds meanwhile.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(WAITING_CAP_SECONDS, WAITING_BASE_SECONDS * 2 ** min(attempt - 1, 30))
    return (rng or random).uniform(ceiling / 2, ceiling)


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

"""Retry decisions are pure: tested without sleeping."""

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from gateway.retry import (
    CAP_SECONDS,
    Verdict,
    next_retry_delay,
    parse_retry_after,
    verdict,
    waiting_delay,
)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Verdict.SENT),
        (201, Verdict.SENT),
        (400, Verdict.REJECTED),
        (401, Verdict.REJECTED),
        (409, Verdict.REJECTED),
        (413, Verdict.REJECTED),
        (422, Verdict.REJECTED),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (None, Verdict.RETRY),
        (302, Verdict.RETRY),
    ],
)
def test_verdict(status, expected):
    assert verdict(status) is expected


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    rng = random.Random(1)
    for attempt, ceiling in (
        (1, 1),
        (2, 2),
        (3, 4),
        (6, 32),
        (9, 256),
        (10, CAP_SECONDS),
        (50, CAP_SECONDS),
    ):
        delays = [next_retry_delay(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # the jitter spans the whole range
        assert min(delays) < ceiling * 0.2


def test_retry_after_wins_up_to_an_hour():
    assert next_retry_delay(1, 120) == 120
    assert next_retry_delay(7, 0) == 0
    assert next_retry_delay(1, 86_400) == 3600


def test_attempt_counts_from_one():
    with pytest.raises(ValueError):
        next_retry_delay(0)


def test_parse_retry_after_seconds_and_http_dates():
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("30", now) == 30
    later = format_datetime(datetime(2026, 11, 27, 12, 2, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now) == 120
    past = format_datetime(datetime(2026, 11, 27, 11, 0, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(past, now) == 0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None


NOT_FOUND = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "not-found", "diagnostics": "Patient/x"}],
}


@pytest.mark.parametrize(
    ("status", "outcome", "expected"),
    [
        (400, NOT_FOUND, Verdict.WAITING),
        (404, NOT_FOUND, Verdict.WAITING),
        (400, {**NOT_FOUND, "issue": [*NOT_FOUND["issue"], {"code": "invalid"}]}, Verdict.REJECTED),
        (400, {"resourceType": "OperationOutcome", "issue": []}, Verdict.REJECTED),
        (400, {"resourceType": "Bundle", "issue": NOT_FOUND["issue"]}, Verdict.REJECTED),
        (400, "not-found", Verdict.REJECTED),
        (500, NOT_FOUND, Verdict.RETRY),
        (200, NOT_FOUND, Verdict.SENT),
    ],
)
def test_a_refusal_for_an_unknown_reference_only_waits(status, outcome, expected):
    assert verdict(status, outcome) is expected


def test_waiting_backs_off_from_a_minute_to_an_hour():
    rng = random.Random(9)
    assert 30 <= waiting_delay(1, rng=rng) <= 60
    assert all(1800 <= waiting_delay(a, rng=rng) <= 3600 for a in (7, 8, 50, 10**6))
    with pytest.raises(ValueError, match="counts from 1"):
        waiting_delay(0)

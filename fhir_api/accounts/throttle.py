"""Failed-login throttling: pure decisions, the counts kept by the account store.

Each failed login of an account (or of a username that names none) and of a client
address adds one failure. The answer to a failure waits `delay_after(failures)`
seconds (0, 1, 2, 4, ... capped) for the username's failures in a row, which makes
guessing slow without locking anyone out; at `account_limit` failures the account
is locked for `lock_ms`. An address (many usernames tried from one place) is
locked likewise at its higher `address_limit` (a clinic's staff share one NAT
address, and their typos must not slow each other). Counts
start again once the last failure is `lock_ms` old, or after a successful login of
the account. Compare bleak-retry-connector's `calculate_backoff_time`: the decision
is a function, the loop around it thin.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Failures", "ThrottlePolicy"]


@dataclass(frozen=True, slots=True)
class Failures:
    """Failed logins counted for one account or address."""

    count: int = 0
    last_failure_ms: int | None = None
    locked_until_ms: int | None = None

    def locked(self, now_ms: int) -> bool:
        """Whether logins are refused at `now_ms`, whatever the password."""
        return self.locked_until_ms is not None and now_ms < self.locked_until_ms


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How failed logins are slowed and when they lock."""

    account_limit: int = 10
    address_limit: int = 50
    lock_ms: int = 15 * 60 * 1000
    max_delay: float = 8.0

    def current(self, failures: Failures, now_ms: int) -> Failures:
        """`failures` as they count at `now_ms`: forgotten once the last is `lock_ms` old."""
        if failures.locked(now_ms):
            return failures
        last = failures.last_failure_ms
        if last is None or now_ms - last >= self.lock_ms:
            return Failures()
        return Failures(failures.count, last, None)

    def after_failure(self, failures: Failures, now_ms: int, *, limit: int) -> Failures:
        """The count after one more failure at `now_ms`; locked when it reaches `limit`."""
        count = self.current(failures, now_ms).count + 1
        locked = now_ms + self.lock_ms if count >= limit else None
        return Failures(count, now_ms, locked)

    def delay_after(self, failures: int) -> float:
        """Seconds to wait before answering the `failures`-th failure in a row."""
        if failures <= 1:
            return 0.0
        return float(min(2 ** (failures - 2), self.max_delay))

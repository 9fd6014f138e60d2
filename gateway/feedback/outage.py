"""When to say that the clinic cannot be reached, and when to say it is back. Pure.

"Unreachable" means: the last attempt to reach the server failed (no HTTP answer
at all) and no answer has come for `warn_after` seconds. The warning is said
once per outage, and not during quiet hours (it waits for them to end); the
recovery is said only after a warning, so a short hiccup stays silent.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import Situation

__all__ = ["OutageWatch"]


@dataclass(slots=True)
class OutageWatch:
    """Turns the uploader's contact times into at most one warning and one recovery.

    Args:
        warn_after: seconds without an answer before the warning.
        started: when the gateway started (counts as contact: no warning at boot).
    """

    warn_after: float
    started: float
    warned: bool = False

    def unreachable(
        self, now: float, last_contact: float | None, last_failure: float | None
    ) -> bool:
        """Is the server unreachable for longer than `warn_after` at `now`?"""
        contact = max(self.started, last_contact or 0.0)
        failing = last_failure is not None and last_failure >= contact
        return failing and now - contact >= self.warn_after

    def update(
        self,
        now: float,
        last_contact: float | None,
        last_failure: float | None,
        *,
        quiet: bool = False,
    ) -> Situation | None:
        """UNREACHABLE or REACHABLE when one is to be said now, else None."""
        if self.unreachable(now, last_contact, last_failure):
            if not self.warned and not quiet:
                self.warned = True
                return Situation.UNREACHABLE
            return None
        contact = max(self.started, last_contact or 0.0)
        failing = last_failure is not None and last_failure >= contact
        if self.warned and not failing:
            self.warned = False
            return Situation.REACHABLE
        return None

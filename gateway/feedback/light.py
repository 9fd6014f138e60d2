"""The status LED through gpiozero: each `LedPattern` as on, off or a blink rhythm.

gpiozero runs a blink in its own background thread, so showing a pattern never
blocks the event loop. Tests pass `pin_factory=MockFactory()` and read the pin's
recorded states; on a Pi the default factory (lgpio) drives the real pin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gpiozero import LED

from .policy import LedPattern

__all__ = ["RHYTHMS", "Rhythm", "StatusLight"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rhythm:
    """Seconds on and off of a blinking pattern."""

    on: float
    off: float


RHYTHMS: dict[LedPattern, Rhythm] = {
    LedPattern.FAST_BLINK: Rhythm(0.15, 0.15),
    LedPattern.BLINK: Rhythm(0.5, 0.5),
    LedPattern.SLOW_BLINK: Rhythm(1.5, 1.5),
}


class StatusLight:
    """One LED showing the gateway's state.

    Args:
        pin: the GPIO pin (e.g. 17 or "GPIO17").
        pin_factory: gpiozero's pin factory (tests: `MockFactory()`).
        rhythms: blink timings (tests shorten them).
    """

    def __init__(
        self,
        pin: int | str,
        *,
        pin_factory: Any = None,
        rhythms: dict[LedPattern, Rhythm] | None = None,
    ) -> None:
        self._led = LED(pin, pin_factory=pin_factory)
        self._rhythms = RHYTHMS if rhythms is None else rhythms
        self.pattern = LedPattern.OFF

    def show(self, pattern: LedPattern) -> None:
        """Switch to `pattern` (the same pattern again leaves a running blink alone)."""
        if pattern is self.pattern:
            return
        self.pattern = pattern
        if pattern is LedPattern.OFF:
            self._led.off()
        elif pattern is LedPattern.STEADY:
            self._led.on()
        else:
            rhythm = self._rhythms[pattern]
            self._led.blink(on_time=rhythm.on, off_time=rhythm.off, background=True)
        _LOGGER.debug("status light: %s", pattern)

    def close(self) -> None:
        """Switch off and release the pin."""
        self._led.off()
        self._led.close()

"""The call button: a GPIO push button whose presses become Communications in the outbox.

A short press (released before `hold_time`) asks "please call me"; holding it
for `hold_time` says "I am fine today" (a 見守り check-in), at the moment the hold
is recognised, so the patient hears the confirmation while still holding.

gpiozero calls back from its own thread; `CallButton` only hands the request to
the event loop (`call_soon_threadsafe`), where the service commits it through
the outbox's writer thread (`record_press`) like a reading: committed before
anything else, uploaded by the same uploader, never lost, never duplicated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gpiozero import Button

from .mapping import GatewayIdentity, PatientLink
from .mapping.bundle import BundleEntry
from .mapping.communication import Request, communication_entry
from .mapping.models import validate
from .outbox import Batch, Outbox

__all__ = ["PRESS_COUNTER", "CallButton", "Request", "record_press"]

_LOGGER = logging.getLogger(__name__)
PRESS_COUNTER = "call-button-press"


class CallButton:
    """A GPIO button (to ground, internal pull-up) turned into `Request`s on the event loop.

    Args:
        pin: the GPIO pin (e.g. 27 or "GPIO27").
        on_request: called on the event loop with each request and the press time.
        loop: the service's event loop.
        now: the gateway's clock (aware UTC).
        hold_time: seconds a press must last to be a long press.
        pin_factory: gpiozero's pin factory (tests: `MockFactory()`).
    """

    def __init__(
        self,
        pin: int | str,
        *,
        on_request: Callable[[Request, datetime], None],
        loop: asyncio.AbstractEventLoop,
        now: Callable[[], datetime],
        hold_time: float = 2.0,
        pin_factory: Any = None,
    ) -> None:
        self._button = Button(pin, hold_time=hold_time, pin_factory=pin_factory)
        self._on_request = on_request
        self._loop = loop
        self._now = now
        self._held = False
        self._button.when_pressed = self._pressed
        self._button.when_held = self._hold
        self._button.when_released = self._released

    def _pressed(self) -> None:
        self._held = False

    def _hold(self) -> None:
        self._held = True
        self._hand_over(Request.FINE_TODAY)

    def _released(self) -> None:
        if not self._held:
            self._hand_over(Request.CALL_ME)
        self._held = False

    def _hand_over(self, request: Request) -> None:
        # gpiozero's thread: only hand over (a closed loop at shutdown drops the press).
        try:
            self._loop.call_soon_threadsafe(self._on_request, request, self._now())
        except RuntimeError:
            _LOGGER.warning("a %s press arrived while the gateway was stopping", request)

    def close(self) -> None:
        """Release the pin."""
        self._button.close()


def record_press(
    outbox: Outbox,
    request: Request,
    *,
    gateway: GatewayIdentity,
    patient: PatientLink,
    pressed_at: datetime,
    care_team: str | None = None,
) -> BundleEntry:
    """Number a press and commit its Communication to the outbox (call in the writer thread).

    Raises:
        StorageError: the press could not be committed (the caller tells the patient).
    """
    number = outbox.next_number(gateway.key, PRESS_COUNTER)
    entry = communication_entry(
        request,
        gateway=gateway,
        patient=patient,
        number=number,
        sent=pressed_at,
        care_team=care_team,
    )
    validate(entry.resource)
    outbox.commit(Batch(entries=[(entry.full_url, entry.resource, entry.if_none_exist)]))
    _LOGGER.info("call button: %s queued as press %d", request, number)
    return entry

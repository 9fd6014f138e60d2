"""The patient's side of the gateway service (issue 14): feedback, reminders, the call button.

The service hands this object what it already knows (values just committed,
rows the server took, the uploader's contact times) and runs `run()` as one more
task; everything the patient sees and hears is decided in `gateway.feedback` and
`gateway.reminders` (pure), and a button press goes through the same outbox and
uploader as a reading (`gateway.call_button`). None of it can block or fail a
reading: the speaker has its own queue and task, the LED its own thread, and
every hook here only reads what it is given.

`plans`, `feedback.options`, `feedback.read_values_for`, `care_team` and
`button_patient` are plain attributes: settings fetched from the clinic can
replace them while the gateway runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import device_adapters as da
from device_adapters import Unit

from .bindings import Bindings
from .call_button import CallButton, Request, record_press
from .errors import StorageError
from .feedback import Feedback, FeedbackOptions, Speaker, SpokenValues, StatusLight
from .mapping import GatewayIdentity, PatientLink
from .outbox import Outbox, OutboxRow, utc_now
from .reminders import ReminderPlan, ReminderState, due_reminders
from .sessions import Received
from .settings import FeedbackConfig, GatewaySettings, ReminderConfig
from .uploader import Uploader

__all__ = ["MEASUREMENTS", "PatientSide", "build_patient_side", "spoken_values_of"]

_LOGGER = logging.getLogger(__name__)

# Readings the patient takes and is told about. Continuous streams (PLX continuous,
# heart-rate notifications, sleep epochs) and a cuff's intermediate pressures are not
# "a reading received": they would blink and talk all the time.
MEASUREMENTS: tuple[type, ...] = (
    da.BloodPressureMeasurement,
    da.PlxSpotCheckMeasurement,
    da.TemperatureMeasurement,
    da.WeightMeasurement,
    da.GlucoseMeasurement,
)


def _whole(quantity: da.Quantity | None, unit: Unit) -> int | None:
    if quantity is None or quantity.value is None:
        return None
    try:
        value = quantity.to(unit).value
    except ValueError:  # UnitConversionError: not a pressure or a rate after all
        return None
    return None if value is None else round(value)


def spoken_values_of(reading: object) -> SpokenValues | None:
    """A blood-pressure reading's values as read aloud (mmHg, /min); None for other kinds."""
    if not isinstance(reading, da.BloodPressureMeasurement):
        return None
    return SpokenValues(
        _whole(reading.systolic, Unit.MM_HG),
        _whole(reading.diastolic, Unit.MM_HG),
        _whole(reading.pulse_rate, Unit.PER_MIN),
    )


class PatientSide:
    """Feedback, reminders and the call button of one home.

    Args:
        feedback: the light and voice.
        outbox: the gateway's outbox (presses are committed there).
        uploader: the gateway's uploader (its confirmations and contact times).
        identity: this gateway (names the presses).
        zone: the home's time zone.
        plans: reminder times per patient and kind.
        button_pin: the call button's GPIO pin, or None for no button.
        button_patient: who the button belongs to.
        care_team: the CareTeam id a press is addressed to, when known.
        hold_time: seconds for a long press.
        pin_factory: gpiozero's pin factory (tests: MockFactory()).
        now: the gateway's clock (aware UTC).
        tick: seconds between looks at the outage and the reminders.
    """

    def __init__(
        self,
        feedback: Feedback,
        *,
        outbox: Outbox,
        uploader: Uploader,
        identity: GatewayIdentity,
        zone: ZoneInfo,
        plans: Sequence[ReminderPlan] = (),
        button_pin: int | str | None = None,
        button_patient: PatientLink | None = None,
        care_team: str | None = None,
        hold_time: float = 2.0,
        pin_factory: Any = None,
        now: Callable[[], datetime] = utc_now,
        tick: float = 15.0,
    ) -> None:
        self.feedback = feedback
        self.outbox = outbox
        self.uploader = uploader
        self.identity = identity
        self.zone = zone
        self.plans = list(plans)
        self.button_pin = button_pin
        self.button_patient = button_patient
        self.care_team = care_team
        self.hold_time = hold_time
        self.pin_factory = pin_factory
        self.now = now
        self.tick = tick
        self.last_reading: dict[tuple[str, str], datetime] = {}
        self.reminder_state = ReminderState()
        self._tasks: set[asyncio.Task[None]] = set()
        uploader.on_sent = self._sent

    def _sent(self, rows: Sequence[OutboxRow]) -> None:
        self.feedback.uploaded(rows)

    def apply(self, config: FeedbackConfig, reminders: Sequence[ReminderConfig]) -> None:
        """Take new settings while running (e.g. fetched from the clinic): no restart.

        Language, speech, volume, quiet hours, whose values are read aloud, the outage
        time, the button's patient and care team, and the reminder times change at
        once. Reminders already given for a time are remembered, so changing the
        settings never repeats one. The LED and button pins, and the button's hold
        time, belong to the button made at start: they change with a restart only.
        """
        options = config.options()
        if config.print_speech and not config.speech:
            options = replace(options, speech=True)
        self.feedback.options = options
        self.feedback.read_values_for = frozenset(config.read_values_for)
        self.feedback.outage.warn_after = config.outage_warning_after
        self.button_patient = (
            PatientLink(logical_id=config.button_patient) if config.button_patient else None
        )
        self.care_team = config.care_team
        self.plans = [r.plan() for r in reminders]

    # --- from the service ---------------------------------------------------------------

    def committed(self, values: Sequence[Received], bindings: Bindings) -> None:
        """Values the service has just committed: one RECEIVED for the newest measurement."""
        newest: tuple[object, str | None] | None = None
        reading: object
        for value in values:
            try:
                reading = da.parse(value.characteristic, value.data)
            except da.DeviceAdapterError:
                continue
            if not isinstance(reading, MEASUREMENTS):
                continue
            binding = bindings.get(value.context.sensor.bluetooth_address)
            patient = binding.patient_for(getattr(reading, "user_id", None)) if binding else None
            patient_id = patient.logical_id if patient is not None else None
            if binding is not None and patient_id is not None:
                self.last_reading[(patient_id, binding.kind.value)] = value.received_at
            newest = (reading, patient_id)
        if newest is not None:
            reading, patient_id = newest
            self.feedback.received(spoken_values_of(reading), patient_id)

    def press(self, request: Request, pressed_at: datetime) -> None:
        """A button press (on the event loop): commit it, then confirm (not blocking)."""
        task = asyncio.get_running_loop().create_task(self._record(request, pressed_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, request: Request, pressed_at: datetime) -> None:
        patient = self.button_patient
        if patient is None:
            _LOGGER.error("call button pressed (%s) but no patient is set for it", request)
            return
        try:
            await self.outbox.run(
                record_press,
                self.outbox,
                request,
                gateway=self.identity,
                patient=patient,
                pressed_at=pressed_at,
                care_team=self.care_team,
            )
        except StorageError as exc:
            _LOGGER.error("call button press (%s) could not be stored: %s", request, exc)
            return
        self.feedback.accepted(request)
        self.uploader.wake()

    # --- running ------------------------------------------------------------------------

    def look(self) -> None:
        """One look at the outage and the reminders (the loop's body; tests call it)."""
        self.feedback.watch(self.uploader.last_contact, self.uploader.last_failure)
        now = self.now()
        for reminder in due_reminders(
            self.plans,
            now=now,
            zone=self.zone,
            last_reading=self.last_reading,
            state=self.reminder_state,
        ):
            _LOGGER.info("reminder %d for %s: %s", reminder.number, reminder.patient, reminder.kind)
            self.feedback.reminded(reminder)
        self.reminder_state.forget_before(now - timedelta(days=2))

    async def run(self) -> None:
        """Speak, listen to the button and look every `tick` seconds, until cancelled."""
        loop = asyncio.get_running_loop()
        speaker = self.feedback.speaker
        speaking = loop.create_task(speaker.run()) if speaker is not None else None
        button = None
        if self.button_pin is not None:
            button = CallButton(
                self.button_pin,
                on_request=self.press,
                loop=loop,
                now=self.now,
                hold_time=self.hold_time,
                pin_factory=self.pin_factory,
            )
        try:
            while True:
                self.look()
                await asyncio.sleep(self.tick)
        finally:
            if button is not None:
                button.close()
            if self.feedback.light is not None:
                self.feedback.light.close()
            for task in (speaking, *self._tasks):
                if task is not None:
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                if speaking is not None:
                    await speaking


def build_patient_side(
    settings: GatewaySettings,
    outbox: Outbox,
    uploader: Uploader,
    *,
    pin_factory: Any = None,
    output: Callable[[str], None] | None = None,
) -> PatientSide | None:
    """The patient's side as configured; None when nothing of it is (the safe default).

    A LED only with `led_pin`, speech only with `speech = true` (or `print_speech`,
    which prints each sentence instead of playing it), the button only with
    `button_pin`; reminders need nothing but their times (the light blinks).
    """
    config = settings.feedback
    wanted = (
        config.led_pin is not None
        or config.speech
        or config.print_speech
        or config.button_pin is not None
        or bool(settings.reminders)
    )
    if not wanted:
        return None
    light = None
    if config.led_pin is not None:
        light = StatusLight(config.led_pin, pin_factory=pin_factory)
    # A speaker always: speech may be switched on later from the clinic (`apply`); while
    # it is off no sentence reaches it.
    printer = output if output is not None else (print if config.print_speech else None)
    speaker = Speaker(output=printer, play=config.speech or not config.print_speech)
    feedback = Feedback(FeedbackOptions(), zone=settings.zone, light=light, speaker=speaker)
    side = PatientSide(
        feedback,
        outbox=outbox,
        uploader=uploader,
        identity=settings.identity(),
        zone=settings.zone,
        button_pin=config.button_pin,
        hold_time=config.button_hold_time,
        pin_factory=pin_factory,
    )
    side.apply(config, settings.reminders)
    return side

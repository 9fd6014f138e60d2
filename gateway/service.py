"""The gateway service: scan, run a session per advertising device, commit, upload.

One asyncio service. The scanner's callback only decides whether to start a
session; a session's notification callbacks only put values on a queue; the
consumer parses, maps and commits each value to the outbox before anything else
happens to it, then wakes the uploader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

import device_adapters as da

from .bindings import Binding, Bindings
from .heartbeat import status_device
from .mapping import (
    GatewayIdentity,
    MappingContext,
    NotAMeasurement,
    PatientLink,
    SensorIdentity,
    map_reading,
    map_sleep_night,
    nights_from_epochs,
    upload_entries,
)
from .mapping.devices import DeviceKind
from .mapping.sleep_nights import MAX_GAP
from .outbox import Outbox, Supporting, utc_now
from .sessions import RACP_RECORDS, Received, SessionContext, collect_session, racp_session
from .uploader import Uploader

__all__ = ["BleEnvironment", "Gateway"]

_LOGGER = logging.getLogger(__name__)
_LAST_SEQUENCE = "racp-last-sequence"
_NIGHTS_UNTIL = "sleep-nights-until"


@dataclass(frozen=True)
class BleEnvironment:
    """How the gateway reaches Bluetooth: keyword arguments for BleakScanner and BleakClient.

    The real adapter is the default; the emulated bus is chosen explicitly.
    """

    scanner_kwargs: dict[str, Any] = field(default_factory=dict)
    client_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def adapter(cls, name: str | None = None) -> BleEnvironment:
        """The host's Bluetooth adapter through BlueZ (e.g. `hci0`)."""
        bluez = {"adapter": name} if name else {}
        return cls({"bluez": bluez}, {"bluez": bluez})

    @classmethod
    def simulated(cls, bus: Any) -> BleEnvironment:
        """The in-process bumble bus of `gateway.simulation`."""
        from .simulation import BumbleClient, BumbleScanner

        return cls({"backend": BumbleScanner, "bus": bus}, {"backend": BumbleClient, "bus": bus})


class Gateway:
    """Everything that runs on the Raspberry Pi."""

    def __init__(
        self,
        *,
        identity: GatewayIdentity,
        bindings: Bindings,
        outbox: Outbox,
        uploader: Uploader,
        ble: BleEnvironment,
        zone: ZoneInfo,
        now: Callable[[], datetime] = utc_now,
        idle_timeout: float = 5.0,
        cooldown: float = 30.0,
        connect_timeout: float = 20.0,
        heartbeat_interval: float = 300.0,
        test_data: bool = False,
    ) -> None:
        self.identity = identity
        self.bindings = bindings
        self.outbox = outbox
        self.uploader = uploader
        self.ble = ble
        self.zone = zone
        self.now = now
        self.idle_timeout = idle_timeout
        self.cooldown = cooldown
        self.connect_timeout = connect_timeout
        self.test_data = test_data
        self.heartbeat_interval = heartbeat_interval
        self.heartbeats_sent = 0
        self.battery: dict[str, int] = {}
        self._queue: asyncio.Queue[Received] = asyncio.Queue()
        self._busy: set[str] = set()
        self._quiet_until: dict[str, float] = {}
        self._sessions: set[asyncio.Task[None]] = set()
        self.started = time.time()
        self.last_contact: dict[str, float] = {}
        self.sessions_completed = 0
        self.adapter_state = "starting"

    # --- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled."""
        consumer = asyncio.create_task(self._consume(), name="consumer")
        uploader = asyncio.create_task(self.uploader.run(), name="uploader")
        heartbeat = asyncio.create_task(self._heartbeat(), name="heartbeat")
        scanner = BleakScanner(
            detection_callback=self._on_advertisement,
            service_uuids=self.bindings.service_uuids(),
            **self.ble.scanner_kwargs,
        )
        try:
            await scanner.start()
            self.adapter_state = "scanning"
            _LOGGER.info("scanning for %d devices", len(self.bindings.addresses()))
            await asyncio.Event().wait()
        finally:
            self.adapter_state = "stopped"
            with contextlib.suppress(Exception):
                await scanner.stop()
            for task in (*self._sessions, consumer, uploader, heartbeat):
                task.cancel()
            await asyncio.gather(
                *self._sessions, consumer, uploader, heartbeat, return_exceptions=True
            )

    def _on_advertisement(self, device: BLEDevice, _: AdvertisementData) -> None:
        binding = self.bindings.get(device.address)
        if binding is None or device.address in self._busy:
            return
        if self._quiet_until.get(device.address, 0.0) > time.monotonic():
            return
        self._busy.add(device.address)
        task = asyncio.create_task(self._session(device, binding), name=f"session {device.address}")
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _session(self, device: BLEDevice, binding: Binding) -> None:
        try:
            async with BleakClient(
                device, timeout=self.connect_timeout, **self.ble.client_kwargs
            ) as client:
                _LOGGER.info("session with %s: connected", device.address)
                if binding.kind in RACP_RECORDS:
                    last = self.outbox.mark(device.address, _LAST_SEQUENCE)
                    context = await racp_session(
                        client,
                        device.address,
                        binding.kind,
                        self._queue.put_nowait,
                        now=self.now,
                        zone=self.zone,
                        committed=self.drain,
                        last_sequence=int(last) if last is not None else None,
                    )
                    if context.max_sequence is not None:
                        self.outbox.set_mark(
                            device.address, _LAST_SEQUENCE, str(context.max_sequence)
                        )
                    if binding.kind is DeviceKind.SLEEP:
                        await asyncio.to_thread(self._summarize_nights, device.address, context)
                else:
                    context = await collect_session(
                        client,
                        device.address,
                        binding.kind,
                        self._queue.put_nowait,
                        now=self.now,
                        zone=self.zone,
                        idle_timeout=self.idle_timeout,
                    )
            self.sessions_completed += 1
            _LOGGER.info("session with %s: done", device.address)
            if context.battery is not None:
                self.battery[device.address] = context.battery
            self.last_contact[device.address] = time.time()
        except (BleakError, TimeoutError, OSError) as exc:
            _LOGGER.warning("session with %s failed: %s", device.address, exc)
        finally:
            self._busy.discard(device.address)
            self._quiet_until[device.address] = time.monotonic() + self.cooldown

    async def _heartbeat(self) -> None:
        """Report the status every `heartbeat_interval` seconds (the first soon after start)."""
        await asyncio.sleep(min(5.0, self.heartbeat_interval))
        while True:
            device = status_device(self.identity, self.status())
            if await self.uploader.send_status(device, *self.identity.search):
                self.heartbeats_sent += 1
            else:
                _LOGGER.warning("heartbeat not delivered: %s", self.uploader.last_error)
            await asyncio.sleep(self.heartbeat_interval)

    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await asyncio.to_thread(self._commit, item)
                _LOGGER.debug("committed a value from %s", item.context.sensor.bluetooth_address)
                self.uploader.wake()
            except Exception:  # never stop consuming: the value is in quarantine or the log
                _LOGGER.exception(
                    "could not commit a value from %s", item.context.sensor.bluetooth_address
                )
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every received value is committed (before deleting it on a device)."""
        await self._queue.join()

    def _summarize_nights(self, address: str, context: SessionContext) -> None:
        """Sleep summaries for nights that are over and not yet summarised."""
        done_until = self.outbox.mark(address, _NIGHTS_UNTIL)
        epochs = self.outbox.sleep_epochs(address)
        nights = nights_from_epochs(epochs)
        now_local = self.now().astimezone(self.zone).replace(tzinfo=None)
        binding = self.bindings.get(address)
        patient = binding.patient_for(None) if binding else None
        for night in nights:
            if done_until is not None and night.end <= datetime.fromisoformat(done_until):
                continue
            if now_local - night.end < MAX_GAP:
                continue  # the night may not be over
            mapping = MappingContext(
                context.sensor,
                self.identity,
                patient,
                self.now(),
                context.clock,
                self.zone,
                self.test_data,
            )
            resources = map_sleep_night(night, mapping)
            self._queue_resources(resources, context.sensor, patient)
            self.outbox.set_mark(address, _NIGHTS_UNTIL, night.end.isoformat())

    def _queue_resources(
        self, resources: list[dict[str, Any]], sensor: SensorIdentity, patient: PatientLink | None
    ) -> None:
        entries = upload_entries(resources, sensor, self.identity, patient)
        observations = [
            (e.full_url, e.resource, e.if_none_exist)
            for e in entries
            if e.resource["resourceType"] == "Observation"
        ]
        supporting = [
            Supporting(e.full_url, e.resource, e.if_none_exist)
            for e in entries
            if e.resource["resourceType"] != "Observation"
        ]
        self.outbox.add(observations, supporting)
        self.uploader.wake()

    def _commit(self, item: Received) -> None:
        address = item.context.sensor.bluetooth_address
        try:
            reading = da.parse(item.characteristic, item.data)
        except da.DeviceAdapterError as exc:
            _LOGGER.warning("%s sent a malformed value, quarantined: %s", address, exc)
            self.outbox.quarantine(address, item.characteristic, item.data, str(exc))
            return
        binding = self.bindings.get(address)
        patient = binding.patient_for(getattr(reading, "user_id", None)) if binding else None
        context = MappingContext(
            item.context.sensor,
            self.identity,
            patient,
            item.received_at,
            item.context.clock,
            self.zone,
            self.test_data,
        )
        try:
            resources = map_reading(reading, context)
        except NotAMeasurement:
            return
        self._queue_resources(resources, item.context.sensor, patient)
        if isinstance(reading, da.SleepEpoch):
            self.outbox.add_sleep_epoch(address, reading)

    # --- status -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What `homevitals gateway status` and the heartbeat report."""
        counts = self.outbox.counts()
        return {
            "gateway": self.identity.key,
            "software_version": self.identity.software_version,
            "uptime_s": round(time.time() - self.started),
            "bluetooth": self.adapter_state,
            "queue_depth": counts["pending"],
            "oldest_unsent_age_s": self.outbox.oldest_pending_age(),
            "rejected": counts["rejected"],
            "quarantined": counts["quarantined"],
            "sent": counts["sent"],
            "last_upload_contact": self.uploader.last_contact,
            "devices": {
                address: {
                    "last_contact": self.last_contact.get(address),
                    "battery": self.battery.get(address),
                }
                for address in self.bindings.addresses()
            },
        }

"""The gateway service: scan, run a session per advertising device, commit, upload.

One asyncio service. The scanner's callback only decides whether to start a
session; a session's notification callbacks only put values on a queue; the
consumer parses, maps and commits each value to the outbox before anything else
happens to it, then wakes the uploader.

Never losing a reading (issue 9):

- The consumer commits in the outbox's writer thread, all values waiting at that
  moment in one transaction (one fsync), so the event loop never waits for the
  disk and a burst of records costs one commit, not one per record.
- A value whose commit fails (disk full, read-only file system, I/O error) is not
  counted as done: `hold_uncommitted` keeps it in memory (at most `max_held`
  values) and counts it against its session. A session may delete the device's
  stored records (RACP) only when none of its values is uncommitted
  (`deletion_allowed`); otherwise the device keeps them and sends them again.
- Before connecting, a session makes a tiny commit (`Outbox.probe`): a disk that
  is full or read-only already is found before a device hands anything over. A
  disk that fails during a session is what `hold_uncommitted` is for.
- While storage is faulty the gateway connects to no device, so devices that
  forget a record once it is indicated (cuffs, thermometers, scales) keep it. A
  retry loop commits held values every `retry_interval` seconds (or probes the
  disk with a tiny write) and lifts the fault once that works. Uploads of what is
  committed and the heartbeat go on; the fault shows in the log, in
  `homevitals gateway status` and in the heartbeat.
- `hold_uncommitted` and `deletion_allowed` are the two seams a test replaces to
  put issue 9's defect back (a failed commit counted as done; a delete always
  allowed) and watch a fault test see the loss.
- Limit: an indication is confirmed by the host's Bluetooth stack (BlueZ) as it
  arrives, before the gateway sees it. A cuff's value whose commit fails is held in
  memory only; it survives a retry, not a power cut during the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

import device_adapters as da

from .bindings import Binding, Bindings
from .clinic_settings import ClinicSettings
from .epoch_origin import EpochOrigin
from .errors import GatewayError, NotAMeasurement, StorageError
from .heartbeat import HeartbeatPolicy, status_device
from .mapping import (
    GatewayIdentity,
    MappingContext,
    PatientLink,
    SensorIdentity,
    map_reading,
    map_sleep_night,
    nights_from_epochs,
    upload_entries,
)
from .mapping.devices import DeviceKind
from .mapping.sleep_nights import MAX_GAP
from .mapping.sleep_samples import EpochWindow, epoch_windows, map_windows
from .outbox import Batch, Outbox, Supporting, utc_now
from .patient_side import PatientSide
from .sessions import RACP_RECORDS, Received, SessionContext, collect_session, racp_session
from .uploader import Uploader

__all__ = ["BleEnvironment", "Gateway", "deletion_allowed"]

_LOGGER = logging.getLogger(__name__)
_LAST_SEQUENCE = "racp-last-sequence"
_NIGHTS_UNTIL = "sleep-nights-until"
_COMMIT_BATCH = 500  # values per commit at most (a device's memory arrives in one burst)
_PRUNE_EVERY = 3600.0


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


@dataclass(frozen=True, slots=True)
class _Pending:
    """A value on its way to the outbox: which session it belongs to, when it arrived."""

    session: int
    received: Received
    arrived: float  # time.monotonic() in the notification callback


def deletion_allowed(uncommitted: int, dropped: bool) -> bool:
    """May a session delete the device's stored records?

    Only when every value it received is committed: none is held for a retry
    (`uncommitted`) and none was given up (`dropped`, the held values' cap).
    """
    return uncommitted == 0 and not dropped


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
        heartbeat_keepalive: float = 6 * 3600.0,
        prune_after: float = 7 * 86400.0,
        sleep_window: float = 2 * 3600.0,
        retry_interval: float = 5.0,
        max_held: int = 10_000,
        damaged_outbox: Path | None = None,
        test_data: bool = False,
        patient_side: PatientSide | None = None,
        clinic_settings: ClinicSettings | None = None,
    ) -> None:
        self.identity = identity
        self.bindings = bindings
        self._rescan = asyncio.Event()
        self.outbox = outbox
        self.uploader = uploader
        self.ble = ble
        self.zone = zone
        self.now = now
        self.idle_timeout = idle_timeout
        self.cooldown = cooldown
        self.connect_timeout = connect_timeout
        self.test_data = test_data
        # Issue 14: what the patient sees and hears, reminders, the call button (optional).
        self.patient_side = patient_side
        # Issue 14: settings from the clinic, polled and applied to the patient side.
        self.clinic_settings = clinic_settings
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat = HeartbeatPolicy(keepalive=heartbeat_keepalive)
        self.heartbeats_sent = 0
        self.prune_after = prune_after
        # Issue 15: a sleep sensor's epochs wait in the outbox until they span this long
        # (or their night is over), then go as one window; the newest session context per
        # sensor lets the hourly maintenance send a window once its night is over.
        self.sleep_window = timedelta(seconds=sleep_window)
        self._sleep_contexts: dict[str, SessionContext] = {}
        self.retry_interval = retry_interval
        self.max_held = max_held
        self.damaged_outbox = damaged_outbox
        self.battery: dict[str, int] = {}
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._busy: set[str] = set()
        self._quiet_until: dict[str, float] = {}
        self._sessions: set[asyncio.Task[None]] = set()
        self._session_ids = 0
        self.started = time.time()
        self.last_contact: dict[str, float] = {}
        self.sessions_completed = 0
        self.adapter_state = "starting"
        # Storage faults: values whose commit failed, per session how many, and why.
        self.held: deque[_Pending] = deque()
        self._uncommitted: Counter[int] = Counter()
        self._dropped: set[int] = set()
        self.storage_fault: str | None = None
        self.storage_fault_since: float | None = None
        self.deletes_withheld = 0
        # Seconds from a value's arrival off the radio to its commit (the last 1000).
        self.commit_latencies: deque[float] = deque(maxlen=1000)

    # --- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled."""
        tasks = [
            asyncio.create_task(self._consume(), name="consumer"),
            asyncio.create_task(self.uploader.run(), name="uploader"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._maintain(), name="maintenance"),
        ]
        if self.patient_side is not None:
            tasks.append(asyncio.create_task(self.patient_side.run(), name="patient side"))
        if self.clinic_settings is not None:
            tasks.append(asyncio.create_task(self.clinic_settings.run(), name="clinic settings"))
        scanner = self._scanner()
        try:
            while True:
                await scanner.start()
                self.adapter_state = "scanning"
                _LOGGER.info("scanning for %d devices", len(self.bindings.addresses()))
                await self._rescan.wait()
                self._rescan.clear()
                # A kind of device new to this home advertises a service not scanned for.
                with contextlib.suppress(Exception):  # a stop that fails still lets go
                    await scanner.stop()
                scanner = self._scanner()
        finally:
            # Cancel first: while the scanner stops, a heartbeat task still running would
            # see "stopped" as a change worth sending, and be cancelled mid-request.
            for task in (*self._sessions, *tasks):
                task.cancel()
            self.adapter_state = "stopped"
            with contextlib.suppress(Exception):
                await scanner.stop()
            await asyncio.gather(*self._sessions, *tasks, return_exceptions=True)

    def _scanner(self) -> BleakScanner:
        """A scanner (not started) for the services the bound devices advertise."""
        return BleakScanner(
            detection_callback=self._on_advertisement,
            service_uuids=self.bindings.service_uuids(),
            **self.ble.scanner_kwargs,
        )

    def rebind(self, bindings: Bindings) -> None:
        """Read the devices of `bindings` from now on (the clinic's settings, issue 14).

        Readings are mapped to a patient when they are prepared for the outbox, so a
        user slot moved to another patient sends its next readings there, and those
        already committed keep theirs. A newly bound kind of device restarts the scan.
        """
        scanned = self.bindings.service_uuids()
        self.bindings = bindings
        if bindings.service_uuids() != scanned:
            self._rescan.set()

    def _on_advertisement(self, device: BLEDevice, _: AdvertisementData) -> None:
        binding = self.bindings.get(device.address)
        if binding is None or device.address in self._busy:
            return
        if self.storage_fault is not None:
            return  # a device keeps its memory until the outbox can take it
        if self._quiet_until.get(device.address, 0.0) > time.monotonic():
            return
        self._busy.add(device.address)
        task = asyncio.create_task(self._session(device, binding), name=f"session {device.address}")
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _session(self, device: BLEDevice, binding: Binding) -> None:
        self._session_ids += 1
        session = self._session_ids

        delivered: SessionContext | None = None  # the context values arrived with
        complete = True  # every record this session received is committed

        def deliver(received: Received) -> None:
            nonlocal delivered
            delivered = received.context
            self._queue.put_nowait(_Pending(session, received, time.monotonic()))

        async def committed() -> bool:
            nonlocal complete
            await self._queue.join()
            allowed = deletion_allowed(self._uncommitted[session], session in self._dropped)
            if not allowed:
                complete = False
                self.deletes_withheld += 1
                _LOGGER.error(
                    "%s keeps its records: %d of its values are not committed (%s)",
                    device.address,
                    self._uncommitted[session],
                    self.storage_fault,
                )
            return allowed

        try:
            # A tiny commit first: a disk that cannot take one (full, read-only) is found
            # before the device hands anything over, and the device keeps everything.
            await self.outbox.run(self.outbox.probe)
            async with BleakClient(
                device, timeout=self.connect_timeout, **self.ble.client_kwargs
            ) as client:
                _LOGGER.info("session with %s: connected", device.address)
                if binding.kind in RACP_RECORDS:
                    last = await self.outbox.run(self.outbox.mark, device.address, _LAST_SEQUENCE)
                    context = await racp_session(
                        client,
                        device.address,
                        binding.kind,
                        deliver,
                        now=self.now,
                        zone=self.zone,
                        committed=committed,
                        last_sequence=int(last) if last is not None else None,
                    )
                    if context.max_sequence is not None:
                        await self.outbox.run(
                            self.outbox.set_mark,
                            device.address,
                            _LAST_SEQUENCE,
                            str(context.max_sequence),
                        )
                    if binding.kind is DeviceKind.SLEEP:
                        self._sleep_contexts[device.address] = context
                    if binding.kind is DeviceKind.SLEEP and complete:
                        # The kept epochs (this session's and any left by an earlier one)
                        # go as windows once they span `sleep_window` or their night is
                        # over. Not after a session that could not commit everything: its
                        # night would be summarised without the epochs the device resends.
                        await self.outbox.run(self._send_windows, device.address, context)
                        await self.outbox.run(self._summarize_nights, device.address, context)
                else:
                    context = await collect_session(
                        client,
                        device.address,
                        binding.kind,
                        deliver,
                        now=self.now,
                        zone=self.zone,
                        idle_timeout=self.idle_timeout,
                    )
            self.sessions_completed += 1
            _LOGGER.info("session with %s: done", device.address)
            if context.battery is not None:
                self.battery[device.address] = context.battery
            self.last_contact[device.address] = time.time()
        except StorageError as exc:
            self._storage_failed(exc)
        except (BleakError, GatewayError, TimeoutError, OSError) as exc:
            _LOGGER.warning("session with %s failed: %s", device.address, exc)
            if binding.kind is DeviceKind.SLEEP and delivered is not None:
                # What it committed is kept; the next session or the maintenance sends it.
                self._sleep_contexts.setdefault(device.address, delivered)
        finally:
            self._busy.discard(device.address)
            self._quiet_until[device.address] = time.monotonic() + self.cooldown
            self._dropped.discard(session)
            if self._uncommitted[session] == 0:
                del self._uncommitted[session]

    async def _heartbeat(self) -> None:
        """Look at the status every `heartbeat_interval` seconds (the first soon after start);
        send it when the policy says so (a material change, or the keep-alive is due)."""
        await asyncio.sleep(min(5.0, self.heartbeat_interval))
        while True:
            try:
                status = await self.current_status()
            except StorageError as exc:
                self._storage_failed(exc)
                status = self.status(counts=False)
            now = time.time()
            if self.heartbeat.due(status, now):
                device = status_device(self.identity, status)
                if await self.uploader.send_status(device, *self.identity.search):
                    self.heartbeat.sent(status, now)
                    self.heartbeats_sent += 1
                else:
                    _LOGGER.warning("heartbeat not delivered: %s", self.uploader.last_error)
            await asyncio.sleep(self.heartbeat_interval)

    # --- committing ---------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < _COMMIT_BATCH and not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                await self._commit(items)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _commit(self, items: list[_Pending]) -> bool:
        """Commit values in the writer thread; hold them for a retry if that fails."""
        try:
            added = await self.outbox.run(self._prepare_and_commit, [p.received for p in items])
        except StorageError as exc:
            self._storage_failed(exc)
            self.hold_uncommitted(items, exc)
            return False
        if added and self.patient_side is not None:
            self.patient_side.committed([p.received for p in items], self.bindings)
        done = time.monotonic()
        self.commit_latencies.extend(done - p.arrived for p in items)
        for item in items:
            _LOGGER.debug(
                "committed a value from %s", item.received.context.sensor.bluetooth_address
            )
        self.uploader.wake()
        return True

    def hold_uncommitted(self, items: list[_Pending], error: StorageError) -> None:
        """Keep values whose commit failed, for a retry, and count them against their session.

        A session with uncommitted values does not delete the device's records. Beyond
        `max_held` values the oldest are given up (logged) and their sessions marked, so
        those devices keep their records too.
        """
        for item in items:
            self.held.append(item)
            self._uncommitted[item.session] += 1
        while len(self.held) > self.max_held:
            gone = self.held.popleft()
            self._uncommitted[gone.session] -= 1
            self._dropped.add(gone.session)
            _LOGGER.error(
                "gave up a value from %s held since a storage fault (more than %d held)",
                gone.received.context.sensor.bluetooth_address,
                self.max_held,
            )
        _LOGGER.error("could not commit %d values, held for a retry: %s", len(items), error)

    async def retry_held(self) -> bool:
        """Commit the held values (or, with none held, probe the disk); True once storage works."""
        items = list(self.held)
        try:
            if items:
                added = await self.outbox.run(self._prepare_and_commit, [p.received for p in items])
                if added and self.patient_side is not None:
                    self.patient_side.committed([p.received for p in items], self.bindings)
            else:
                await self.outbox.run(self.outbox.probe)
        except StorageError as exc:
            self._storage_failed(exc)
            return False
        done = {id(item) for item in items}
        for item in self.held:
            if id(item) in done:  # not given up meanwhile (the cap)
                self._uncommitted[item.session] -= 1
        self._uncommitted = +self._uncommitted  # forget sessions with nothing uncommitted
        self.held = deque(item for item in self.held if id(item) not in done)
        if items:
            self.uploader.wake()
        if self.storage_fault is not None:
            _LOGGER.warning(
                "storage works again (%d held values committed); reading devices again",
                len(items),
            )
        self.storage_fault = self.storage_fault_since = None
        return True

    def _storage_failed(self, exc: StorageError) -> None:
        if self.storage_fault is None:
            self.storage_fault_since = time.time()
            _LOGGER.error("storage fault: %s; devices keep their memory until it is over", exc)
        self.storage_fault = str(exc)

    async def _maintain(self) -> None:
        """Retry held values while storage is faulty; prune sent rows every hour."""
        next_prune = time.monotonic()
        while True:
            await asyncio.sleep(self.retry_interval)
            if self.held or self.storage_fault is not None:
                await self.retry_held()
            if time.monotonic() >= next_prune and self.storage_fault is None:
                next_prune = time.monotonic() + _PRUNE_EVERY
                try:
                    pruned = await self.outbox.run(self.outbox.prune, self.prune_after)
                except StorageError as exc:
                    self._storage_failed(exc)
                else:
                    if pruned:
                        _LOGGER.info(
                            "pruned %d rows sent more than %.0f s ago", pruned, self.prune_after
                        )
                for address, context in list(self._sleep_contexts.items()):
                    # A sensor that stopped connecting: its night's last window still goes.
                    try:
                        await self.outbox.run(self._send_windows, address, context)
                    except StorageError as exc:
                        self._storage_failed(exc)

    async def drain(self) -> None:
        """Wait until every received value has been through a commit (committed or held)."""
        await self._queue.join()

    def _prepare_and_commit(self, values: list[Received]) -> int:
        """In the writer thread: parse and map each value, commit them all in one transaction."""
        batch = Batch()
        for value in values:
            batch.extend(self._prepare(value))
        return self.outbox.commit(batch)

    def _prepare(self, item: Received) -> Batch:
        """One value as rows: Observations and supporting entries, or a quarantined payload."""
        address = item.context.sensor.bluetooth_address
        try:
            reading = da.parse(item.characteristic, item.data)
        except da.DeviceAdapterError as exc:
            _LOGGER.warning("%s sent a malformed value, quarantined: %s", address, exc)
            return Batch(quarantined=[(address, item.characteristic, item.data, str(exc))])
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
        if isinstance(reading, da.SleepEpoch) and reading.device_time is not None:
            # Issue 15: kept, and sent in a window (`_send_windows`) as
            # SampledData. An epoch without a device time has no place on the window's
            # grid: it goes on its own, as below.
            origin = EpochOrigin(item.received_at, item.context.clock, patient)
            return Batch(epochs=[(address, reading, origin)])
        try:
            resources = map_reading(reading, context)
        except NotAMeasurement:
            return Batch()
        except Exception as exc:  # a mapping bug: keep the raw value rather than lose it
            _LOGGER.exception("%s: could not map a value, quarantined", address)
            return Batch(
                quarantined=[(address, item.characteristic, item.data, f"mapping: {exc!r}")]
            )
        return self._rows(resources, item.context.sensor, patient)

    def _rows(
        self, resources: list[dict[str, Any]], sensor: SensorIdentity, patient: PatientLink | None
    ) -> Batch:
        entries = upload_entries(resources, sensor, self.identity, patient)
        return Batch(
            entries=[
                (e.full_url, e.resource, e.if_none_exist)
                for e in entries
                if e.resource["resourceType"] == "Observation"
            ],
            supporting=[
                Supporting(e.full_url, e.resource, e.if_none_exist)
                for e in entries
                if e.resource["resourceType"] != "Observation"
            ],
        )

    def _send_windows(self, address: str, context: SessionContext) -> None:
        """In the writer thread: the device's kept epochs that no window has carried yet,
        as SampledData Observations, committed with the marks saying which window did.

        One transaction: the Observations and the marks go together or not at all, so an
        epoch is sent in exactly one window (issue 15). The epochs are committed (the
        device may delete them) before this; a window waits until it spans
        `sleep_window` or its night is over (`MAX_GAP` after its end on the device's
        clock), so a sensor read every few minutes through the night still sends a few
        windows a night, not one per session.

        Each window is mapped with the clock and patient of the session its epochs came
        in (`EpochOrigin`), not `context`'s: the gateway sets the device clock at every
        session, so an epoch stamped an hour slow and sent in the next session still
        needs its own hour. Windows are cut where that origin changes. `context` stands
        in for epochs kept before origins were (NULL), as it did for all of them before.
        """
        kept = self.outbox.unsampled_epochs_with_origin(address)
        if not kept:
            return
        binding = self.bindings.get(address)
        fallback = EpochOrigin(
            self.now(), context.clock, binding.patient_for(None) if binding else None
        )
        now = self.now().astimezone(self.zone).replace(tzinfo=None)
        sent: list[tuple[EpochOrigin, list[EpochWindow]]] = []
        for origin, epochs in self._by_origin(kept, fallback):
            drift = origin.drift(self.zone)
            device_now = now if drift is None else now - drift
            due = [
                w
                for w in epoch_windows(epochs)
                if w.span >= self.sleep_window or device_now - (w.start + w.span) >= MAX_GAP
            ]
            if due:
                sent.append((origin, due))
        if not sent:
            return
        batch = Batch()
        for origin, windows in sent:
            mapping = MappingContext(
                context.sensor,
                self.identity,
                origin.patient,
                origin.received_at,
                origin.clock,
                self.zone,
                self.test_data,
            )
            resources = map_windows(windows, mapping)
            if resources:
                batch.extend(self._rows(resources, context.sensor, origin.patient))
            batch.sampled += [
                (address, e.device_time.isoformat(), e.sequence_number, window.name)
                for window in windows
                for e in window.epochs
                if e.device_time is not None
            ]
        self.outbox.commit(batch)
        self.uploader.wake()
        _LOGGER.info(
            "%s: %d epochs sent as %d windows (%d Observations)",
            address,
            len(batch.sampled),
            sum(len(windows) for _, windows in sent),
            len(batch.entries),
        )

    def _by_origin(
        self, kept: list[tuple[da.SleepEpoch, EpochOrigin | None]], fallback: EpochOrigin
    ) -> list[tuple[EpochOrigin, list[da.SleepEpoch]]]:
        """The kept epochs grouped by the session they came in, as far as mapping goes.

        An epoch joins the first group whose first origin maps the same
        (`EpochOrigin.same_mapping`: compared with the first, so a clock creeping a
        second a session cannot stretch a group without bound). Each group is named by
        its newest origin: no epoch of it was received later, so none is "in the future".
        """
        groups: list[tuple[EpochOrigin, EpochOrigin, list[da.SleepEpoch]]] = []
        for epoch, stored in kept:
            origin = stored if stored is not None else fallback
            for i, (first, newest, epochs) in enumerate(groups):
                if first.same_mapping(origin, self.zone):
                    epochs.append(epoch)
                    if origin.received_at > newest.received_at:
                        groups[i] = (first, origin, epochs)
                    break
            else:
                groups.append((origin, origin, [epoch]))
        return [(newest, epochs) for _, newest, epochs in groups]

    def _device_now(self, context: SessionContext) -> datetime:
        """Now on the device's clock, as its session's clock sample found it (no zone)."""
        now = self.now().astimezone(self.zone).replace(tzinfo=None)
        drift = context.clock.drift(self.zone) if context.clock is not None else None
        return now if drift is None else now - drift

    def _summarize_nights(self, address: str, context: SessionContext) -> None:
        """In the writer thread: sleep summaries for nights that are over and not yet done.

        Each epoch counts in one summary at most: only epochs after the last summarised
        night's end are grouped, so epochs arriving after their night was summarised
        make a night of their own rather than a second, overlapping summary of it. A
        night is over once MAX_GAP has passed on the device's clock, which stamped the
        epochs (the session's clock sample): a device running an hour behind would
        otherwise have its night summarised an hour early, before its last epochs.
        """
        done_until = self.outbox.mark(address, _NIGHTS_UNTIL)
        after = datetime.fromisoformat(done_until) if done_until is not None else None
        epochs = self.outbox.sleep_epochs(address, since=after)
        nights = nights_from_epochs(epochs)
        now_device = self._device_now(context)
        binding = self.bindings.get(address)
        patient = binding.patient_for(None) if binding else None
        for night in nights:
            if now_device - night.end < MAX_GAP:
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
            self.outbox.commit(self._rows(map_sleep_night(night, mapping), context.sensor, patient))
            self.uploader.wake()
            self.outbox.set_mark(address, _NIGHTS_UNTIL, night.end.isoformat())

    # --- status -------------------------------------------------------------------------

    async def current_status(self) -> dict[str, Any]:
        """`status()`, with the outbox read in its writer thread (for the event loop)."""
        return await self.outbox.run(self.status)

    def status(self, *, counts: bool = True) -> dict[str, Any]:
        """What `homevitals gateway status` and the heartbeat report.

        Reads the outbox (call `current_status` from the event loop); with
        `counts=False` (the outbox cannot be read) only what the service knows itself.
        """
        outbox: dict[str, Any] = {"pending": None, "sent": None, "rejected": None}
        outbox["quarantined"] = None
        oldest = None
        size: dict[str, int | None] = {"rows": None, "bytes": None}
        waiting: int | None = None
        if counts:
            outbox = dict(self.outbox.counts())
            oldest = self.outbox.oldest_pending_age()
            size = dict(self.outbox.size())
            waiting = len(self.outbox.waiting_for_server())
        storage = "ok"
        if self.storage_fault is not None:
            storage = f"fault: {self.storage_fault}"
        elif self.uploader.storage_error is not None:
            storage = f"fault: {self.uploader.storage_error}"
        return {
            "gateway": self.identity.key,
            "software_version": self.identity.software_version,
            "uptime_s": round(time.time() - self.started),
            "bluetooth": self.adapter_state,
            "storage": storage,
            "storage_fault_since": self.storage_fault_since,
            "held_values": len(self.held),
            "damaged_outbox": str(self.damaged_outbox) if self.damaged_outbox else None,
            "queue_depth": outbox["pending"],
            "oldest_unsent_age_s": oldest,
            "waiting_for_server": waiting,  # readings whose Patient/Device it does not hold
            "rejected": outbox["rejected"],
            "quarantined": outbox["quarantined"],
            "sent": outbox["sent"],
            "outbox_rows": size["rows"],
            "outbox_bytes": size["bytes"],
            "last_upload_contact": self.uploader.last_contact,
            "devices": {
                address: {
                    "last_contact": self.last_contact.get(address),
                    "battery": self.battery.get(address),
                    "kind": binding.kind.value if (binding := self.bindings.get(address)) else None,
                }
                for address in self.bindings.addresses()
            },
        }

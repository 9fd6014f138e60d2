"""Emulated Bluetooth LE health devices: real GATT servers on a `VirtualBus`.

Each emulator can be scripted: readings in its memory, a clock that is set,
drifted or unset, NaN values, a malformed payload, a disconnect in the middle of
a batch, records sent twice, and a CCCD that needs an encrypted link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bumble import gatt
from bumble.att import Attribute
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

from device_adapters.clock import encode_current_time, parse_current_time, parse_date_time

from . import encoding
from .bus import VirtualBus, make_device

__all__ = [
    "BloodPressureCuff",
    "DeviceClock",
    "EmulatedPeripheral",
    "HeartRateMonitor",
    "PulseOximeter",
    "SleepSensor",
    "StoredRecord",
]

_LOGGER = logging.getLogger(__name__)
_NO_PERMISSIONS = Attribute.Permissions(0)
_READ = Attribute.Permissions.READABLE
_READ_WRITE = Attribute.Permissions.READABLE | Attribute.Permissions.WRITEABLE
_ENCRYPTED = (
    Attribute.Permissions.READ_REQUIRES_ENCRYPTION | Attribute.Permissions.WRITE_REQUIRES_ENCRYPTION
)


def _uuid16(number: int) -> UUID:
    return UUID.from_16_bits(number)


@dataclass
class DeviceClock:
    """A device's wall clock: the home's local time shifted by `drift`, or not set at all."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Tokyo"))
    drift: timedelta = timedelta(0)
    is_set: bool = True

    def now(self) -> datetime | None:
        """What the device shows now (naive local time), or None when unset."""
        if not self.is_set:
            return None
        return (datetime.now(UTC).astimezone(self.zone) + self.drift).replace(
            tzinfo=None, microsecond=0
        )

    def set_to(self, wall_clock: datetime) -> None:
        """The gateway wrote the clock."""
        real = datetime.now(UTC).astimezone(self.zone).replace(tzinfo=None)
        self.drift = wall_clock - real.replace(microsecond=0)
        self.is_set = True


@dataclass
class StoredRecord:
    """A payload in the device's memory, sent until its indication is confirmed."""

    payload: bytes
    sent: bool = False


class EmulatedPeripheral:
    """Base class: a bumble Device with Device Information, Battery and Current Time."""

    kind = "generic"
    service_uuid = 0x1800

    def __init__(
        self,
        address: str,
        name: str,
        *,
        manufacturer: str = "HomeVitals Emulated",
        model: str = "EMU-1",
        serial: str = "0001",
        firmware: str = "1.0.0",
        system_id: bytes | None = None,
        battery: int = 90,
        clock: DeviceClock | None = None,
        require_encryption: bool = False,
    ) -> None:
        self.address = address
        self.name = name
        self.clock = clock or DeviceClock()
        self.battery = battery
        self.require_encryption = require_encryption
        self._info = {0x2A29: manufacturer, 0x2A24: model, 0x2A25: serial, 0x2A26: firmware}
        self._system_id = system_id
        self.device: Device | None = None
        self.connections: list[Connection] = []
        self.connections_made = 0
        self._tasks: set[asyncio.Future[None]] = set()  # keeps background sends alive
        self.clock_writes: list[datetime] = []
        # Called the moment the device's memory changes (a record confirmed or deleted), as
        # a real device writes its flash then: a simulated home persists itself here.
        self.on_memory_change: Callable[[], None] | None = None

    def _memory_changed(self) -> None:
        if self.on_memory_change is not None:
            self.on_memory_change()

    # --- GATT database ------------------------------------------------------------------

    def measurement_services(self) -> list[gatt.Service]:
        """The device's own services (subclasses)."""
        return []

    def _common_services(self) -> list[gatt.Service]:
        info = [
            gatt.Characteristic(
                _uuid16(uuid), gatt.Characteristic.Properties.READ, _READ, value.encode()
            )
            for uuid, value in self._info.items()
        ]
        if self._system_id is not None:
            info.append(
                gatt.Characteristic(
                    _uuid16(0x2A23), gatt.Characteristic.Properties.READ, _READ, self._system_id
                )
            )
        battery: gatt.Characteristic[bytes] = gatt.Characteristic(
            _uuid16(0x2A19),
            gatt.Characteristic.Properties.READ,
            _READ,
            gatt.CharacteristicValue[bytes](read=lambda _: bytes([self.battery])),
        )
        current_time: gatt.Characteristic[bytes] = gatt.Characteristic(
            _uuid16(0x2A2B),
            gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.WRITE,
            _READ_WRITE,
            gatt.CharacteristicValue[bytes](read=self._read_clock, write=self._write_clock),
        )
        return [
            gatt.Service(_uuid16(0x180A), info),
            gatt.Service(_uuid16(0x180F), [battery]),
            gatt.Service(_uuid16(0x1805), [current_time]),
        ]

    def _read_clock(self, _: Connection) -> bytes:
        now = self.clock.now()
        return bytes(10) if now is None else encode_current_time(now)

    def _write_clock(self, _: Connection, value: bytes) -> None:
        decoded = parse_current_time(value) if len(value) >= 10 else parse_date_time(value)
        if decoded.device_time is not None:
            self.clock.set_to(decoded.device_time)
            self.clock_writes.append(decoded.device_time)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, bus: VirtualBus) -> None:
        """Power on, serve GATT and advertise (every 20 ms, so scans are quick)."""
        device = await make_device(bus.link, self.address, self.name)
        device.add_services(self.measurement_services() + self._common_services())
        if self.require_encryption:
            self._protect_cccds(device)
        device.on("connection", self._on_connection)
        device.advertising_data = bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    self._advertised_service(),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                ]
            )
        )
        self.device = device
        await device.start_advertising(
            auto_restart=True, advertising_interval_min=20, advertising_interval_max=20
        )

    def _advertised_service(self) -> tuple[int, bytes]:
        """The service UUID list the device advertises (AD type, bytes)."""
        return (
            AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
            self.service_uuid.to_bytes(2, "little"),
        )

    def _protect_cccds(self, device: Device) -> None:
        # bumble adds CCCDs readable and writeable by anyone: make them need encryption,
        # as cuffs that want a bond do.
        for attribute in device.gatt_server.attributes:
            if (
                getattr(attribute, "type", None)
                == gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
            ):
                attribute.permissions = _ENCRYPTED

    async def stop(self) -> None:
        """Power off."""
        if self.device is not None:
            with contextlib.suppress(Exception):
                await self.device.stop_advertising()
            for connection in list(self.connections):
                with contextlib.suppress(Exception):
                    await connection.disconnect()
            with contextlib.suppress(Exception):
                await self.device.power_off()

    def _on_connection(self, connection: Connection) -> None:
        self.connections.append(connection)
        self.connections_made += 1
        connection.on("disconnection", lambda *_: self._on_disconnection(connection))

    def _on_disconnection(self, connection: Connection) -> None:
        with contextlib.suppress(ValueError):
            self.connections.remove(connection)

    async def disconnect_all(self) -> None:
        """The device ends its connections (as cuffs do after sending their memory)."""
        for connection in list(self.connections):
            with contextlib.suppress(Exception):
                await connection.disconnect()


class IndicatingDevice(EmulatedPeripheral):
    """A device that indicates its memory when the gateway subscribes, then disconnects.

    Each record is marked sent only when its indication is confirmed, as A&D and
    Omron cuffs, thermometers and scales do.
    """

    measurement_uuid = 0x0000

    def __init__(self, address: str, name: str, **kwargs: Any) -> None:
        super().__init__(address, name, **kwargs)
        self.memory: list[StoredRecord] = []
        self.sent_encrypted: list[bool] = []  # whether each indication went over an encrypted link
        self.disconnect_after: int | None = None  # cut the link after this many records
        self.resend_sent = False  # send already-sent records again (devices do)
        self.stay_connected = False
        self._measurement: gatt.Characteristic[bytes] | None = None
        self._upload: asyncio.Task[None] | None = None
        self._bearer: Any = None

    def remember(self, payload: bytes) -> bytes:
        """Put a payload in memory (a malformed one too)."""
        self.memory.append(StoredRecord(payload))
        return payload

    store_raw = remember

    async def send_live(self, payload: bytes) -> bytes:
        """A measurement taken while connected and subscribed: indicated at once."""
        record = StoredRecord(payload)
        self.memory.append(record)
        if self.device is not None and self._measurement is not None and self._bearer is not None:
            await self.device.indicate_subscriber(self._bearer, self._measurement, payload)
            record.sent = True
            self._memory_changed()
        return payload

    def extra_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        """Feature and clock characteristics of the device's service (subclasses)."""
        return []

    def measurement_services(self) -> list[gatt.Service]:
        self._measurement = gatt.Characteristic(
            _uuid16(self.measurement_uuid),
            gatt.Characteristic.Properties.INDICATE,
            _NO_PERMISSIONS,
            b"",
        )
        self._measurement.on("subscription", self._on_subscription)
        return [
            gatt.Service(
                _uuid16(self.service_uuid), [self._measurement, *self.extra_characteristics()]
            )
        ]

    def _on_subscription(self, bearer: Any, notify_enabled: bool, indicate_enabled: bool) -> None:
        self._bearer = bearer if indicate_enabled else None
        if indicate_enabled and (self._upload is None or self._upload.done()):
            self._upload = asyncio.ensure_future(self._send_memory(bearer))

    async def _send_memory(self, bearer: Any) -> None:
        assert self.device is not None and self._measurement is not None  # noqa: S101 - started
        sent_now = 0
        try:
            for record in list(self.memory):
                if record.sent and not self.resend_sent:
                    continue
                if self.disconnect_after is not None and sent_now >= self.disconnect_after:
                    self.disconnect_after = None  # only once
                    await self.disconnect_all()
                    return
                await self.device.indicate_subscriber(bearer, self._measurement, record.payload)
                self.sent_encrypted.append(bool(getattr(bearer, "is_encrypted", False)))
                # Confirmed (indicate_subscriber returns after the ATT confirmation): the
                # device marks the record sent, and will not send it again unless it resends.
                record.sent = True
                self._memory_changed()
                sent_now += 1
            await asyncio.sleep(0.2)
            if not self.stay_connected:
                await self.disconnect_all()
        except Exception as exc:  # the link went away mid-batch: the rest stays unsent
            _LOGGER.debug("%s stopped sending: %s", self.address, exc)


class BloodPressureCuff(IndicatingDevice):
    """A cuff (Blood Pressure Service 0x1810) with user slots and a memory."""

    kind = "blood-pressure"
    service_uuid = 0x1810
    measurement_uuid = 0x2A35

    def __init__(self, address: str, name: str = "BP Cuff", **kwargs: Any) -> None:
        super().__init__(address, name, **kwargs)

    def _payload(
        self,
        systolic: float | None,
        diastolic: float | None,
        pulse: float | None,
        user: int | None,
        when: datetime | None,
        status: int | None,
    ) -> bytes:
        mean = (
            None
            if systolic is None or diastolic is None
            else round(diastolic + (systolic - diastolic) / 3)
        )
        stamp: datetime | None = when if when is not None else self.clock.now()
        return encoding.blood_pressure_measurement(
            systolic, diastolic, mean, stamp=stamp, pulse=pulse, user=user, status=status
        )

    def measure(
        self,
        systolic: float | None,
        diastolic: float | None,
        pulse: float | None = 72,
        *,
        user: int | None = 1,
        when: datetime | None = None,
        status: int | None = 0,
    ) -> bytes:
        """Take a measurement now (device clock) or at `when` (device clock time)."""
        return self.remember(self._payload(systolic, diastolic, pulse, user, when, status))

    async def measure_live(
        self, systolic: float, diastolic: float, pulse: float, *, user: int = 1
    ) -> bytes:
        """Measure while connected and subscribed: the reading is indicated at once."""
        return await self.send_live(self._payload(systolic, diastolic, pulse, user, None, 0))

    def extra_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        feature: gatt.Characteristic[bytes] = gatt.Characteristic(
            _uuid16(0x2A49),
            gatt.Characteristic.Properties.READ,
            _READ,
            (0x0027).to_bytes(2, "little"),
        )
        date_time: gatt.Characteristic[bytes] = gatt.Characteristic(
            _uuid16(0x2A08),
            gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.WRITE,
            _READ_WRITE,
            gatt.CharacteristicValue[bytes](
                read=lambda _: encoding.date_time(self.clock.now()), write=self._write_clock
            ),
        )
        return [feature, date_time]


class Thermometer(IndicatingDevice):
    """A health thermometer (0x1809): Temperature Measurement in Cel with a time stamp."""

    kind = "thermometer"
    service_uuid = 0x1809
    measurement_uuid = 0x2A1C

    def measure(
        self, celsius: float | None, *, when: datetime | None = None, site: int = 1
    ) -> bytes:
        """A reading (armpit by default, as in Japan)."""
        return self.remember(
            encoding.temperature(
                celsius, stamp=when if when is not None else self.clock.now(), site=site
            )
        )


class WeightScale(IndicatingDevice):
    """A weight scale (0x181D): Weight Measurement in kg with a time stamp and user."""

    kind = "weight-scale"
    service_uuid = 0x181D
    measurement_uuid = 0x2A9D

    def measure(
        self, kilograms: float | None, *, when: datetime | None = None, user: int | None = 1
    ) -> bytes:
        """A weighing."""
        return self.remember(
            encoding.weight(
                kilograms, stamp=when if when is not None else self.clock.now(), user=user
            )
        )


_RACP_RESPONSE = 0x06
_RACP_COUNT_RESPONSE = 0x05
_FROM_STORAGE = 1 << 9  # PLX Measurement Status: data from measurement storage


class PulseOximeter(EmulatedPeripheral):
    """A spot-check oximeter (PLXS 0x1822) with a record store behind the RACP.

    Stored records are reported on Spot-check Measurement when the gateway asks
    (`01 01` all records, `04 01` count) and deleted only when it says so (`02 01`),
    as a gateway must delete only what it has safely stored.
    """

    kind = "pulse-oximeter"
    service_uuid = 0x1822

    def __init__(self, address: str, name: str = "Oximeter", **kwargs: Any) -> None:
        super().__init__(address, name, **kwargs)
        self.memory: list[bytes] = []
        self.deletions = 0
        self.disconnect_after: int | None = None
        self._spot: gatt.Characteristic[bytes] | None = None
        self._racp: gatt.Characteristic[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._continuous: gatt.Characteristic[bytes] | None = None
        self.stream: list[tuple[float, float]] = []  # continuous samples to notify, once subscribed

    def measure(
        self, spo2: float | None, pulse: float | None, *, when: datetime | None = None
    ) -> bytes:
        """Store a spot check taken at `when` (device clock; now by default)."""
        stamp = when if when is not None else self.clock.now()
        payload = encoding.plx_spot_check(spo2, pulse, stamp=stamp, status=_FROM_STORAGE)
        self.memory.append(payload)
        return payload

    def measurement_services(self) -> list[gatt.Service]:
        self._spot = gatt.Characteristic(
            _uuid16(0x2A5E), gatt.Characteristic.Properties.INDICATE, _NO_PERMISSIONS, b""
        )
        features = gatt.Characteristic(
            _uuid16(0x2A60),
            gatt.Characteristic.Properties.READ,
            _READ,
            (0x0001 | 0x0004 | 0x0008).to_bytes(2, "little") + (0xFFE0).to_bytes(2, "little"),
        )
        self._racp = gatt.Characteristic(
            _uuid16(0x2A52),
            gatt.Characteristic.Properties.WRITE | gatt.Characteristic.Properties.INDICATE,
            _READ_WRITE,
            gatt.CharacteristicValue[bytes](write=self._on_racp_write),
        )
        self._continuous = gatt.Characteristic(
            _uuid16(0x2A5F), gatt.Characteristic.Properties.NOTIFY, _NO_PERMISSIONS, b""
        )
        self._continuous.on("subscription", self._on_continuous)
        return [gatt.Service(_uuid16(0x1822), [self._spot, self._continuous, features, self._racp])]

    def _on_continuous(self, bearer: Any, notify_enabled: bool, indicate_enabled: bool) -> None:
        if notify_enabled and self.stream:
            self._tasks.add(asyncio.ensure_future(self._send_stream(bearer)))

    async def _send_stream(self, bearer: Any) -> None:
        assert self.device is not None and self._continuous is not None  # noqa: S101
        await asyncio.sleep(0.3)  # after the stored records
        samples = list(self.stream)
        self.stream.clear()
        for spo2, pulse in samples:
            try:
                await self.device.notify_subscriber(
                    bearer, self._continuous, encoding.plx_continuous(spo2, pulse)
                )
            except Exception as exc:
                _LOGGER.debug("oximeter %s stream stopped: %s", self.address, exc)
                return
            await asyncio.sleep(0.05)

    def _on_racp_write(self, connection: Connection, value: bytes) -> None:
        if self._task is not None and not self._task.done():
            self._task = asyncio.ensure_future(
                self._respond(connection, value[:1] and bytes([value[0]]), busy=True)
            )
            return
        self._task = asyncio.ensure_future(self._respond(connection, bytes(value)))

    async def _respond(self, connection: Connection, request: bytes, busy: bool = False) -> None:
        assert self.device is not None and self._spot is not None and self._racp is not None  # noqa: S101
        await asyncio.sleep(0.01)  # the write's response goes out first
        op = request[0] if request else 0
        try:
            if busy:
                await self._answer(connection, op, 0x0A)
            elif op == 0x01 and request[1:2] == b"\x01":  # report all stored records
                if not self.memory:
                    await self._answer(connection, op, 0x06)
                    return
                for sent, record in enumerate(list(self.memory)):
                    if self.disconnect_after is not None and sent >= self.disconnect_after:
                        self.disconnect_after = None
                        await self.disconnect_all()
                        return
                    await self.device.indicate_subscriber(connection, self._spot, record)
                await self._answer(connection, op, 0x01)
            elif op == 0x04 and request[1:2] == b"\x01":  # number of stored records
                payload = bytes([_RACP_COUNT_RESPONSE, 0]) + len(self.memory).to_bytes(2, "little")
                await self.device.indicate_subscriber(connection, self._racp, payload)
            elif op == 0x02 and request[1:2] == b"\x01":  # delete all stored records
                self.memory.clear()
                self.deletions += 1
                self._memory_changed()  # erased before the answer goes out, as devices do
                await self._answer(connection, op, 0x01)
            elif op in (0x01, 0x02, 0x04):
                await self._answer(connection, op, 0x04)  # operator not supported (PLX: all only)
            else:
                await self._answer(connection, op, 0x02)  # op code not supported
        except Exception as exc:
            _LOGGER.debug("oximeter %s stopped answering: %s", self.address, exc)

    async def _answer(self, connection: Connection, request_op: int, code: int) -> None:
        assert self.device is not None and self._racp is not None  # noqa: S101
        await self.device.indicate_subscriber(
            connection, self._racp, bytes([_RACP_RESPONSE, 0, request_op, code])
        )


class SleepSensor(EmulatedPeripheral):
    """A bedside sensor on the HomeVitals open sleep profile, with an epoch store behind RACP.

    Supports report all (`01 01`), report from a sequence number (`01 03 01 n`), count,
    delete all (`02 01`) and delete up to a sequence number (`02 02 01 n`).
    """

    kind = "sleep"
    service_uuid = 0x0000  # a 128-bit service: advertised by its full UUID

    def __init__(self, address: str, name: str = "Sleep Sensor", **kwargs: Any) -> None:
        super().__init__(address, name, **kwargs)
        self.memory: list[tuple[int, bytes]] = []
        self.deletions: list[bytes] = []
        self.requests: list[bytes] = []
        self._next_sequence = 1
        self._epoch: gatt.Characteristic[bytes] | None = None
        self._racp: gatt.Characteristic[bytes] | None = None
        self._task: asyncio.Task[None] | None = None

    def record_night(
        self,
        start: datetime,
        stages: list[int],
        *,
        epoch_s: int = 300,
        heart_rate: float = 56,
        respiration: float = 14.0,
    ) -> int:
        """Store a night of epochs starting at `start` (device clock); returns how many."""
        for index, stage in enumerate(stages):
            sequence = self._next_sequence
            self._next_sequence += 1
            payload = encoding.sleep_epoch(
                sequence,
                start + timedelta(seconds=epoch_s * index),
                epoch_s,
                stage,
                heart_rate=heart_rate + (index % 5),
                respiration=respiration,
                movement=index % 3,
            )
            self.memory.append((sequence, payload))
        return len(stages)

    def store_epoch(
        self,
        sequence: int,
        start: datetime,
        stage: int,
        *,
        epoch_s: int = 300,
        heart_rate: float = 56,
        respiration: float = 14.0,
        movement: int = 0,
    ) -> bytes:
        """Store one epoch under the device's own `sequence` number (as kept in its flash)."""
        payload = encoding.sleep_epoch(
            sequence,
            start,
            epoch_s,
            stage,
            heart_rate=heart_rate,
            respiration=respiration,
            movement=movement,
        )
        self.memory.append((sequence, payload))
        self._next_sequence = max(self._next_sequence, sequence + 1)
        return payload

    def measurement_services(self) -> list[gatt.Service]:
        from device_adapters import uuids

        self._epoch = gatt.Characteristic(
            UUID(uuids.SLEEP_EPOCH_RECORD),
            gatt.Characteristic.Properties.INDICATE,
            _NO_PERMISSIONS,
            b"",
        )
        live: gatt.Characteristic[bytes] = gatt.Characteristic(
            UUID(uuids.SLEEP_LIVE), gatt.Characteristic.Properties.NOTIFY, _NO_PERMISSIONS, b""
        )
        features: gatt.Characteristic[bytes] = gatt.Characteristic(
            UUID(uuids.SLEEP_FEATURES),
            gatt.Characteristic.Properties.READ,
            _READ,
            (0x2F).to_bytes(2, "little"),
        )
        self._racp = gatt.Characteristic(
            _uuid16(0x2A52),
            gatt.Characteristic.Properties.WRITE | gatt.Characteristic.Properties.INDICATE,
            _READ_WRITE,
            gatt.CharacteristicValue[bytes](write=self._on_racp_write),
        )
        return [gatt.Service(UUID(uuids.SLEEP_SERVICE), [live, self._epoch, features, self._racp])]

    def _advertised_service(self) -> tuple[int, bytes]:
        from device_adapters import uuids

        return AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, UUID(
            uuids.SLEEP_SERVICE
        ).to_bytes()

    def _on_racp_write(self, connection: Connection, value: bytes) -> None:
        self.requests.append(bytes(value))
        self._task = asyncio.ensure_future(self._respond(connection, bytes(value)))

    def _selected(self, request: bytes) -> list[tuple[int, bytes]] | None:
        operator = request[1] if len(request) > 1 else 0
        if operator == 0x01:
            return list(self.memory)
        if operator in (0x02, 0x03) and len(request) >= 5 and request[2] == 0x01:
            bound = int.from_bytes(request[3:5], "little")
            if operator == 0x03:
                return [(s, p) for s, p in self.memory if s >= bound]
            return [(s, p) for s, p in self.memory if s <= bound]
        return None

    async def _respond(self, connection: Connection, request: bytes) -> None:
        assert self.device is not None and self._epoch is not None and self._racp is not None  # noqa: S101
        await asyncio.sleep(0.01)
        op = request[0] if request else 0
        selected = self._selected(request)
        try:
            if op not in (0x01, 0x02, 0x04):
                await self._answer(connection, op, 0x02)
            elif selected is None:
                await self._answer(connection, op, 0x04)
            elif op == 0x01:
                if not selected:
                    await self._answer(connection, op, 0x06)
                    return
                for _, payload in selected:
                    await self.device.indicate_subscriber(connection, self._epoch, payload)
                await self._answer(connection, op, 0x01)
            elif op == 0x04:
                payload = bytes([_RACP_COUNT_RESPONSE, 0]) + len(selected).to_bytes(2, "little")
                await self.device.indicate_subscriber(connection, self._racp, payload)
            else:
                gone = {s for s, _ in selected}
                self.memory = [(s, p) for s, p in self.memory if s not in gone]
                self.deletions.append(request)
                self._memory_changed()
                await self._answer(connection, op, 0x01)
        except Exception as exc:
            _LOGGER.debug("sleep sensor %s stopped answering: %s", self.address, exc)

    async def _answer(self, connection: Connection, request_op: int, code: int) -> None:
        assert self.device is not None and self._racp is not None  # noqa: S101
        await self.device.indicate_subscriber(
            connection, self._racp, bytes([_RACP_RESPONSE, 0, request_op, code])
        )


class HeartRateMonitor(EmulatedPeripheral):
    """A heart-rate strap (0x180D): notifies its stream once subscribed, then disconnects."""

    kind = "heart-rate"
    service_uuid = 0x180D

    def __init__(self, address: str, name: str = "HR Strap", **kwargs: Any) -> None:
        super().__init__(address, name, **kwargs)
        self.stream: list[tuple[int, tuple[int, ...]]] = []
        self._measurement: gatt.Characteristic[bytes] | None = None

    def measurement_services(self) -> list[gatt.Service]:
        self._measurement = gatt.Characteristic(
            _uuid16(0x2A37), gatt.Characteristic.Properties.NOTIFY, _NO_PERMISSIONS, b""
        )
        self._measurement.on("subscription", self._on_subscription)
        location: gatt.Characteristic[bytes] = gatt.Characteristic(
            _uuid16(0x2A38), gatt.Characteristic.Properties.READ, _READ, bytes([1])
        )
        return [gatt.Service(_uuid16(0x180D), [self._measurement, location])]

    def _on_subscription(self, bearer: Any, notify_enabled: bool, indicate_enabled: bool) -> None:
        if notify_enabled:
            self._tasks.add(asyncio.ensure_future(self._send(bearer)))

    async def _send(self, bearer: Any) -> None:
        assert self.device is not None and self._measurement is not None  # noqa: S101
        samples = list(self.stream)
        self.stream.clear()
        try:
            for bpm, rr in samples:
                await self.device.notify_subscriber(
                    bearer, self._measurement, encoding.heart_rate(bpm, rr)
                )
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            await self.disconnect_all()
        except Exception as exc:
            _LOGGER.debug("strap %s stopped: %s", self.address, exc)

"""One connection to one device: identify it, read and set its clock, collect its readings.

The session only talks Bluetooth (through the bleak API). Each value it receives
is put on a queue as `(received_at, context, characteristic, bytes)`: the
consumer parses, maps and commits it (bleak's examples/async_callback_with_queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bleak import BleakClient
from bleak.exc import BleakError

import device_adapters as da
from device_adapters import uuids
from device_adapters.clock import encode_current_time, encode_date_time

from .errors import RacpFailed
from .mapping import ClockSample, SensorIdentity
from .mapping.devices import DeviceKind

__all__ = [
    "MEASUREMENTS",
    "RACP_RECORDS",
    "RacpFailed",
    "RacpProfile",
    "Received",
    "SessionContext",
    "collect_session",
    "racp_session",
]

_LOGGER = logging.getLogger(__name__)

# What each kind of device sends its readings on.
MEASUREMENTS: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.BLOOD_PRESSURE: (uuids.BLOOD_PRESSURE_MEASUREMENT,),
    DeviceKind.THERMOMETER: (uuids.TEMPERATURE_MEASUREMENT,),
    DeviceKind.WEIGHT_SCALE: (uuids.WEIGHT_MEASUREMENT,),
    DeviceKind.HEART_RATE: (uuids.HEART_RATE_MEASUREMENT,),
}
_DIS = (
    uuids.MANUFACTURER_NAME,
    uuids.MODEL_NUMBER,
    uuids.SERIAL_NUMBER,
    uuids.FIRMWARE_REVISION,
    uuids.SOFTWARE_REVISION,
    uuids.HARDWARE_REVISION,
    uuids.SYSTEM_ID,
)


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What the consumer needs besides the bytes: who measured and how its clock stood."""

    sensor: SensorIdentity
    clock: ClockSample | None
    battery: int | None = None
    max_sequence: int | None = None  # newest sequenced record received and committed


@dataclass(frozen=True, slots=True)
class Received:
    """One value off the air."""

    received_at: datetime
    context: SessionContext
    characteristic: str
    data: bytes


async def _identify(client: BleakClient, address: str, kind: DeviceKind) -> SensorIdentity:
    readings: list[da.DeviceInformation | da.SystemId] = []
    for uuid in _DIS:
        characteristic = client.services.get_characteristic(uuid)
        if characteristic is None or "read" not in characteristic.properties:
            continue
        try:
            reading = da.parse(uuid, await client.read_gatt_char(characteristic))
        except (BleakError, da.DeviceAdapterError) as exc:
            _LOGGER.warning("%s: cannot read %s: %s", address, da.uuids.label(uuid), exc)
            continue
        if isinstance(reading, da.DeviceInformation | da.SystemId):
            readings.append(reading)
    return SensorIdentity.from_readings(address, kind, readings)


async def _battery(client: BleakClient, address: str) -> int | None:
    characteristic = client.services.get_characteristic(uuids.BATTERY_LEVEL)
    if characteristic is None or "read" not in characteristic.properties:
        return None
    try:
        reading = da.parse(uuids.BATTERY_LEVEL, await client.read_gatt_char(characteristic))
    except (BleakError, da.DeviceAdapterError) as exc:
        _LOGGER.warning("%s: cannot read the battery level: %s", address, exc)
        return None
    if isinstance(reading, da.BatteryLevel) and reading.level.value is not None:
        return int(reading.level.value)
    return None


async def _clock(
    client: BleakClient, address: str, now: Callable[[], datetime], zone: ZoneInfo
) -> ClockSample | None:
    """Read the device clock against ours (coincident time stamp), then set it."""
    sample = None
    for uuid in (uuids.CURRENT_TIME, uuids.DATE_TIME):
        characteristic = client.services.get_characteristic(uuid)
        if characteristic is None:
            continue
        try:
            if sample is None and "read" in characteristic.properties:
                value = da.parse(uuid, await client.read_gatt_char(characteristic))
                if isinstance(value, da.CurrentTime | da.DateTimeValue):
                    sample = ClockSample(value.device_time, now())
            if "write" in characteristic.properties:
                local = now().astimezone(zone)
                payload = (
                    encode_current_time(local)
                    if uuid == uuids.CURRENT_TIME
                    else encode_date_time(local)
                )
                await client.write_gatt_char(characteristic, payload, response=True)
                break
        except (BleakError, da.DeviceAdapterError) as exc:  # Omron answers CTS writes with 0x80
            _LOGGER.warning("%s: clock via %s failed: %s", address, da.uuids.label(uuid), exc)
    return sample


async def _open_session(
    client: BleakClient,
    address: str,
    kind: DeviceKind,
    now: Callable[[], datetime],
    zone: ZoneInfo,
) -> SessionContext:
    """What every session does first: who the device is, its clock, its battery."""
    sensor = await _identify(client, address, kind)
    clock = await _clock(client, address, now, zone)
    return SessionContext(sensor, clock, await _battery(client, address))


async def collect_session(
    client: BleakClient,
    address: str,
    kind: DeviceKind,
    deliver: Callable[[Received], None],
    *,
    now: Callable[[], datetime],
    zone: ZoneInfo,
    idle_timeout: float = 5.0,
) -> SessionContext:
    """Identify, sync the clock, subscribe, and collect until the device disconnects or goes idle.

    Args:
        client: a connected `BleakClient`.
        address: the device's address (for logs and identity).
        kind: what the device measures.
        deliver: called (synchronously, in the notification callback) with each value.
        now: the gateway's zone-aware clock.
        zone: the home's time zone (device clocks show its local time).
        idle_timeout: seconds without a value after which the session ends.

    Returns:
        The session's context (sensor identity and clock sample).
    """
    context = await _open_session(client, address, kind, now, zone)
    last_value = asyncio.get_running_loop().time()
    disconnected = asyncio.Event()

    def on_value(uuid: str) -> Callable[[object, bytearray], None]:
        def callback(_: object, data: bytearray) -> None:
            nonlocal last_value
            last_value = asyncio.get_running_loop().time()
            deliver(Received(now(), context, uuid, bytes(data)))

        return callback

    subscribed = []
    for uuid in MEASUREMENTS.get(kind, ()):
        characteristic = client.services.get_characteristic(uuid)
        if characteristic is None:
            continue
        await client.start_notify(characteristic, on_value(uuid))
        subscribed.append(characteristic)
    if not subscribed:
        _LOGGER.warning("%s offers none of the characteristics a %s sends", address, kind)
        return context
    while client.is_connected:
        idle = asyncio.get_running_loop().time() - last_value
        if idle >= idle_timeout:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(disconnected.wait(), timeout=min(0.1, idle_timeout - idle))
    return context


@dataclass(frozen=True, slots=True)
class RacpProfile:
    """Where a device's stored records arrive, whether they carry sequence numbers,
    and what it streams live besides (PLX Continuous Measurement)."""

    records: str
    sequenced: bool
    live: str | None = None


# Devices whose stored records are fetched through the Record Access Control Point.
RACP_RECORDS: dict[DeviceKind, RacpProfile] = {
    DeviceKind.PULSE_OXIMETER: RacpProfile(
        uuids.PLX_SPOT_CHECK_MEASUREMENT, sequenced=False, live=uuids.PLX_CONTINUOUS_MEASUREMENT
    ),
    DeviceKind.SLEEP: RacpProfile(uuids.SLEEP_EPOCH_RECORD, sequenced=True),
}


def _newest_sequence(uuid: str, records: Sequence[bytes]) -> int | None:
    """The highest sequence number among the records received; parsed here, after the
    transfer, so that the notification callback only hands bytes on."""
    newest: int | None = None
    for record in records:
        with contextlib.suppress(da.DeviceAdapterError):
            sequence = getattr(da.parse(uuid, record), "sequence_number", None)
            if isinstance(sequence, int):
                newest = sequence if newest is None else max(newest, sequence)
    return newest


async def racp_session(
    client: BleakClient,
    address: str,
    kind: DeviceKind,
    deliver: Callable[[Received], None],
    *,
    now: Callable[[], datetime],
    zone: ZoneInfo,
    committed: Callable[[], Awaitable[bool]],
    last_sequence: int | None = None,
    timeout: float = 30.0,
    idle_timeout: float = 2.0,
) -> SessionContext:
    """Fetch the device's stored records, and delete them only once they are committed.

    Sequenced records (the sleep profile's epochs) are asked for after `last_sequence`,
    the newest one already stored (`01 03 01 n+1`), and deleted up to the newest one
    received (`02 02 01 n`); the returned context's `max_sequence` is what to remember.
    PLX records carry no sequence number: the oximeter is asked for all records and
    they are all deleted, so the next session gets only new ones. Either way the delete
    waits until every record is in the outbox: `committed()` waits for the consumer and
    answers whether every value of this session was committed. If not (a storage
    fault), nothing is deleted and `max_sequence` stays None, so the device keeps its
    records and the next session asks for them again. A session cut before the delete
    costs a re-send, which the identifiers de-duplicate, never a reading.
    """
    context = await _open_session(client, address, kind, now, zone)
    profile = RACP_RECORDS[kind]
    records = client.services.get_characteristic(profile.records)
    control = client.services.get_characteristic(uuids.RECORD_ACCESS_CONTROL_POINT)
    if records is None or control is None:
        raise RacpFailed(f"{address} has no record store to read")
    answers: asyncio.Queue[da.RacpResponse | da.RacpNumberOfRecords] = asyncio.Queue()

    received: list[bytes] = []

    def on_record(_: object, data: bytearray) -> None:
        record = bytes(data)
        received.append(record)
        deliver(Received(now(), context, profile.records, record))

    def on_answer(_: object, data: bytearray) -> None:
        try:
            answer = da.parse(uuids.RECORD_ACCESS_CONTROL_POINT, data)
        except da.DeviceAdapterError as exc:
            _LOGGER.warning("%s: unreadable RACP answer: %s", address, exc)
            return
        if isinstance(answer, da.RacpResponse | da.RacpNumberOfRecords):
            answers.put_nowait(answer)

    last_live = asyncio.get_running_loop().time()

    def on_live(_: object, data: bytearray) -> None:
        nonlocal last_live
        last_live = asyncio.get_running_loop().time()
        if profile.live is not None:
            deliver(Received(now(), context, profile.live, bytes(data)))

    await client.start_notify(records, on_record)
    await client.start_notify(control, on_answer)
    live = client.services.get_characteristic(profile.live) if profile.live else None
    if live is not None:
        await client.start_notify(live, on_live)

    async def ask(request: bytes, op: da.RacpOpCode) -> da.RacpResponse:
        await client.write_gatt_char(control, request, response=True)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if not client.is_connected:
                raise RacpFailed(f"{address} disconnected during the RACP procedure")
            if asyncio.get_running_loop().time() > deadline:
                raise RacpFailed(f"{address} did not answer the RACP request in {timeout} s")
            try:
                answer = await asyncio.wait_for(answers.get(), 0.1)
            except TimeoutError:
                continue
            if isinstance(answer, da.RacpResponse) and answer.request_op_code == op:
                return answer

    if profile.sequenced and last_sequence is not None and last_sequence < 0xFFFF:
        request = da.racp.report_records_after(last_sequence)
    else:
        request = da.racp.report_all_records()
    report = await ask(request, da.RacpOpCode.REPORT_STORED_RECORDS)
    if report.response_code == da.RacpResponseCode.NO_RECORDS_FOUND:
        return context
    if not report.succeeded:
        raise RacpFailed(f"{address}: report stored records answered {report.response_code!r}")
    if not await committed():  # not every record is in the outbox: the device keeps them
        _LOGGER.warning("%s: records not deleted, some could not be committed", address)
        deleted = None
    else:
        _LOGGER.info(
            "%s: %d records committed; deleting them on the device", address, len(received)
        )
        newest = _newest_sequence(profile.records, received) if profile.sequenced else None
        context = replace(context, max_sequence=newest)
        if profile.sequenced and newest is not None:
            delete = da.racp.delete_records_up_to(newest)
        else:
            delete = da.racp.delete_all_records()
        deleted = await ask(delete, da.RacpOpCode.DELETE_STORED_RECORDS)
    if live is not None:  # a live stream may follow the stored records: take it until it stops
        while client.is_connected and asyncio.get_running_loop().time() - last_live < idle_timeout:
            await asyncio.sleep(0.05)
    if deleted is not None and not deleted.succeeded:
        _LOGGER.warning(
            "%s kept its records (delete answered %r); they will be sent again",
            address,
            deleted.response_code,
        )
    return context

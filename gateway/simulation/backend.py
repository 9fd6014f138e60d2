"""bleak backend classes over a bumble central on a `VirtualBus`.

bleak forwards unknown keyword arguments to the backend's constructor, so
`BleakClient(address, backend=BumbleClient, bus=bus)` works with no patching.
bumble's errors are mapped to bleak's exception types here, once, and the client
behaves like BlueZ where the gateway depends on it: an operation refused for
insufficient authentication or encryption triggers pairing and one retry.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Peer
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy

from .bus import VirtualBus

__all__ = ["BumbleClient", "BumbleScanner"]

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
_SECURITY_ERRORS = {
    att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR,
    att.ATT_INSUFFICIENT_ENCRYPTION_ERROR,
}
_PROPERTIES = (
    ("broadcast", 0x01),
    ("read", 0x02),
    ("write-without-response", 0x04),
    ("write", 0x08),
    ("notify", 0x10),
    ("indicate", 0x20),
    ("authenticated-signed-writes", 0x40),
    ("extended-properties", 0x80),
)


def _uuid(value: core.UUID) -> str:
    """bumble UUID -> bleak's lower-case 128-bit string."""
    return str(uuid.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))


def _service_uuids(data: AdvertisingData) -> list[str]:
    uuids: list[str] = []
    for kind in (
        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    ):
        for value in data.get_all(kind) or ():
            items = value if isinstance(value, list) else [value]
            uuids += [_uuid(u) if isinstance(u, core.UUID) else str(u).lower() for u in items]
    return uuids


class BumbleScanner(BaseBleakScanner):
    """Scanning through the bus's central."""

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        bus: VirtualBus,
        **_: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._bus = bus
        self._active = scanning_mode == "active"
        self._central: Any = None

    async def start(self) -> None:
        """Start scanning."""
        self.seen_devices = {}
        self._central = await self._bus.central()
        self._central.on("advertisement", self._on_advertisement)
        await self._central.start_scanning(active=self._active, filter_duplicates=False)

    async def stop(self) -> None:
        """Stop scanning."""
        if self._central is None:
            return
        self._central.remove_listener("advertisement", self._on_advertisement)
        with contextlib.suppress(Exception):
            await self._central.stop_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        # bumble's event emitter swallows exceptions: log them, or a bug looks like silence.
        try:
            data = advertisement.data
            uuids = _service_uuids(data)
            if not self.is_allowed_uuid(uuids):
                return
            name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(
                AdvertisingData.SHORTENED_LOCAL_NAME
            )
            local_name = name.decode(errors="replace") if isinstance(name, bytes) else name
            manufacturer: dict[int, bytes] = {}
            for item in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA) or ():
                company, payload = item
                manufacturer[int(company)] = bytes(payload)
            address = str(advertisement.address).split("/")[0]
            adv = AdvertisementData(
                local_name=local_name,
                manufacturer_data=manufacturer,
                service_data={},
                service_uuids=uuids,
                tx_power=None,
                rssi=advertisement.rssi,
                platform_data=(advertisement,),
            )
            device = self.create_or_update_device(address, address, local_name, advertisement, adv)
            self.call_detection_callbacks(device, adv)
        except Exception:
            _LOGGER.exception("emulated advertisement handling failed")


class BumbleClient(BaseBleakClient):
    """A GATT client on the bus's central, behaving like BlueZ where it matters."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        services: Any = None,
        *,
        bus: VirtualBus,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("bluez", None)
        kwargs.pop("winrt", None)
        super().__init__(address_or_ble_device, **kwargs)
        self._bus = bus
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}

    # --- connection -------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """Whether the link is up."""
        return self._connection is not None

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU."""
        return int(self._connection.att_mtu) if self._connection is not None else 23

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange MTU and discover every service, characteristic and descriptor.

        Raises:
            BleakDeviceNotFoundError: nothing answers at the address.
        """
        central = await self._bus.central()
        try:
            async with self._bus.connect_lock:  # one connection attempt at a time, as BlueZ
                connection = await central.connect(hci.Address(self.address), timeout=self._timeout)
        except (TimeoutError, core.BaseBumbleError, hci.HCI_Error) as exc:
            raise BleakDeviceNotFoundError(
                self.address, f"cannot connect to {self.address}: {exc}"
            ) from exc
        self._connection = connection
        connection.on("disconnection", self._on_disconnection)
        self._peer = Peer(connection)
        try:
            with contextlib.suppress(Exception):
                await self._peer.request_mtu(247)
            if pair:
                await self.pair()
            await self._discover()
        except Exception:
            await self.disconnect()
            raise

    def _on_disconnection(self, reason: int) -> None:
        was_connected = self._connection is not None
        self._connection = None
        self._peer = None
        self._subscriptions.clear()
        if was_connected and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        """Disconnect (idempotent)."""
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(Exception):
            await connection.disconnect()
        self._connection = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Just Works pairing and encryption (what a headless gateway's agent accepts)."""
        connection = self._require()[0]
        try:
            await connection.pair()
        except (core.BaseBumbleError, hci.HCI_Error) as exc:
            raise BleakError(f"pairing with {self.address} failed: {exc}") from exc

    async def unpair(self) -> None:
        """Nothing to forget: emulated bonds live only as long as the link."""

    def _require(self) -> tuple[Connection, Peer]:
        if self._connection is None or self._peer is None:
            raise BleakError(f"not connected to {self.address}")
        return self._connection, self._peer

    async def _discover(self) -> None:
        _, peer = self._require()
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for service in peer.services:
            await service.discover_characteristics()
            bleak_service = BleakGATTService(service, service.handle, _uuid(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                await peer.discover_descriptors(characteristic)
                properties = [
                    name for name, bit in _PROPERTIES if int(characteristic.properties) & bit
                ]
                bleak_characteristic = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    _uuid(characteristic.uuid),
                    properties,  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_characteristic)
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor,
                            descriptor.handle,
                            _uuid(descriptor.type),
                            bleak_characteristic,
                        )
                    )
        self.services = collection

    # --- GATT -------------------------------------------------------------------------------

    async def _gatt(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a GATT operation; like BlueZ, pair and retry once on a security error."""
        try:
            return await self._mapped(operation)
        except BleakGATTProtocolError as exc:
            needs_security = int(exc.code) in _SECURITY_ERRORS
            if not needs_security or self._connection is None or self._connection.is_encrypted:
                raise
            _LOGGER.info("%s needs encryption: pairing, then retrying", self.address)
            await self.pair()
            return await self._mapped(operation)

    async def _mapped(self, operation: Callable[[], Awaitable[T]]) -> T:
        self._require()
        try:
            return await operation()
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(int(exc.error_code)) from exc
        except (TimeoutError, core.TimeoutError) as exc:
            raise BleakError(f"{self.address}: GATT operation timed out") from exc
        except core.InvalidStateError as exc:
            raise BleakError(f"{self.address}: {exc}") from exc

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value."""
        proxy: CharacteristicProxy[Any] = characteristic.obj
        return bytearray(await self._gatt(lambda: proxy.read_value()))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor."""
        proxy: DescriptorProxy = descriptor.obj
        return bytearray(await self._gatt(lambda: proxy.read_value()))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        """Write a characteristic value."""
        proxy: CharacteristicProxy[Any] = characteristic.obj
        await self._gatt(lambda: proxy.write_value(bytes(data), with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        """Write a descriptor."""
        proxy: DescriptorProxy = descriptor.obj
        await self._gatt(lambda: proxy.write_value(bytes(data), with_response=True))

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic,
        callback: Callable[[bytearray], None],
        **kwargs: Any,
    ) -> None:
        """Enable notifications, or indications when the characteristic only indicates."""
        _, peer = self._require()
        proxy: CharacteristicProxy[Any] = characteristic.obj

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscriptions[characteristic.handle] = deliver
        prefer_notify = "notify" in characteristic.properties
        await self._gatt(lambda: peer.subscribe(proxy, deliver, prefer_notify=prefer_notify))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Disable notifications or indications."""
        _, peer = self._require()
        proxy: CharacteristicProxy[Any] = characteristic.obj
        deliver = self._subscriptions.pop(characteristic.handle, None)
        await self._gatt(lambda: peer.unsubscribe(proxy, deliver))

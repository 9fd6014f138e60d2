"""Pairing: find a device in pairing mode, bond where it needs to, register it, bind it.

`homevitals gateway pair --patient <id> [--slot N]` is what the person setting up
the home runs once per device (or per cuff user slot): press the device's pairing
button, run the command. The device is read (Device Information), its Device
resource is created on the server (conditional create: pairing twice is harmless),
and the binding is stored in the gateway's database, next to the configured ones.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from .bindings import SERVICE_OF_KIND, Binding
from .errors import PairingError
from .mapping import PatientLink, sensor_device
from .mapping.bundle import token_query
from .mapping.devices import DeviceKind
from .outbox import Outbox
from .service import BleEnvironment
from .sessions import _identify

__all__ = ["Paired", "PairingError", "pair_device"]

_LOGGER = logging.getLogger(__name__)
_KIND_OF_SERVICE = {service: kind for kind, service in SERVICE_OF_KIND.items()}


@dataclass(frozen=True)
class Paired:
    """What pairing did."""

    address: str
    kind: DeviceKind
    device_id: str
    slot: int | None
    bonded: bool


async def _find(
    ble: BleEnvironment, exclude: set[str], address: str | None, timeout: float
) -> tuple[BLEDevice, DeviceKind]:
    found: asyncio.Future[tuple[BLEDevice, DeviceKind]] = asyncio.get_running_loop().create_future()

    def seen(device: BLEDevice, advertisement: AdvertisementData) -> None:
        if found.done() or device.address.upper() in exclude:
            return
        if address is not None and device.address.upper() != address.upper():
            return
        for uuid in advertisement.service_uuids:
            kind = _KIND_OF_SERVICE.get(uuid.lower())
            if kind is not None:
                found.set_result((device, kind))
                return

    scanner = BleakScanner(
        detection_callback=seen, service_uuids=sorted(_KIND_OF_SERVICE), **ble.scanner_kwargs
    )
    await scanner.start()
    try:
        return await asyncio.wait_for(found, timeout)
    except TimeoutError:
        raise PairingError(f"no device in pairing mode found within {timeout:.0f} s") from None
    finally:
        await scanner.stop()


async def pair_device(
    *,
    ble: BleEnvironment,
    outbox: Outbox,
    server: httpx.AsyncClient,
    patient: str,
    slot: int | None = None,
    address: str | None = None,
    bond: bool = True,
    timeout: float = 60.0,
) -> Paired:
    """Find, bond, register and bind one device.

    Args:
        ble: how to reach Bluetooth.
        outbox: the gateway's database (bindings are stored there).
        server: an authenticated client on the FHIR base URL.
        patient: the Patient id the device (or slot) belongs to.
        slot: a cuff's user slot, or None for the whole device.
        address: pair only this device.
        bond: bond (pair) with the device; most cuffs want it before they send.
        timeout: seconds to wait for a device in pairing mode.

    Raises:
        PairingError: nothing found, or the device or the server refused.
    """
    already = {b.address.upper() for b in outbox.bindings() if b.patient_for(slot) is not None}
    device, kind = await _find(ble, already if address is None else set(), address, timeout)
    bonded = False
    try:
        async with BleakClient(device, timeout=20.0, **ble.client_kwargs) as client:
            if bond:
                try:
                    await client.pair()
                    bonded = True
                except (BleakError, NotImplementedError) as exc:
                    _LOGGER.warning(
                        "%s did not bond (%s); continuing without a bond", device.address, exc
                    )
            sensor = await _identify(client, device.address, kind)
    except BleakError as exc:
        raise PairingError(f"{device.address}: {exc}") from exc
    resource = sensor_device(sensor)
    system, value = sensor.search
    response = await server.post(
        "Device", json=resource, headers={"If-None-Exist": token_query("identifier", system, value)}
    )
    if response.status_code not in (200, 201):
        raise PairingError(
            f"the server refused the Device ({response.status_code}): {response.text[:300]}"
        )
    patients: dict[int | None, PatientLink] = {slot: PatientLink(logical_id=patient)}
    outbox.save_binding(Binding(device.address, kind, patients))
    return Paired(device.address, kind, response.json()["id"], slot, bonded)

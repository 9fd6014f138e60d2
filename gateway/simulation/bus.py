"""One virtual Bluetooth LE radio link: a bumble LocalLink and the gateway's central."""

from __future__ import annotations

import asyncio
import itertools

from bumble import hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

__all__ = ["VirtualBus", "make_device"]

_names = itertools.count(1)


async def make_device(link: LocalLink, address: str, name: str) -> Device:
    """A powered-on bumble Device with its own virtual controller on `link`."""
    controller = Controller(f"{name}-{next(_names)}", link=link, public_address=address)
    device = Device(
        name=name, address=hci.Address(address), host=Host(controller, AsyncPipeSink(controller))
    )
    await device.power_on()
    return device


class VirtualBus:
    """The link and the central that bleak's emulated backend uses.

    Pass it to bleak as a keyword: `BleakScanner(backend=BumbleScanner, bus=bus)`,
    `BleakClient(address, backend=BumbleClient, bus=bus)`.
    """

    CENTRAL_ADDRESS = "F0:F0:F0:F0:F0:F0"

    def __init__(self) -> None:
        self.link = LocalLink()
        self._central: Device | None = None
        self._lock = asyncio.Lock()
        # One connection attempt at a time, as BlueZ does: bumble's central asserts when
        # two connections complete while both are pending.
        self.connect_lock = asyncio.Lock()

    async def central(self) -> Device:
        """The gateway's adapter (created on first use, in the running event loop)."""
        async with self._lock:
            if self._central is None:
                self._central = await make_device(self.link, self.CENTRAL_ADDRESS, "gateway")
            return self._central

"""One virtual Bluetooth LE radio link: a bumble LocalLink and the gateway's central."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from bumble import att, hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

__all__ = ["VirtualBus", "make_device"]

_names = itertools.count(1)


class _Host(Host):
    """bumble's Host, which drops the answer to a command whose waiter was cancelled.

    Cancelling a task that awaits an HCI command (Ctrl-C while a device powers on,
    advertises or connects) cancels the command's future; the controller's answer is
    already queued on the emulated link and lands on that cancelled future before
    bumble clears it: an InvalidStateError traceback from `Host.on_packet`. The
    answer has nobody waiting for it, so it is dropped, as bumble does when no
    command is pending.
    """

    def on_command_processed(
        self, event: hci.HCI_Command_Complete_Event[Any] | hci.HCI_Command_Status_Event
    ) -> None:
        if self.pending_response is not None and self.pending_response.cancelled():
            return
        super().on_command_processed(event)


class _Device(Device):
    """bumble's Device, which drops a GATT response whose request was cancelled (see `_Host`)."""

    def on_gatt_pdu(self, connection_handle: int, pdu: bytes) -> None:
        connection = self.lookup_connection(connection_handle)
        pending = getattr(getattr(connection, "gatt_client", None), "pending_response", None)
        if pending is not None and pending.cancelled() and pdu and pdu[0] in att.ATT_RESPONSES:
            return
        super().on_gatt_pdu(connection_handle, pdu)


async def make_device(link: LocalLink, address: str, name: str) -> Device:
    """A powered-on bumble Device with its own virtual controller on `link`."""
    controller = Controller(f"{name}-{next(_names)}", link=link, public_address=address)
    device = _Device(
        name=name, address=hci.Address(address), host=_Host(controller, AsyncPipeSink(controller))
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

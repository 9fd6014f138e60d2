"""Bluetooth without a radio: a bleak backend over Google's bumble, and emulated devices.

`VirtualBus` is one in-process bumble LocalLink with a central controller; the
bleak backend classes in `backend` drive that central, so the gateway's code
runs the real `bleak.BleakScanner` and `bleak.BleakClient` API against emulated
peripherals (`peripherals`) that speak real ATT/GATT/SMP: CCCD writes,
indications with confirmations, reads, writes, pairing, disconnects.

What it cannot show: the BlueZ agent and bond storage on a Pi, D-Bus errors,
BlueZ's GATT cache, adapter bugs and radio timing (there is no RF: a link never
fades, it is cut). The opt-in hardware suite covers those on a real Pi.
"""

from .backend import BumbleClient, BumbleScanner
from .bus import VirtualBus

__all__ = ["BumbleClient", "BumbleScanner", "VirtualBus"]

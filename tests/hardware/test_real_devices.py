"""On a real Pi: BlueZ sees a supported device, bleak connects, the session reads it.

What the emulation cannot show (the BlueZ agent, bond storage, BlueZ's GATT cache,
adapter quirks, radio timing) is exercised here, by hand, once per device model.
"""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from bleak import BleakClient, BleakScanner

from gateway.bindings import SERVICE_OF_KIND
from gateway.outbox import utc_now
from gateway.service import BleEnvironment
from gateway.sessions import collect_session

_KIND_OF_SERVICE = {service: kind for kind, service in SERVICE_OF_KIND.items()}


async def test_a_real_device_is_found_connected_and_read(adapter):
    ble = BleEnvironment.adapter(adapter)
    found = await BleakScanner.find_device_by_filter(
        lambda _, adv: any(u.lower() in _KIND_OF_SERVICE for u in adv.service_uuids),
        timeout=60,
        **ble.scanner_kwargs,
    )
    assert found is not None, "no supported device advertised within 60 s (put one in pairing mode)"
    received = []
    async with BleakClient(found, timeout=30, **ble.client_kwargs) as client:
        services = {s.uuid for s in client.services}
        kind = next(_KIND_OF_SERVICE[u] for u in services if u in _KIND_OF_SERVICE)
        context = await collect_session(
            client,
            found.address,
            kind,
            received.append,
            now=utc_now,
            zone=ZoneInfo("Asia/Tokyo"),
            idle_timeout=20,
        )
    assert context.sensor.bluetooth_address == found.address.upper()
    print(f"{found.address}: {context.sensor}, clock {context.clock}, {len(received)} values")  # noqa: T201
    await asyncio.sleep(0)

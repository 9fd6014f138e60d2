"""`homevitals demo`: the server, a simulated home and its history, running live.

It starts the FHIR server (a separate process on the embedded store), creates
demo patients over FHIR, starts emulated Bluetooth cuffs with months of
readings in their memory, and runs the real gateway (bleak over the emulated
radio, durable outbox, uploader) against the server. Everything the server
receives went through that path. Then it keeps measuring, live.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from fhir_api.launch import start_server_process

__all__ = ["run_demo"]


async def _home(
    base: str, token: str, data_dir: Path, days: int, duration: float | None, live_every: float
) -> int:
    from gateway.bindings import Binding, Bindings
    from gateway.mapping import GatewayIdentity, PatientLink
    from gateway.mapping.devices import DeviceKind
    from gateway.outbox import Outbox
    from gateway.service import BleEnvironment, Gateway
    from gateway.simulation import VirtualBus
    from gateway.simulation.home import (
        backfill_blood_pressure,
        demo_cuff,
        demo_oximeter,
        demo_patients,
        demo_sleep_sensor,
    )
    from gateway.simulation.peripherals import EmulatedPeripheral
    from gateway.uploader import Uploader

    zone = ZoneInfo("Asia/Tokyo")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    bus = VirtualBus()
    cuffs = []
    others: list[Any] = []
    bindings = []
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        for patient in demo_patients():
            resource = {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:homevitals:demo", "value": patient.identifier}],
                "name": [
                    {
                        "family": patient.family,
                        "given": [patient.given],
                        "text": f"{patient.family} {patient.given}",
                    }
                ],
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/tz-code",
                        "valueCode": "Asia/Tokyo",
                    }
                ],
            }
            response = await client.post(
                "/Patient",
                json=resource,
                headers={"If-None-Exist": f"identifier=urn:homevitals:demo|{patient.identifier}"},
            )
            response.raise_for_status()
            patient_id = response.json()["id"]
            cuff = demo_cuff(patient, zone)
            queued = backfill_blood_pressure(cuff, patient, days=days, zone=zone)
            oximeter = demo_oximeter(patient, zone, days=days)
            link = PatientLink(logical_id=patient_id)
            devices: list[tuple[EmulatedPeripheral, DeviceKind, dict[int | None, PatientLink]]] = [
                (cuff, DeviceKind.BLOOD_PRESSURE, {1: link})
            ]
            devices.append((oximeter, DeviceKind.PULSE_OXIMETER, {None: link}))
            extra = f", oximeter {len(oximeter.memory)} spot checks"
            if patient.identifier == "DEMO-0001":
                sensor = demo_sleep_sensor(patient, zone, nights=min(days, 14))
                devices.append((sensor, DeviceKind.SLEEP, {None: link}))
                extra += f", sleep sensor {min(days, 14)} nights"
            for device, kind, patients in devices:
                await device.start(bus)
                bindings.append(Binding(device.address, kind, patients))
            cuffs.append((cuff, patient))
            others.extend(device for device, _, _ in devices[1:])
            who = f"{patient.family} {patient.given}"
            print(f"  {who}: Patient/{patient_id}, cuff {queued} readings{extra}")
    outbox = Outbox(data_dir / "gateway.db")
    uploader = Uploader(base, token, outbox)
    gateway = Gateway(
        identity=GatewayIdentity("B827EBFFFE00D3E0", "0.1.0", "Demo home gateway"),
        bindings=Bindings(bindings),
        outbox=outbox,
        uploader=uploader,
        ble=BleEnvironment.simulated(bus),
        zone=zone,
        idle_timeout=2.0,
        cooldown=5.0,
        test_data=True,
    )
    task = asyncio.create_task(gateway.run())
    started = time.monotonic()
    last_live = started
    try:
        while duration is None or time.monotonic() - started < duration:
            await asyncio.sleep(1.0)
            status = gateway.status()
            print(
                f"\r  gateway: {status['sent']} sent, {status['queue_depth']} waiting, "
                f"{status['quarantined']} quarantined   ",
                end="",
                flush=True,
            )
            if time.monotonic() - last_live >= live_every:
                last_live = time.monotonic()
                for cuff, patient in cuffs:
                    cuff.measure(
                        round(patient.systolic),
                        round(patient.diastolic),
                        round(patient.pulse),
                        user=1,
                    )
    finally:
        print()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await uploader.aclose()
        for cuff, _ in cuffs:
            await cuff.stop()
        for device in others:
            await device.stop()
    return int(gateway.status()["sent"])


def run_demo(
    *,
    port: int = 8000,
    days: int = 90,
    duration: float | None = None,
    data_dir: Path | None = None,
    live_every: float = 30.0,
) -> int:
    """Run the demo; returns the number of resources the gateway uploaded."""
    owned = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="homevitals-demo-")) if data_dir is None else data_dir
    directory.mkdir(parents=True, exist_ok=True)
    print(f"HomeVitals demo (data in {directory})")
    try:
        server, token = start_server_process(
            directory, port, client="demo-gateway", log=directory / "server.log"
        )
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    base = f"http://127.0.0.1:{port}/fhir"
    print(f"FHIR server: {base}")
    print(f"  token (demo only): {token}")
    print(f"  try: curl -H 'Authorization: Bearer {token}' '{base}/Patient?name=田中'")
    latest = f"{base}/Observation?code=85354-9&_sort=-date&_count=5"
    print(f"       curl -H 'Authorization: Bearer {token}' '{latest}'")
    print("Simulated home: emulated Bluetooth cuffs, oximeters and a sleep sensor with history,")
    print("read by the real gateway (bleak over an emulated radio), uploaded over HTTP:")
    try:
        return asyncio.run(_home(base, token, directory, days, duration, live_every))
    except KeyboardInterrupt:
        return 0
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)
        if owned:
            print(f"(demo data left in {directory})")

"""Storage faults made for real (issue 9): the device keeps its memory, the gateway reports.

- Disk full: the outbox lives on a 1 MB tmpfs that fills up while an oximeter's
  RACP session runs (as the gateway asks for the records). The five records'
  commit fails; they stay on the device, the fault shows in the status and on the
  server's gateway Device, and once space is freed every record reaches the
  server exactly once.
- Read-only: the outbox lives on a loop-mounted ext4 image that the kernel turns
  read-only (errors=remount-ro), as an SD card after an I/O error. The gateway
  finds out before it connects (a probe commit), connects to no device (the cuff
  keeps its new reading) and reports the fault.
- Corrupt: a damaged outbox is set aside at start-up (kept for someone to look at)
  and an empty one started; `gateway status` lists it.

`test_the_disk_full_check_catches_a_failed_commit_counted_as_done` puts the
defect back through either seam (`Gateway.hold_uncommitted` replaced by the old
"log and count as done", or `deletion_allowed` always yes) and shows that the
disk-full test's checks see it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.bindings import Binding, Bindings
from gateway.errors import OutboxCorrupt, StorageError
from gateway.heartbeat import status_device
from gateway.mapping import GatewayIdentity, PatientLink
from gateway.mapping.devices import DeviceKind
from gateway.outbox import Outbox, damaged_files, open_outbox
from gateway.service import BleEnvironment, Gateway
from gateway.simulation import VirtualBus
from gateway.simulation.peripherals import BloodPressureCuff, PulseOximeter
from gateway.uploader import Uploader

from .faults import ext4_image, fill, tmpfs
from .test_end_to_end import TOKYO, search, stop, wait_for

OXIMETER = "D0:00:00:00:09:01"
CUFF = "D0:00:00:00:09:02"
SPO2 = [91, 92, 93, 94, 95]


async def start_gateway(outbox: Outbox, server, bus, bindings) -> tuple[Gateway, asyncio.Task]:
    gateway = Gateway(
        identity=GatewayIdentity("B827EBFFFE000901", "test"),
        bindings=bindings,
        outbox=outbox,
        uploader=Uploader(server.base, server.token, outbox),
        ble=BleEnvironment.simulated(bus),
        zone=TOKYO,
        idle_timeout=1.0,
        cooldown=0.3,
        heartbeat_interval=0.3,
        retry_interval=0.3,
    )
    return gateway, asyncio.create_task(gateway.run())


def gateway_device(server, gateway: Gateway) -> dict | None:
    system, value = gateway.identity.search
    with server.client() as client:
        found = client.get(f"/Device?identifier={system}|{value}").json()
    return found["entry"][0]["resource"] if found.get("entry") else None


def storage_on_server(server, gateway: Gateway) -> str | None:
    device = gateway_device(server, gateway)
    for item in (device or {}).get("property", []):
        if item["type"]["coding"][0]["code"] == "storage":
            return str(item["valueCode"][0]["text"])
    return None


@dataclass
class FullDiskRun:
    """What the disk-full scenario saw."""

    kept_on_device: int  # records the oximeter still held after the failed session
    status: dict  # the gateway's status during the fault
    reported: str | None  # the storage property of the gateway's Device on the server
    spo2_on_server: list[float]  # every SpO2 value on the server at the end


async def disk_full_during_a_racp_session(tmp_path: Path, server) -> FullDiskRun:
    bus = VirtualBus()
    oximeter = PulseOximeter(OXIMETER)
    start = oximeter.clock.now() - timedelta(hours=3)
    for n, spo2 in enumerate(SPO2):
        oximeter.measure(spo2, 60 + n, when=start + timedelta(minutes=20 * n))
    bindings = Bindings(
        [Binding(OXIMETER, DeviceKind.PULSE_OXIMETER, {None: PatientLink(logical_id="full")})]
    )
    with tmpfs(tmp_path / "sd", "1m") as sd:
        outbox = Outbox(sd / "gateway.db")
        filled: list[Path] = []
        answer = oximeter._on_racp_write

        def disk_fills_up(connection, value):  # mid-session: after the probe, before records
            if not filled:
                filled.append(fill(sd))
            answer(connection, value)

        oximeter._on_racp_write = disk_fills_up
        await oximeter.start(bus)
        gateway, task = await start_gateway(outbox, server, bus, bindings)
        try:
            await wait_for(lambda: gateway.sessions_completed >= 1)
            kept = len(oximeter.memory)
            status = await gateway.current_status()
            reported = None
            for _ in range(60):
                reported = storage_on_server(server, gateway)
                if reported is not None and reported.startswith("fault"):
                    break
                await asyncio.sleep(0.1)
            filled[0].unlink()  # someone frees space
            await wait_for(lambda: gateway.storage_fault is None)
            await wait_for(lambda: oximeter.memory == [])
            await wait_for(lambda: gateway.outbox.counts()["pending"] == 0)
            await asyncio.sleep(0.5)
        finally:
            await stop(task, gateway)
            await oximeter.stop()
            outbox.close()
    found = search(server, "patient=Patient/full&code=http://loinc.org|2708-6&_count=50")
    values = sorted(e["resource"]["valueQuantity"]["value"] for e in found.get("entry", []))
    return FullDiskRun(kept, status, reported, values)


async def test_disk_full_during_a_racp_session_keeps_the_device_memory(tmp_path, fhir_server):
    run = await disk_full_during_a_racp_session(tmp_path, fhir_server)
    assert run.kept_on_device == len(SPO2)  # nothing deleted while nothing was committed
    assert run.status["storage"].startswith("fault: cannot commit: database or disk is full")
    assert run.status["held_values"] == len(SPO2)
    assert run.reported is not None and run.reported.startswith("fault")
    assert run.spo2_on_server == SPO2  # each once, after the space came back


def count_as_done(self, items, error):
    """Issue 9's defect: a value whose commit failed is logged and counted as done."""


def always_delete(uncommitted, dropped):
    """The same defect seen from the session: delete whatever was committed or not."""
    return True


@pytest.mark.parametrize(
    ("seam", "defect"),
    [("hold_uncommitted", count_as_done), ("deletion_allowed", always_delete)],
)
async def test_the_disk_full_check_catches_a_failed_commit_counted_as_done(
    tmp_path, fhir_server, monkeypatch, seam, defect
):
    if seam == "hold_uncommitted":
        monkeypatch.setattr(Gateway, seam, defect)
    else:
        monkeypatch.setattr("gateway.service.deletion_allowed", defect)
    run = await disk_full_during_a_racp_session(tmp_path, fhir_server)
    assert run.kept_on_device == 0  # the oximeter was told to delete: the check above fails
    if seam == "hold_uncommitted":
        assert run.spo2_on_server == []  # ... and the records are gone for good
    else:
        # The values were held in memory and committed once the space came back; a
        # restart (or a power cut) during the fault would have lost them.
        assert run.spo2_on_server == SPO2


async def test_disk_full_during_a_sleep_session_sends_the_night_once_when_space_returns(
    tmp_path, fhir_server
):
    """Issue 15: the sleep sensor's epochs go as SampledData windows. With the disk
    full mid-session no epoch is committed, no window or summary is made and the sensor
    keeps its records; once space is back they come again and reach the server once:
    one window per signal, one summary, every epoch once in `$stats`."""
    from gateway.simulation.peripherals import SleepSensor

    from .test_end_to_end import NIGHT_SUMMARY, SLEEP_STAGE, in_bed_readings, samples_of

    bus = VirtualBus()
    sensor = SleepSensor("D0:00:00:00:09:03")
    night = sensor.clock.now().replace(hour=23, minute=0, second=0) - timedelta(days=3)
    stages = [1] * 2 + [2] * 6 + [3] * 6 + [4] * 4 + [2] * 2 + [1]
    sensor.record_night(night, stages)
    bindings = Bindings(
        [Binding(sensor.address, DeviceKind.SLEEP, {None: PatientLink(logical_id="full")})]
    )
    with tmpfs(tmp_path / "sd", "1m") as sd:
        outbox = Outbox(sd / "gateway.db")
        filled: list[Path] = []
        answer = sensor._on_racp_write

        def disk_fills_up(connection, value):  # mid-session: after the probe, before records
            if not filled:
                filled.append(fill(sd))
            answer(connection, value)

        sensor._on_racp_write = disk_fills_up
        await sensor.start(bus)
        gateway, task = await start_gateway(outbox, fhir_server, bus, bindings)
        try:
            await wait_for(lambda: gateway.sessions_completed >= 1)
            kept = len(sensor.memory)
            held = len(gateway.held)
            filled[0].unlink()  # someone frees space
            await wait_for(lambda: sensor.memory == [])
            await wait_for(lambda: gateway.outbox.counts()["pending"] == 0)
            await asyncio.sleep(0.5)
        finally:
            await stop(task, gateway)
            await sensor.stop()
            outbox.close()
    assert (kept, held) == (len(stages), len(stages))  # nothing deleted, all held
    assert samples_of(fhir_server, "full", SLEEP_STAGE) == [[str(s) for s in stages]]
    assert search(fhir_server, f"patient=Patient/full&code={NIGHT_SUMMARY}")["total"] == 1
    assert in_bed_readings(fhir_server, "full") == {"8867-4": 21, "9279-1": 21}


async def test_read_only_file_system_holds_the_value_and_stops_reading_devices(
    tmp_path, fhir_server
):
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF)
    cuff.measure(121, 79, 64, user=1)
    bindings = Bindings(
        [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {None: PatientLink(logical_id="ro")})]
    )
    with ext4_image(tmp_path) as disk:
        outbox = Outbox(disk.mountpoint / "gateway.db")
        await cuff.start(bus)
        gateway, task = await start_gateway(outbox, fhir_server, bus, bindings)
        try:
            await wait_for(lambda: gateway.outbox.counts()["sent"] >= 2)
            await wait_for(lambda: gateway.sessions_completed >= 1)
            connections = cuff.connections_made
            disk.fail()  # the kernel remounts the SD card read-only
            cuff.measure(138, 88, 72, user=1, when=cuff.clock.now() + timedelta(minutes=1))
            await wait_for(lambda: gateway.storage_fault is not None)
            await asyncio.sleep(1.5)  # five cooldowns: the cuff advertises, nobody connects
            assert cuff.connections_made == connections
            assert not cuff.memory[-1].sent  # the cuff keeps its new reading
            status = await gateway.current_status()
            assert "disk I/O error" in status["storage"]
            assert status["held_values"] == 0  # nothing was handed over to be lost
            assert status["sent"] >= 2  # what can run still runs: reads, uploads, heartbeat
            await wait_for(
                lambda: (storage_on_server(fhir_server, gateway) or "").startswith("fault")
            )
            with pytest.raises(StorageError):
                Outbox(disk.mountpoint / "another.db")  # no new database on it either
            cli = subprocess.run(
                [sys.executable, "-m", "homevitals_cli", "gateway", "status"],
                env={**os.environ, "HOMEVITALS_GATEWAY_DATA_DIR": str(disk.mountpoint)},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert cli.returncode == 2, cli.stderr
            assert json.loads(cli.stdout)["storage"].startswith("fault")
        finally:
            await stop(task, gateway)
            await cuff.stop()
            outbox.close()


def corrupt(path: Path) -> bytes:
    """Write random bytes over a page of the outbox's table; returns the damaged file."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 5 : 4096 * 6] = os.urandom(4096)
    path.write_bytes(data)
    return bytes(data)


def test_a_corrupt_outbox_is_set_aside_at_start_up_and_reported(tmp_path):
    path = tmp_path / "gateway-data" / "gateway.db"
    outbox = Outbox(path)
    outbox.add(
        [
            (f"urn:uuid:{n}", {"resourceType": "Observation", "note": "x" * 3000}, f"q={n}")
            for n in range(40)
        ]
    )
    outbox.close()
    damaged = corrupt(path)
    with pytest.raises(OutboxCorrupt):
        Outbox(path)
    fresh, aside = open_outbox(path)
    try:
        assert aside is not None and aside.read_bytes() == damaged  # kept as it was
        assert damaged_files(path) == [aside]
        assert fresh.counts() == {"pending": 0, "sent": 0, "rejected": 0, "quarantined": 0}
        fresh.add([("urn:uuid:new", {"resourceType": "Observation"}, "q=new")])  # it works
    finally:
        fresh.close()
    cli = subprocess.run(
        [sys.executable, "-m", "homevitals_cli", "gateway", "status"],
        env={**os.environ, "HOMEVITALS_GATEWAY_DATA_DIR": str(path.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    report = json.loads(cli.stdout)
    assert report["damaged_outbox_files"] == [str(aside)]
    assert report["queue_depth"] == 1 and report["storage"] == "ok"


def test_a_file_that_is_no_database_is_set_aside_too(tmp_path):
    path = tmp_path / "gateway.db"
    path.write_bytes(b"this is not an SQLite file" * 200)
    fresh, aside = open_outbox(path)
    fresh.close()
    assert aside is not None and aside.read_bytes().startswith(b"this is not")


def test_the_heartbeat_names_a_storage_fault_and_a_damaged_outbox():
    status = {
        "uptime_s": 5,
        "bluetooth": "scanning",
        "storage": "fault: cannot commit: database or disk is full",
        "held_values": 3,
        "damaged_outbox": "/var/lib/homevitals/gateway.db.corrupt-20261130T000000Z",
        "queue_depth": None,  # unknown: the outbox could not be read
        "oldest_unsent_age_s": None,
        "last_upload_contact": None,
        "devices": {},
    }
    device = status_device(GatewayIdentity("B827EBFFFE000901", "test"), status)
    properties = {p["type"]["coding"][0]["code"]: p for p in device["property"]}
    assert properties["storage"]["valueCode"][0]["text"].startswith("fault: cannot commit")
    assert properties["held"]["valueQuantity"][0]["value"] == 3
    assert properties["damaged-outbox"]["valueCode"][0]["text"].endswith("corrupt-20261130T000000Z")
    assert "queue-depth" not in properties


async def test_a_gateway_that_cannot_open_its_outbox_reads_no_device_and_says_why(
    tmp_path, fhir_server
):
    from gateway.cli import _open_storage
    from gateway.settings import GatewaySettings

    settings = GatewaySettings(
        server_url=fhir_server.base,
        system_id="B827EBFFFE000902",
        data_dir=tmp_path / "disk" / "data",
    )
    with ext4_image(tmp_path) as disk:
        disk.fail()  # read-only before the gateway starts (after an unclean power cut)
        with pytest.raises(TimeoutError):  # it keeps trying, and never opens a session
            await asyncio.wait_for(_open_storage(settings, fhir_server.token), 3)
    system, value = settings.identity().search
    with fhir_server.client() as client:
        found = client.get(f"/Device?identifier={system}|{value}").json()
    properties = {
        p["type"]["coding"][0]["code"]: p for p in found["entry"][0]["resource"]["property"]
    }
    assert properties["storage"]["valueCode"][0]["text"].startswith("fault: cannot open")

"""Emulated devices -> real bleak API -> gateway -> real FHIR server over loopback HTTP."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.bindings import Binding, Bindings
from gateway.mapping import GatewayIdentity, PatientLink
from gateway.mapping.devices import DeviceKind
from gateway.outbox import Outbox
from gateway.service import BleEnvironment, Gateway
from gateway.simulation import VirtualBus
from gateway.simulation.peripherals import BloodPressureCuff, DeviceClock
from gateway.uploader import Uploader

TOKYO = ZoneInfo("Asia/Tokyo")
CUFF = "D0:00:00:00:01:01"


def search(server, query: str) -> dict:
    with server.client() as client:
        response = client.get(f"/Observation?{query}")
        assert response.status_code == 200, response.text
        return response.json()


async def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def wait_for_server(server, totals: dict[str, int], timeout: float = 20.0) -> None:
    """Wait until each search finds exactly its total (searched off the event loop)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = {
            query: (await asyncio.to_thread(search, server, query))["total"] for query in totals
        }
        if found == totals:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the server holds {found}, expected {totals}")
        await asyncio.sleep(0.1)


async def run_gateway(tmp_path, server, bus, bindings, **kwargs):
    outbox = Outbox(tmp_path / "gateway.db")
    uploader = Uploader(server.base, server.token, outbox)
    gateway = Gateway(
        identity=GatewayIdentity("B827EBFFFE000101", "test"),
        bindings=bindings,
        outbox=outbox,
        uploader=uploader,
        ble=BleEnvironment.simulated(bus),
        zone=TOKYO,
        idle_timeout=1.0,
        cooldown=kwargs.pop("cooldown", 0.5),
        **kwargs,
    )
    task = asyncio.create_task(gateway.run())
    return gateway, task


async def stop(gateway_task, gateway):
    gateway_task.cancel()
    await asyncio.gather(gateway_task, return_exceptions=True)
    await gateway.uploader.aclose()


async def test_blood_pressure_cuff_two_users_drifted_clock_end_to_end(tmp_path, fhir_server):
    bus = VirtualBus()
    cuff = BloodPressureCuff(
        CUFF,
        clock=DeviceClock(TOKYO, drift=timedelta(minutes=-3)),
        system_id=bytes.fromhex("c377addeeeabedfe"),
    )
    base = cuff.clock.now()
    cuff.measure(128, 84, 70, user=1, when=base - timedelta(hours=2))
    cuff.measure(131, 86, 72, user=1, when=base - timedelta(hours=1))
    cuff.measure(142, 91, 80, user=2, when=base - timedelta(minutes=30))
    await cuff.start(bus)
    bindings = Bindings(
        [
            Binding(
                CUFF,
                DeviceKind.BLOOD_PRESSURE,
                {1: PatientLink(logical_id="tanaka"), 2: PatientLink(logical_id="suzuki")},
            )
        ]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(
            lambda: gateway.outbox.counts()["sent"] >= 7
        )  # 3 panels + 3 pulses + the time stamp
        assert all(record.sent for record in cuff.memory)
        assert cuff.clock_writes, "the gateway sets the device clock"
    finally:
        await stop(task, gateway)
        await cuff.stop()
    tanaka = search(fhir_server, "patient=Patient/tanaka&code=http://loinc.org|85354-9&_sort=date")
    suzuki = search(fhir_server, "patient=Patient/suzuki&code=http://loinc.org|85354-9")
    assert tanaka["total"] == 2 and suzuki["total"] == 1
    systolic = [e["resource"]["component"][0]["valueQuantity"]["value"] for e in tanaka["entry"]]
    assert systolic == [128, 131]
    # The cuff ran 3 minutes slow: its time stamps are corrected onto the gateway's clock.
    first = datetime.fromisoformat(tanaka["entry"][0]["resource"]["effectiveDateTime"])
    expected = (base - timedelta(hours=2) + timedelta(minutes=3)).replace(tzinfo=TOKYO)
    assert abs(first - expected) <= timedelta(seconds=2)
    assert first.utcoffset() == timedelta(hours=9)
    assert search(fhir_server, "patient=Patient/tanaka&code=http://loinc.org|8867-4")["total"] == 2


async def test_readings_measured_later_arrive_and_nothing_is_duplicated(tmp_path, fhir_server):
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF)
    cuff.measure(120, 80, 65, user=1)
    await cuff.start(bus)
    bindings = Bindings(
        [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {None: PatientLink(logical_id="sato")})]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 3)
        cuff.resend_sent = True  # devices do re-send their memory
        cuff.measure(125, 82, 66, user=1, when=cuff.clock.now() + timedelta(seconds=5))
        await wait_for(lambda: cuff.connections_made >= 3)
        await wait_for(
            lambda: gateway.outbox.counts()["pending"] == 0 and gateway.outbox.counts()["sent"] >= 5
        )
    finally:
        await stop(task, gateway)
        await cuff.stop()
    assert search(fhir_server, "patient=Patient/sato&code=85354-9&_summary=count")["total"] == 2


async def test_disconnect_mid_batch_and_a_malformed_record_lose_nothing(tmp_path, fhir_server):
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF)
    start = cuff.clock.now() - timedelta(hours=5)
    for n in range(6):
        cuff.measure(110 + n, 70 + n, 60 + n, user=1, when=start + timedelta(minutes=10 * n))
    cuff.store_raw(bytes.fromhex("1e7a0050"))  # truncated: flags promise far more
    cuff.disconnect_after = 3
    await cuff.start(bus)
    bindings = Bindings(
        [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {None: PatientLink(logical_id="ito")})]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: gateway.outbox.counts()["quarantined"] == 1)
        await wait_for(
            lambda: (
                gateway.outbox.counts()["pending"] == 0 and gateway.outbox.counts()["sent"] >= 12
            )
        )
        assert cuff.connections_made >= 2  # the cut link was picked up again
    finally:
        await stop(task, gateway)
        await cuff.stop()
    found = search(fhir_server, "patient=Patient/ito&code=85354-9&_sort=date&_count=20")
    assert [e["resource"]["component"][0]["valueQuantity"]["value"] for e in found["entry"]] == [
        110,
        111,
        112,
        113,
        114,
        115,
    ]


async def test_unbound_user_slot_is_uploaded_unassigned(tmp_path, fhir_server):
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF)
    cuff.measure(150, 95, 77, user=3)
    await cuff.start(bus)
    bindings = Bindings(
        [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {1: PatientLink(logical_id="kato")})]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 2)
    finally:
        await stop(task, gateway)
        await cuff.stop()
    assert search(fhir_server, "patient=Patient/kato&_summary=count")["total"] == 0
    panels = search(fhir_server, "code=http://loinc.org|85354-9&component-code=8480-6")
    unassigned = [
        e["resource"]
        for e in panels.get("entry", [])
        if e["resource"]["subject"]["reference"].startswith("Device/")
    ]
    assert len(unassigned) == 1
    assert unassigned[0]["component"][0]["valueQuantity"]["value"] == 150


async def test_cuff_that_needs_encryption_is_paired_like_bluez_does(tmp_path, fhir_server):
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF, require_encryption=True)
    cuff.measure(119, 79, 68, user=1)
    await cuff.start(bus)
    bindings = Bindings(
        [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {None: PatientLink(logical_id="abe")})]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 2)
        assert cuff.sent_encrypted == [True]  # the CCCD write failed, the client paired, retried
    finally:
        await stop(task, gateway)
        await cuff.stop()
    assert search(fhir_server, "patient=Patient/abe&code=85354-9&_summary=count")["total"] == 1


async def test_without_pairing_the_protected_cccd_refuses_the_subscription():
    from bleak import BleakClient
    from bleak.exc import BleakGATTProtocolError

    from gateway.simulation import BumbleClient

    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF, require_encryption=True)
    await cuff.start(bus)
    client = BleakClient(CUFF, backend=BumbleClient, bus=bus)
    await client.connect()
    try:
        backend = client._backend
        backend.pair = _refuse  # a gateway whose agent would not pair
        with pytest.raises(BleakGATTProtocolError) as info:
            await client.start_notify("2a35", lambda *_: None)
        assert info.value.code in (0x05, 0x0F)
    finally:
        await client.disconnect()
        await cuff.stop()


async def _refuse(*_args, **_kwargs):
    from bleak.exc import BleakGATTProtocolError

    raise BleakGATTProtocolError(0x05)


OXIMETER = "D0:00:00:00:02:01"


async def test_oximeter_records_come_through_racp_and_are_deleted_only_once_stored(
    tmp_path, fhir_server
):
    from gateway.simulation.peripherals import PulseOximeter

    bus = VirtualBus()
    oximeter = PulseOximeter(OXIMETER)
    start = oximeter.clock.now() - timedelta(hours=6)
    for n in range(5):
        oximeter.measure(93 + n, 70 + n, when=start + timedelta(minutes=30 * n))
    oximeter.disconnect_after = 3  # the first session is cut before the delete
    await oximeter.start(bus)
    bindings = Bindings(
        [Binding(OXIMETER, DeviceKind.PULSE_OXIMETER, {None: PatientLink(logical_id="ono")})]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: oximeter.deletions == 1)
        assert oximeter.memory == []
        assert oximeter.connections_made >= 2  # the cut session deleted nothing
        await wait_for(
            lambda: (
                gateway.outbox.counts()["pending"] == 0 and gateway.outbox.counts()["sent"] >= 10
            )
        )
        oximeter.measure(98, 66)
        await wait_for(lambda: oximeter.deletions == 2)
        await wait_for(
            lambda: (
                gateway.outbox.counts()["pending"] == 0 and gateway.outbox.counts()["sent"] >= 12
            )
        )
    finally:
        await stop(task, gateway)
        await oximeter.stop()
    spo2 = search(
        fhir_server, "patient=Patient/ono&code=http://loinc.org|2708-6&_sort=date&_count=20"
    )
    assert [e["resource"]["valueQuantity"]["value"] for e in spo2["entry"]] == [
        93,
        94,
        95,
        96,
        97,
        98,
    ]
    assert (
        search(
            fhir_server,
            "patient=Patient/ono&code=urn:iso:std:iso:11073:10101|149530&_summary=count",
        )["total"]
        == 6
    )


def device_versions(server, gateway) -> int:
    system, value = gateway.identity.search
    with server.client() as client:
        found = client.get(f"/Device?identifier={system}|{value}").json()
        if not found.get("entry"):
            return 0
        device_id = found["entry"][0]["resource"]["id"]
        return int(client.get(f"/Device/{device_id}/_history").json()["total"])


async def test_heartbeat_puts_the_gateway_status_on_its_device(tmp_path, fhir_server):
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF, battery=57)
    cuff.measure(121, 81, 64, user=1)
    await cuff.start(bus)
    bindings = Bindings(
        [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {None: PatientLink(logical_id="mori")})]
    )
    gateway, task = await run_gateway(
        tmp_path, fhir_server, bus, bindings, heartbeat_interval=0.2, heartbeat_keepalive=3600
    )
    try:
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 2)
        await wait_for(lambda: 57 in gateway.battery.values())
        await wait_for(lambda: gateway.heartbeat.last_material is not None)
        await wait_for(lambda: gateway.heartbeat.last_material["devices"][CUFF] == 5)
        sent, versions = gateway.heartbeats_sent, device_versions(fhir_server, gateway)
        await asyncio.sleep(1.5)  # seven more looks at an unchanged status: no new version
        assert gateway.heartbeats_sent == sent
        assert device_versions(fhir_server, gateway) == versions
    finally:
        await stop(task, gateway)
        await cuff.stop()
    with fhir_server.client() as client:
        system, value = gateway.identity.search
        found = client.get(f"/Device?identifier={system}|{value}").json()
        assert found["total"] == 1  # one Device per gateway: the status replaces it
        device = found["entry"][0]["resource"]
        history = client.get(f"/Device/{device['id']}/_history").json()
    properties = {p["type"]["coding"][0]["code"]: p for p in device["property"]}
    # The queue depth as last reported: it changes with every reading, so it is sent with a
    # material change or the keep-alive, not on its own.
    assert properties["queue-depth"]["valueQuantity"][0]["value"] >= 0
    assert properties["bluetooth"]["valueCode"][0]["text"] == "scanning"
    assert properties["device-battery"]["valueQuantity"][0]["value"] == 57
    assert CUFF in properties["device-last-contact"]["valueCode"][0]["text"]
    # The cuff's kind (issue 12: the clinic says "cuff" where no sensor Device is in reach).
    kind = properties["device-last-contact"]["valueCode"][1]["coding"][0]
    assert (kind["system"].endswith("/CodeSystem/device-kind"), kind["code"]) == (
        True,
        "blood-pressure",
    )
    # One version per change, not one per look (issue 9); the first upload's Bundle may
    # have created the Device before the first heartbeat did.
    assert sent <= history["total"] <= sent + 1
    assert properties["storage"]["valueCode"][0]["text"] == "ok"
    assert properties["outbox-rows"]["valueQuantity"][0]["value"] >= 2


async def test_thermometer_and_scale_through_the_same_machinery(tmp_path, fhir_server):
    from gateway.simulation.peripherals import Thermometer, WeightScale

    bus = VirtualBus()
    thermometer = Thermometer("D0:00:00:00:03:01", "Thermo")
    scale = WeightScale("D0:00:00:00:04:01", "Scale")
    thermometer.measure(36.8, when=thermometer.clock.now() - timedelta(hours=1))
    thermometer.measure(37.9)
    scale.measure(58.35)
    for device in (thermometer, scale):
        await device.start(bus)
    bindings = Bindings(
        [
            Binding(
                thermometer.address, DeviceKind.THERMOMETER, {None: PatientLink(logical_id="endo")}
            ),
            Binding(scale.address, DeviceKind.WEIGHT_SCALE, {None: PatientLink(logical_id="endo")}),
        ]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 3)
        await wait_for(lambda: gateway.outbox.counts()["pending"] == 0)
    finally:
        await stop(task, gateway)
        for device in (thermometer, scale):
            await device.stop()
    temperatures = search(
        fhir_server, "patient=Patient/endo&code=http://loinc.org|8310-5&_sort=date"
    )
    assert [
        (e["resource"]["valueQuantity"]["value"], e["resource"]["valueQuantity"]["code"])
        for e in temperatures["entry"]
    ] == [(36.8, "Cel"), (37.9, "Cel")]
    weights = search(fhir_server, "patient=Patient/endo&code=http://loinc.org|29463-7")
    assert [
        (e["resource"]["valueQuantity"]["value"], e["resource"]["valueQuantity"]["code"])
        for e in weights["entry"]
    ] == [(58.35, "kg")]


MDC = "urn:iso:std:iso:11073:10101"
SLEEP_STAGE = "http://snomed.info/sct|258158006"
NIGHT_SUMMARY = "http://loinc.org|93832-4"


def in_bed_readings(server, patient: str) -> dict[str, int]:
    """Epochs per code the server's `$stats` counts in bed (heart and breathing rate)."""
    from fhir_api.service import FhirService

    today = datetime.now(TOKYO).date()
    _subject, _zone, days = FhirService(server.store).stats(
        [
            ("patient", f"Patient/{patient}"),
            ("code", "8867-4,9279-1"),
            ("start", (today - timedelta(days=10)).isoformat()),
            ("end", (today + timedelta(days=2)).isoformat()),
            ("setting", "in-bed"),
        ]
    )
    counted: dict[str, int] = {}
    for day in days:
        counted[day.code] = counted.get(day.code, 0) + day.readings
    return counted


def samples_of(server, patient: str, code: str) -> list[list[str]]:
    """The sample lists of a patient's SampledData Observations of `code`, oldest first."""
    found = search(server, f"patient=Patient/{patient}&code={code}&_sort=date&_count=50")
    return [e["resource"]["valueSampledData"]["data"].split(" ") for e in found.get("entry", [])]


async def test_sleep_sensor_epochs_by_sequence_and_a_night_summary(tmp_path, fhir_server):
    from gateway.simulation.peripherals import SleepSensor

    bus = VirtualBus()
    sensor = SleepSensor("D0:00:00:00:05:01")
    # Both nights end more than a day before now, whatever the hour the test runs at: a
    # night is summarized only once MAX_GAP has passed since its end, so a second night
    # ending at 23:25 "yesterday" was still open when the suite ran just after midnight.
    yesterday = sensor.clock.now().replace(hour=23, minute=0, second=0) - timedelta(days=3)
    stages = (
        [1] * 2 + [2] * 6 + [3] * 6 + [4] * 4 + [2] * 2 + [1]
    )  # awake, light, deep, REM, light, awake
    sensor.record_night(yesterday, stages)
    await sensor.start(bus)
    bindings = Bindings(
        [Binding(sensor.address, DeviceKind.SLEEP, {None: PatientLink(logical_id="nagai")})]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: sensor.memory == [])
        await wait_for(
            lambda: gateway.outbox.counts()["pending"] == 0 and gateway.outbox.counts()["sent"] > 3
        )
        first_requests = list(sensor.requests)
        # A second night arrives: only records after the last stored sequence are asked for.
        sensor.record_night(yesterday + timedelta(days=1), [1, 2, 3, 2, 1])
        await wait_for(lambda: sensor.memory == [] and len(sensor.deletions) == 2)
        # The last two requests now are the report and the delete of the second night;
        # later sessions (nothing new) would add more, so take them at this moment.
        second_requests = list(sensor.requests)
        # A night's summary is queued only after its session ends, so an empty queue
        # proves nothing: wait until the server holds both summaries and both windows.
        await wait_for_server(
            fhir_server,
            {
                f"patient=Patient/nagai&code={NIGHT_SUMMARY}&_summary=count": 2,
                f"patient=Patient/nagai&code={SLEEP_STAGE}&_summary=count": 2,
            },
        )
    finally:
        await stop(task, gateway)
        await sensor.stop()
    assert first_requests[0] == bytes.fromhex("0101")  # nothing stored yet: all records
    assert second_requests[-2] == bytes.fromhex("0103011600")  # after sequence 21: from 22
    assert sensor.deletions == [bytes.fromhex("0202011500"), bytes.fromhex("0202011a00")]
    nights = search(fhir_server, f"patient=Patient/nagai&code={NIGHT_SUMMARY}&_sort=date")
    assert nights["total"] == 2
    first = nights["entry"][0]["resource"]
    assert first["valueQuantity"]["value"] == 90.0  # 18 asleep epochs of 5 minutes
    minutes = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in first["component"]
    }
    assert minutes == {"93831-6": 30.0, "93830-8": 40.0, "93829-0": 20.0}
    # Issue 15: each session's epochs are one SampledData per signal, not 3 Observations
    # an epoch; the server expands them, and $stats in bed counts every epoch once.
    assert samples_of(fhir_server, "nagai", SLEEP_STAGE) == [
        [str(s) for s in stages],
        ["1", "2", "3", "2", "1"],
    ]
    heart = samples_of(fhir_server, "nagai", f"{MDC}|147842")
    assert heart == [[str(56 + i % 5) for i in range(len(stages))], ["56", "57", "58", "59", "60"]]
    assert [len(w) for w in samples_of(fhir_server, "nagai", f"{MDC}|151562")] == [21, 5]
    assert in_bed_readings(fhir_server, "nagai") == {"8867-4": 26, "9279-1": 26}
    assert search(fhir_server, "patient=Patient/nagai&_summary=count")["total"] == 2 + 3 * 2


async def test_a_night_split_over_two_sessions_loses_and_repeats_nothing(tmp_path, fhir_server):
    """Issue 15: a window is what the gateway kept and had not sent once its night is over
    (this night ended days ago, so each session's part goes at once). The sensor hands its
    night over in two parts; the server gets two windows per signal, `$stats` sees each
    epoch once, and the summaries count each epoch once (no second summary of the night's
    first part)."""
    from gateway.simulation.peripherals import SleepSensor

    bus = VirtualBus()
    sensor = SleepSensor("D0:00:00:00:05:02")
    night = sensor.clock.now().replace(hour=23, minute=0, second=0) - timedelta(days=3)
    stages = [1] * 2 + [2] * 6 + [3] * 6 + [4] * 4 + [2] * 2 + [1]
    sensor.record_night(night, stages[:10])
    await sensor.start(bus)
    bindings = Bindings(
        [Binding(sensor.address, DeviceKind.SLEEP, {None: PatientLink(logical_id="hayashi")})]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: sensor.memory == [] and len(sensor.deletions) == 1)
        sensor.record_night(night + timedelta(minutes=50), stages[10:])  # the rest of it
        await wait_for(lambda: sensor.memory == [] and len(sensor.deletions) == 2)
        await wait_for_server(
            fhir_server, {f"patient=Patient/hayashi&code={SLEEP_STAGE}&_summary=count": 2}
        )
        await wait_for(lambda: gateway.outbox.counts()["pending"] == 0)
    finally:
        await stop(task, gateway)
        await sensor.stop()
    windows = samples_of(fhir_server, "hayashi", SLEEP_STAGE)
    assert [s for window in windows for s in window] == [str(s) for s in stages]
    assert in_bed_readings(fhir_server, "hayashi") == {"8867-4": 21, "9279-1": 21}
    summaries = search(fhir_server, f"patient=Patient/hayashi&code={NIGHT_SUMMARY}&_sort=date")
    periods = [e["resource"]["effectivePeriod"] for e in summaries["entry"]]
    asleep = sum(e["resource"]["valueQuantity"]["value"] for e in summaries["entry"])
    assert asleep == 90.0  # 18 asleep epochs of 5 minutes, each counted once
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(periods))


async def test_pairing_registers_the_device_and_binds_a_user_slot(tmp_path, fhir_server):
    import httpx

    from gateway.pairing import PairingError, pair_device

    bus = VirtualBus()
    cuff = BloodPressureCuff("D0:00:00:00:06:01", require_encryption=True, serial="SN-PAIR-1")
    cuff.measure(133, 87, 71, user=2)
    await cuff.start(bus)
    outbox = Outbox(tmp_path / "gateway.db")
    headers = {
        "Authorization": f"Bearer {fhir_server.token}",
        "Content-Type": "application/fhir+json",
    }
    async with httpx.AsyncClient(base_url=fhir_server.base + "/", headers=headers) as server:
        paired = await pair_device(
            ble=BleEnvironment.simulated(bus),
            outbox=outbox,
            server=server,
            patient="hayashi",
            slot=2,
            timeout=10,
        )
        again = await pair_device(
            ble=BleEnvironment.simulated(bus),
            outbox=outbox,
            server=server,
            patient="hayashi",
            slot=2,
            address=cuff.address,
            timeout=10,
        )
        with pytest.raises(PairingError, match="no device"):  # the only device is bound already
            await pair_device(
                ble=BleEnvironment.simulated(bus),
                outbox=outbox,
                server=server,
                patient="x",
                slot=2,
                timeout=1,
            )
    assert (paired.address, paired.kind, paired.slot, paired.bonded) == (
        cuff.address,
        DeviceKind.BLOOD_PRESSURE,
        2,
        True,
    )
    assert again.device_id == paired.device_id  # pairing twice registers one Device
    with fhir_server.client() as client:
        device = client.get(f"/Device/{paired.device_id}").json()
    assert device["serialNumber"] == "SN-PAIR-1"
    (binding,) = outbox.bindings()
    assert (
        binding.patient_for(2) == PatientLink(logical_id="hayashi")
        and binding.patient_for(1) is None
    )
    outbox.close()
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, Bindings([binding]))
    try:
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 2)
    finally:
        await stop(task, gateway)
        await cuff.stop()
    assert search(fhir_server, "patient=Patient/hayashi&code=85354-9&_summary=count")["total"] == 1


async def test_oximeter_continuous_stream_and_heart_rate_strap(tmp_path, fhir_server):
    from gateway.simulation.peripherals import HeartRateMonitor, PulseOximeter

    bus = VirtualBus()
    oximeter = PulseOximeter("D0:00:00:00:02:02")
    oximeter.measure(95, 71)
    oximeter.stream = [(96, 70), (97, 69), (96, 68)]
    strap = HeartRateMonitor("D0:00:00:00:07:01")
    strap.stream = [(64, (937,)), (66, (910, 920))]
    for device in (oximeter, strap):
        await device.start(bus)
    bindings = Bindings(
        [
            Binding(
                oximeter.address, DeviceKind.PULSE_OXIMETER, {None: PatientLink(logical_id="ueda")}
            ),
            Binding(strap.address, DeviceKind.HEART_RATE, {None: PatientLink(logical_id="ueda")}),
        ]
    )
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 2 + 6 + 2)
        await wait_for(lambda: gateway.outbox.counts()["pending"] == 0)
    finally:
        await stop(task, gateway)
        for device in (oximeter, strap):
            await device.stop()
    spo2 = search(fhir_server, "patient=Patient/ueda&code=http://loinc.org|2708-6&_count=20")
    modes = sorted(
        (
            e["resource"]["valueQuantity"]["value"],
            e["resource"]["component"][0]["valueCodeableConcept"]["coding"][0]["code"],
        )
        for e in spo2["entry"]
    )
    assert modes == [(95, "150588"), (96, "continuous"), (96, "continuous"), (97, "continuous")]
    heart = search(fhir_server, "patient=Patient/ueda&code=urn:iso:std:iso:11073:10101|147842")
    assert sorted(e["resource"]["valueQuantity"]["value"] for e in heart["entry"]) == [64, 66]


async def test_unset_clock_and_nan_reading_end_to_end(tmp_path, fhir_server):
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF, clock=DeviceClock(TOKYO, is_set=False))
    cuff.measure(None, 82, 70, user=1, when=None)  # systolic NaN, clock unset: year 0 stamp
    await cuff.start(bus)
    bindings = Bindings(
        [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {None: PatientLink(logical_id="sakai")})]
    )
    received_before = datetime.now(UTC)
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, bindings)
    try:
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 2)
    finally:
        await stop(task, gateway)
        await cuff.stop()
    assert cuff.clock.is_set  # the gateway set the clock
    (entry,) = search(fhir_server, "patient=Patient/sakai&code=85354-9")["entry"]
    panel = entry["resource"]
    assert panel["component"][0]["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"
    assert panel["component"][1]["valueQuantity"]["value"] == 82
    effective = datetime.fromisoformat(panel["effectiveDateTime"])
    assert (
        received_before - timedelta(seconds=1)
        <= effective
        <= datetime.now(UTC) + timedelta(seconds=1)
    )
    source = next(e for e in panel["extension"] if e["url"].endswith("effective-time-source"))
    assert source["valueCode"] == "gateway-reception"

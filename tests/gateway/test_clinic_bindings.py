"""Issue 14: staff bind a cuff's user slot to a patient on the server; the running home follows.

Emulated cuff -> real bleak API -> gateway -> real FHIR server over loopback. 田中 is
paired at home to slot 1; the clinic binds slot 2 to 鈴木 (on 鈴木's Patient, the
home-settings extension); the gateway fetches it with its own token while running,
and slot 2's next reading reaches the server as 鈴木's, while the reading it had
already committed stays unassigned. With the server down, a restarted gateway keeps
the clinic's bindings from its last copy.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from fhir_api.home_settings import DeviceBinding, HomeSettings
from gateway.bindings import Binding, Bindings
from gateway.clinic_settings import ClinicSettings, clinic_bindings, merged
from gateway.mapping import PatientLink
from gateway.mapping.devices import DeviceKind
from gateway.settings import FeedbackConfig
from gateway.simulation import VirtualBus
from gateway.simulation.peripherals import BloodPressureCuff, Thermometer

from ..services import free_port
from .test_clinic_settings import MORNING, set_on_server
from .test_end_to_end import CUFF, run_gateway, search, stop, wait_for, wait_for_server

PANEL = "code=http://loinc.org|85354-9"
AT_HOME = Bindings(
    [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {1: PatientLink(logical_id="tanaka")})]
)


def poller(server, tmp_path, gateway, base: str | None = None) -> ClinicSettings:
    return ClinicSettings(
        base or server.base,
        server.token,
        tmp_path / "clinic-settings.json",
        local=FeedbackConfig(),
        local_reminders=[],
        apply=lambda config, reminders: None,
        interval=0.1,
        local_bindings=AT_HOME,
        apply_bindings=gateway.rebind,
    )


def slot_2(gateway) -> str | None:
    binding = gateway.bindings.get(CUFF)
    patient = binding.patient_for(2) if binding else None
    return patient.logical_id if patient else None


async def test_a_slot_bound_at_the_clinic_sends_its_next_reading_to_that_patient(
    tmp_path, fhir_server
):
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF)
    cuff.measure(118, 76, 61, user=1, when=cuff.clock.now() - timedelta(minutes=20))
    cuff.measure(140, 90, 70, user=2, when=cuff.clock.now() - timedelta(minutes=10))
    await cuff.start(bus)
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, AT_HOME)
    clinic = poller(fhir_server, tmp_path, gateway)
    polling = asyncio.create_task(clinic.run())
    try:
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 4 and clinic.applied is not None)
        assert slot_2(gateway) is None  # nobody at the clinic has bound slot 2 yet
        await asyncio.to_thread(
            set_on_server,
            fhir_server,
            "suzuki",
            HomeSettings(devices=(DeviceBinding(CUFF, "blood-pressure", 2),)),
        )
        await wait_for(lambda: slot_2(gateway) == "suzuki")
        cuff.measure(151, 97, 74, user=2, when=cuff.clock.now() + timedelta(seconds=5))
        cuff.measure(122, 79, 62, user=1, when=cuff.clock.now() + timedelta(seconds=6))
        await wait_for_server(
            fhir_server,
            {f"patient=Patient/suzuki&{PANEL}": 1, f"patient=Patient/tanaka&{PANEL}": 2},
        )
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await clinic.aclose()
        await stop(task, gateway)
        await cuff.stop()
    suzuki = search(fhir_server, f"patient=Patient/suzuki&{PANEL}")
    assert suzuki["entry"][0]["resource"]["component"][0]["valueQuantity"]["value"] == 151
    # The reading committed before the binding keeps its subject: the cuff, unassigned.
    panels = search(fhir_server, f"{PANEL}&_count=50")["entry"]
    unassigned = [
        e["resource"]["component"][0]["valueQuantity"]["value"]
        for e in panels
        if e["resource"]["subject"]["reference"].startswith("Device/")
    ]
    assert unassigned == [140]

    # The server is down and the gateway restarts: the clinic's bindings stay in force.
    bus = VirtualBus()
    restarted, task = await run_gateway(tmp_path / "again", fhir_server, bus, AT_HOME)
    down = poller(fhir_server, tmp_path, restarted, base=f"http://127.0.0.1:{free_port()}/fhir")
    try:
        assert slot_2(restarted) is None
        assert down.load_cached() is True
        assert await down.poll() is False
        assert slot_2(restarted) == "suzuki"
        assert restarted.bindings.get(CUFF).patient_for(1) == PatientLink(logical_id="tanaka")
    finally:
        await down.aclose()
        await stop(task, restarted)


def test_the_clinic_binding_a_cuff_alone_keeps_the_local_reminders() -> None:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "device",
                "part": [
                    {"name": "address", "valueString": CUFF},
                    {"name": "kind", "valueCode": "blood-pressure"},
                    {"name": "patient", "valueString": "suzuki"},
                    {"name": "slot", "valueInteger": 2},
                ],
            }
        ],
    }
    _, reminders = merged(parameters, FeedbackConfig(), [MORNING])
    assert reminders == [MORNING]
    [binding] = clinic_bindings(parameters)
    assert binding.patients == {2: PatientLink(logical_id="suzuki")}


def test_a_device_binding_the_gateway_cannot_use_changes_nothing() -> None:
    bad = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "device",
                "part": [
                    {"name": "address", "valueString": CUFF},
                    {"name": "kind", "valueCode": "kettle"},
                    {"name": "patient", "valueString": "suzuki"},
                ],
            }
        ],
    }
    with pytest.raises(ValueError, match="unknown kind"):
        clinic_bindings(bad)


async def test_a_device_newly_bound_at_the_clinic_starts_being_read(tmp_path, fhir_server):
    """The home scans only for its bound kinds: a thermometer bound later restarts the scan."""
    bus = VirtualBus()
    thermometer = Thermometer("D0:00:00:00:03:07", "Thermo")
    thermometer.measure(37.4, when=thermometer.clock.now() - timedelta(minutes=5))
    await thermometer.start(bus)
    gateway, task = await run_gateway(tmp_path, fhir_server, bus, AT_HOME)
    clinic = poller(fhir_server, tmp_path, gateway)
    polling = asyncio.create_task(clinic.run())
    try:
        await wait_for(lambda: clinic.applied is not None)
        await asyncio.sleep(0.5)
        assert thermometer.connections_made == 0  # not bound: not even scanned for
        await asyncio.to_thread(
            set_on_server,
            fhir_server,
            "suzuki",
            HomeSettings(devices=(DeviceBinding("D0:00:00:00:03:07", "thermometer"),)),
        )
        await wait_for_server(fhir_server, {"patient=Patient/suzuki&code=8310-5": 1})
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await clinic.aclose()
        await stop(task, gateway)
        await thermometer.stop()

"""The server goes away while the patient measures, and comes back: nothing lost, nothing twice.

Emulated cuff -> real bleak API -> gateway -> a real server that is stopped and
started again on the same port and data directory, as after a server outage.
"""

from __future__ import annotations

from datetime import timedelta

from fhir_api.auth import Role, TokenStore
from fhir_api.settings import Settings
from gateway.bindings import Binding, Bindings
from gateway.mapping import PatientLink
from gateway.mapping.devices import DeviceKind
from gateway.simulation import VirtualBus
from gateway.simulation.peripherals import BloodPressureCuff

from ..fhir_api.conftest import RunningServer, serve
from ..services import free_port
from .conftest import seed_patients
from .test_end_to_end import run_gateway, search, stop, wait_for

CUFF = "D0:00:00:00:32:01"


async def test_readings_taken_while_the_server_is_down_arrive_once_it_is_back(tmp_path):
    settings = Settings(data_dir=tmp_path / "server")
    port = free_port()
    bus = VirtualBus()
    cuff = BloodPressureCuff(CUFF)
    cuff.resend_sent = True  # the cuff sends its whole memory at every connection
    cuff.measure(121, 79, 64, user=1)
    await cuff.start(bus)
    bindings = Bindings(
        [Binding(CUFF, DeviceKind.BLOOD_PRESSURE, {None: PatientLink(logical_id="outage")})]
    )
    with serve(settings, port) as (base, store):
        token = TokenStore(store.engine).create("outage", Role.SYSTEM)
        server = RunningServer("sqlite", base, token, store, settings)
        seed_patients(server)
        gateway, task = await run_gateway(tmp_path, server, bus, bindings)
        await wait_for(lambda: gateway.outbox.counts()["sent"] >= 1)
    try:
        # The server is gone. The patient measures twice; the gateway must keep both.
        for minutes, (systolic, diastolic, pulse) in ((1, (150, 95, 80)), (2, (138, 88, 72))):
            cuff.measure(
                systolic,
                diastolic,
                pulse,
                user=1,
                when=cuff.clock.now() + timedelta(minutes=minutes),
            )
        connections = cuff.connections_made
        await wait_for(lambda: cuff.connections_made >= connections + 2)  # a whole session since
        assert gateway.outbox.counts()["pending"] >= 2
        assert gateway.uploader.last_error is not None
        with serve(settings, port) as (base, store):
            server = RunningServer("sqlite", base, token, store, settings)
            await wait_for(lambda: gateway.outbox.counts()["pending"] == 0, timeout=60)
            panels = search(server, "patient=Patient/outage&code=85354-9&_sort=date")
            systolic = sorted(
                component["valueQuantity"]["value"]
                for entry in panels["entry"]
                for component in entry["resource"]["component"]
                if component["code"]["coding"][0]["code"] == "8480-6"
            )
            assert systolic == [121, 138, 150]  # each reading once, the first one not again
            assert gateway.outbox.counts()["rejected"] == 0
    finally:
        await stop(task, gateway)
        await cuff.stop()

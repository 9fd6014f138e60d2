"""`homevitals demo`: the server, a simulated home and its history, running live.

It starts the FHIR server (a separate process on the embedded store), creates
demo patients over FHIR, starts emulated Bluetooth cuffs with months of
readings in their memory, and runs the real gateway (bleak over the emulated
radio, durable outbox, uploader) against the server. Everything the server
receives went through that path. Then it keeps measuring, live.

Ctrl-C stops it at any moment within about a second: the signal only sets an
event, and every step of the shutdown has a time limit, so neither a request to
a server that has already died nor a library that swallows a cancellation can
keep the demo running (issue 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from fhir_api.launch import start_server_process

if TYPE_CHECKING:
    from gateway.outbox import Outbox
    from gateway.service import Gateway
    from gateway.simulation.home import DemoPatient
    from gateway.simulation.peripherals import BloodPressureCuff, EmulatedPeripheral
    from gateway.uploader import Uploader

__all__ = ["DemoResult", "run_demo"]

_T = TypeVar("_T")


def _print_spoken(text: str) -> None:
    """A sentence the home gateway says, on its own line (over the status line's rest)."""
    print(f"\r  home gateway says: {text}".ljust(60), flush=True)


# Time limits of the shutdown steps (seconds); together well under the 2 s promised.
_WORK_STOPS_WITHIN = 0.3
_HOME_STOPS_WITHIN = 0.3
_SERVER_STOPS_WITHIN = 0.5
# Seconds after the gateway starts until the first demo patient presses the call button.
_PRESS_AFTER = 2.0


@dataclass(frozen=True, slots=True)
class DemoResult:
    """How a demo run ended."""

    uploaded: int
    """Resources the gateway uploaded during this run (from its outbox)."""
    interrupted: bool
    """Stopped by Ctrl-C (or SIGTERM) rather than by `duration`."""
    error: str | None = None
    """Why the demo stopped early, in one line (None when it did not)."""


class _Home:
    """The simulated home and its gateway, started step by step and stopped in bounded time."""

    def __init__(self, base: str, token: str, data_dir: Path) -> None:
        self.base = base
        self.token = token
        self.data_dir = data_dir
        self.devices: list[EmulatedPeripheral] = []
        self.cuffs: list[tuple[BloodPressureCuff, DemoPatient]] = []
        self.callers: list[tuple[str, str]] = []  # (Patient id, name) in demo order
        self.outbox: Outbox | None = None
        self.uploader: Uploader | None = None
        self.gateway: Gateway | None = None
        self._gateway_task: asyncio.Task[None] | None = None
        self._sent_before = 0

    async def run(self, days: int, duration: float | None, live_every: float) -> None:
        """Create the patients and devices, start the gateway, then measure live."""
        from gateway.bindings import Binding, Bindings
        from gateway.call_button import Request
        from gateway.feedback import Feedback, FeedbackOptions, Speaker
        from gateway.mapping import GatewayIdentity, PatientLink
        from gateway.mapping.devices import DeviceKind
        from gateway.outbox import Outbox
        from gateway.patient_side import PatientSide
        from gateway.service import BleEnvironment, Gateway
        from gateway.simulation import VirtualBus
        from gateway.simulation.home import (
            backfill_blood_pressure,
            demo_cuff,
            demo_oximeter,
            demo_patients,
            demo_sleep_sensor,
        )
        from gateway.uploader import Uploader

        zone = ZoneInfo("Asia/Tokyo")
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/fhir+json"}
        bus = VirtualBus()
        bindings = []
        async with httpx.AsyncClient(base_url=self.base, headers=headers) as client:
            for patient in demo_patients():
                patient_id = await _create_patient(client, patient)
                cuff = demo_cuff(patient, zone)
                queued = backfill_blood_pressure(cuff, patient, days=days, zone=zone)
                oximeter = demo_oximeter(patient, zone, days=days)
                link = PatientLink(logical_id=patient_id)
                devices: list[tuple[Any, DeviceKind, dict[int | None, PatientLink]]] = [
                    (cuff, DeviceKind.BLOOD_PRESSURE, {1: link}),
                    (oximeter, DeviceKind.PULSE_OXIMETER, {None: link}),
                ]
                extra = f", oximeter {len(oximeter.memory)} spot checks"
                if patient.identifier == "DEMO-0001":
                    sensor = demo_sleep_sensor(patient, zone, nights=min(days, 14))
                    devices.append((sensor, DeviceKind.SLEEP, {None: link}))
                    extra += f", sleep sensor {min(days, 14)} nights"
                for device, kind, patients in devices:
                    self.devices.append(device)
                    await device.start(bus)
                    bindings.append(Binding(device.address, kind, patients))
                self.cuffs.append((cuff, patient))
                who = f"{patient.family} {patient.given}"
                self.callers.append((patient_id, who))
                print(f"  {who}: Patient/{patient_id}, cuff {queued} readings{extra}", flush=True)
        patient_ids = sorted(
            {p.logical_id for b in bindings for p in b.patients.values() if p.logical_id}
        )
        logins = await _demo_staff(self.base, self.token, self.data_dir, patient_ids)
        print(
            f"Clinician view: {self.base.removesuffix('/fhir')}/login "
            "(demo logins; TOTP is off in the demo only):"
        )
        for role, username, password in logins:
            print(f"  {role:<13} {username} / {password}")
        print(
            f"Alert notifications to the care team (care manager first): "
            f"{self.data_dir / NOTIFICATIONS_FILE}"
        )
        # The home's gateway uploads with its own token, bound to these patients only,
        # as an admin makes it with `homevitals admin gateway-token create`.
        self.token = await asyncio.to_thread(
            _gateway_token,
            self.data_dir,
            [b.patients[k].logical_id for b in bindings for k in b.patients],
        )
        self.outbox = Outbox(self.data_dir / "gateway.db")
        self._sent_before = self.outbox.counts()["sent"]  # a kept --data-dir has earlier runs
        self.uploader = Uploader(self.base, self.token, self.outbox)
        identity = GatewayIdentity("B827EBFFFE00D3E0", "0.1.0", "Demo home gateway")
        # The home's voice (issue 14), printed rather than played: what the patients hear.
        feedback = Feedback(
            FeedbackOptions(speech=True),
            zone=zone,
            speaker=Speaker(output=_print_spoken, play=False),
            read_values_for=frozenset({"*"}),
        )
        patient_side = PatientSide(
            feedback, outbox=self.outbox, uploader=self.uploader, identity=identity, zone=zone
        )
        # Issue 14: the first demo patient has the call button and presses it once.
        caller_id, caller = self.callers[0]
        patient_side.button_patient = PatientLink(logical_id=caller_id)
        self.gateway = Gateway(
            identity=identity,
            bindings=Bindings(bindings),
            outbox=self.outbox,
            uploader=self.uploader,
            ble=BleEnvironment.simulated(bus),
            zone=zone,
            idle_timeout=2.0,
            cooldown=5.0,
            test_data=True,
            patient_side=patient_side,
        )
        self._gateway_task = asyncio.create_task(self.gateway.run(), name="demo gateway")
        started = last_live = time.monotonic()
        pressed = False
        while duration is None or time.monotonic() - started < duration:
            await asyncio.sleep(min(1.0, duration) if duration is not None else 1.0)
            status = await self.gateway.current_status()  # the outbox read off the loop
            print(
                f"\r  gateway: {status['sent'] - self._sent_before} sent, "
                f"{status['queue_depth']} waiting, {status['quarantined']} quarantined   ",
                end="",
                flush=True,
            )
            if not pressed and time.monotonic() - started >= _PRESS_AFTER:
                pressed = True
                print(f"\r  {caller}: presses the call button (please call me)", flush=True)
                patient_side.press(Request.CALL_ME, datetime.now(UTC))
            if time.monotonic() - last_live >= live_every:
                last_live = time.monotonic()
                for cuff, patient in self.cuffs:
                    if patient.stopped_days_ago:
                        continue  # the patient who stopped measuring stays stopped
                    cuff.measure(
                        round(patient.systolic),
                        round(patient.diastolic),
                        round(patient.pulse),
                        user=1,
                    )

    def uploaded(self) -> int:
        """Resources the gateway uploaded in this run."""
        if self.outbox is None:
            return 0
        return self.outbox.counts()["sent"] - self._sent_before

    async def close(self) -> None:
        """Stop the gateway, then the devices, each step within its time limit.

        The gateway first: its sessions end their GATT requests (the gateway's run
        waits for them) before any device disconnects. A device that powers off while
        a request is in flight makes bumble cancel the request's pending response on
        the disconnection, and the response already on the emulated link then lands
        on that cancelled future: an InvalidStateError traceback from
        `Host.on_packet` on stderr.
        """
        if self._gateway_task is not None:
            self._gateway_task.cancel()
            await asyncio.wait({self._gateway_task}, timeout=_HOME_STOPS_WITHIN)
        steps: list[Coroutine[Any, Any, Any]] = []
        if self.uploader is not None:
            steps.append(self.uploader.aclose())
        steps.extend(device.stop() for device in self.devices)
        if steps:
            tasks = [asyncio.ensure_future(step) for step in steps]
            _, late = await asyncio.wait(tasks, timeout=_HOME_STOPS_WITHIN)
            for task in late:
                task.cancel()


DEMO_GATEWAY = "demo-home"
# The demo's alert messages go to a mailbox file in its folder (owner-only), through
# the server's `hvfile://` apprise channel (fhir_api/alerts/filechannel.py).
NOTIFICATIONS_FILE = "notifications.log"
DEMO_CHANNEL = "demo-mailbox"
# The demo's staff: (role, username, family name); all in every demo patient's care team.
DEMO_STAFF = (
    ("doctor", "demo-doctor", "医師"),
    ("nurse", "demo-nurse", "看護師"),
    ("care_manager", "demo-caremanager", "ケアマネ"),
)


async def _demo_staff(
    base: str, token: str, data_dir: Path, patient_ids: list[str]
) -> list[tuple[str, str, str]]:
    """Practitioners, one care team per patient and a login per role (role, username, password).

    Made as an admin would (`homevitals admin practitioner|careteam|user create`), with
    passwords that need no change at first login: the demo's, printed, never a default.
    """
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    practitioners: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        for role, username, family in DEMO_STAFF:
            body = {
                "resourceType": "Practitioner",
                "identifier": [{"system": "urn:homevitals:demo-staff", "value": username}],
                "name": [{"family": family, "given": ["デモ"], "text": f"{family} デモ"}],
            }
            made = await client.post(
                "/Practitioner",
                json=body,
                headers={"If-None-Exist": f"identifier=urn:homevitals:demo-staff|{username}"},
            )
            made.raise_for_status()
            practitioners[role] = made.json()["id"]
        for patient_id in patient_ids:
            team = {
                "resourceType": "CareTeam",
                "identifier": [{"system": "urn:homevitals:demo-team", "value": patient_id}],
                "status": "active",
                "subject": {"reference": f"Patient/{patient_id}"},
                "participant": [
                    {"member": {"reference": f"Practitioner/{pid}"}}
                    for pid in practitioners.values()
                ],
            }
            made = await client.post(
                "/CareTeam",
                json=team,
                headers={"If-None-Exist": f"identifier=urn:homevitals:demo-team|{patient_id}"},
            )
            made.raise_for_status()
    return await asyncio.to_thread(_demo_accounts, data_dir, practitioners)


def _demo_accounts(data_dir: Path, practitioners: dict[str, str]) -> list[tuple[str, str, str]]:
    from sqlalchemy import create_engine

    from fhir_api.accounts.passwords import generate_password
    from fhir_api.accounts.store import AccountStore
    from fhir_api.alerts.store import set_recipient_channel
    from fhir_api.roles import StaffRole

    engine = create_engine(f"sqlite:///{data_dir / 'homevitals.db'}")
    store = AccountStore(engine)
    logins = []
    try:
        wanted = [(r, u, practitioners[r]) for r, u, _ in DEMO_STAFF] + [
            ("admin", "demo-admin", None)
        ]
        for role, username, practitioner in wanted:
            password = generate_password()
            if store.by_username(username) is None:
                store.create(username, [StaffRole(role)], practitioner, username)
            store.set_password(username, password, by_admin=False)
            logins.append((role, username, password))
        with engine.begin() as connection:
            for role, username, _ in DEMO_STAFF:  # the username heads their messages
                reference = f"Practitioner/{practitioners[role]}"
                set_recipient_channel(connection, reference, DEMO_CHANNEL, username)
    finally:
        engine.dispose()
    return logins


def _gateway_token(data_dir: Path, patient_ids: list[str | None]) -> str:
    """Bind the demo home's gateway to its patients and give it a token (in the server's store)."""
    from sqlalchemy import create_engine

    from fhir_api.access.gateways import GatewayRegistry
    from fhir_api.auth import TokenStore
    from fhir_api.roles import TokenKind

    engine = create_engine(f"sqlite:///{data_dir / 'homevitals.db'}")
    try:
        GatewayRegistry(engine).bind(DEMO_GATEWAY, sorted({p for p in patient_ids if p}))
        return TokenStore(engine).create(DEMO_GATEWAY, TokenKind.GATEWAY, gateway=DEMO_GATEWAY)
    finally:
        engine.dispose()


async def _create_patient(client: httpx.AsyncClient, patient: DemoPatient) -> str:
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
            {"url": "http://hl7.org/fhir/StructureDefinition/tz-code", "valueCode": "Asia/Tokyo"}
        ],
    }
    response = await client.post(
        "/Patient",
        json=resource,
        headers={"If-None-Exist": f"identifier=urn:homevitals:demo|{patient.identifier}"},
    )
    response.raise_for_status()
    patient_id: str = response.json()["id"]
    return patient_id


async def _home(
    base: str, token: str, data_dir: Path, days: int, duration: float | None, live_every: float
) -> DemoResult:
    """Run the home until `duration`, Ctrl-C or SIGTERM, or an error; then stop it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    home = _Home(base, token, data_dir)
    work = asyncio.create_task(home.run(days, duration, live_every), name="demo home")
    stopped = asyncio.create_task(stop.wait(), name="demo stop")
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        work.cancel()
        # Bounded: a cancellation swallowed below must not keep the demo alive.
        await asyncio.wait({work}, timeout=_WORK_STOPS_WITHIN)
        await home.close()
        print(flush=True)
    error = None
    # Retrieved even after Ctrl-C: the server gets the same SIGINT and may stop before
    # the home's next request, whose ConnectError is then no error of the demo's.
    exc = work.exception() if work.done() and not work.cancelled() else None
    if not stop.is_set() and exc is not None:
        if isinstance(exc, httpx.HTTPError):
            error = f"the server stopped answering: {exc}"
        else:
            raise exc
    uploaded = home.uploaded()
    if home.outbox is not None:
        home.outbox.close()
    return DemoResult(uploaded, interrupted=stop.is_set(), error=error)


def _run_bounded(main: Coroutine[Any, Any, _T]) -> _T:
    """`asyncio.run`, except that tasks left over get half a second, not forever."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        leftover = asyncio.all_tasks(loop)
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.wait(leftover, timeout=0.5))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=_SERVER_STOPS_WITHIN)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def run_demo(
    *,
    port: int = 8000,
    days: int = 90,
    duration: float | None = None,
    data_dir: Path | None = None,
    live_every: float = 30.0,
) -> DemoResult:
    """Run the demo until `duration` or Ctrl-C.

    Its data (server store, gateway outbox, server log) goes to `data_dir` and stays
    there; without one, to a temporary folder that is removed on exit.

    Raises:
        RuntimeError: the server could not start (the message says why in one line,
            e.g. the port is taken and `--port` chooses another).
    """
    owned = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="homevitals-demo-")) if data_dir is None else data_dir
    server: subprocess.Popen[bytes] | None = None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        print(f"HomeVitals demo (data in {directory})", flush=True)
        # The server's metric files in the demo's folder: a server that has to be killed
        # (it did not stop within its time limit) cannot remove a folder of its own.
        server, token = start_server_process(
            directory,
            port,
            client="demo-gateway",
            log=directory / "server.log",
            environment={
                "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics"),
                # Demo logins without an authenticator app; on by default everywhere else.
                "HOMEVITALS_REQUIRE_TOTP": "false",
                "HOMEVITALS_NOTIFY_CHANNELS": json.dumps(
                    {DEMO_CHANNEL: f"hvfile://{(directory / NOTIFICATIONS_FILE).resolve()}"}
                ),
            },
        )
        base = f"http://127.0.0.1:{port}/fhir"
        auth = f"'Authorization: Bearer {token}'"
        print(f"FHIR server: {base}")
        print(f"  token (demo only): {token}")
        # Percent-encoded, so that each line works pasted into a shell as it is.
        print(f"  try: curl -H {auth} '{base}/Patient?name={quote('田中')}'")
        latest = f"{base}/Observation?code=85354-9&_sort=-date&_count=5"
        print(f"       curl -H {auth} '{latest}'")
        print(
            "Simulated home: emulated Bluetooth cuffs, oximeters and a sleep sensor with history,"
        )
        print("read by the real gateway (bleak over an emulated radio), uploaded over HTTP:")
        return _run_bounded(_home(base, token, directory, days, duration, live_every))
    except KeyboardInterrupt:  # while the server starts, before the home's handler is in place
        return DemoResult(0, interrupted=True)
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            if server is not None:
                _stop_server(server)
            if owned:
                shutil.rmtree(directory, ignore_errors=True)
                print("(demo data removed; keep it with --data-dir)", flush=True)
            else:
                print(f"(demo data kept in {directory})", flush=True)

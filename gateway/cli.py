"""`homevitals gateway ...`: run the gateway, show its status."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bindings import Bindings
from .settings import GatewaySettings

if TYPE_CHECKING:
    from .outbox import Outbox
    from .service import BleEnvironment

__all__ = ["add_commands"]

_LOGGER = logging.getLogger(__name__)
_STORAGE_RETRY_S = 30.0


def _settings(args: argparse.Namespace) -> GatewaySettings:
    overrides: dict[str, Any] = {}
    if getattr(args, "simulate", False):
        overrides["simulate"] = True
    if getattr(args, "home", None):
        overrides["simulation_home"] = args.home
    return GatewaySettings(**overrides)


@contextlib.asynccontextmanager
async def _ble_environment(settings: GatewaySettings) -> AsyncIterator[BleEnvironment]:
    """The Bluetooth adapter, or a virtual bus with the simulated home's devices on it."""
    from .service import BleEnvironment

    if not settings.simulate:
        yield BleEnvironment.adapter(settings.adapter)
        return
    from .simulation import VirtualBus
    from .simulation.home_file import start_home

    bus = VirtualBus()
    devices: list[Any] = []
    if settings.simulation_home is not None:
        devices = await start_home(settings.simulation_home, bus)
    try:
        yield BleEnvironment.simulated(bus)
    finally:
        for device in devices:
            with contextlib.suppress(Exception):
                await device.stop()


async def _open_storage(settings: GatewaySettings, token: str) -> tuple[Outbox, Path | None]:
    """Open the outbox; while the file system cannot hold it, report that and try again.

    No device is read meanwhile, so every device keeps its memory; the heartbeat
    tells the clinic about the storage fault.
    """
    import httpx

    from .errors import StorageError, UploadError
    from .heartbeat import put_status, status_device
    from .outbox import open_outbox

    path = settings.data_dir / "gateway.db"
    started = time.time()
    while True:
        try:
            return open_outbox(path)
        except StorageError as exc:
            _LOGGER.error("cannot open the outbox (%s); no device is read until it can", exc)
            status = {
                "uptime_s": round(time.time() - started),
                "bluetooth": "not started",
                "storage": f"fault: {exc}",
                "oldest_unsent_age_s": None,
                "last_upload_contact": None,
                "devices": {},
            }
            device = status_device(settings.identity(), status)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
            base = settings.server_url.rstrip("/") + "/"
            try:
                async with httpx.AsyncClient(base_url=base, headers=headers) as client:
                    await put_status(client, device, *settings.identity().search)
            except UploadError as upload:
                _LOGGER.warning("heartbeat not delivered: %s", upload)
            await asyncio.sleep(_STORAGE_RETRY_S)


async def _run(settings: GatewaySettings) -> None:
    from .clinic_settings import ClinicSettings
    from .patient_side import build_patient_side
    from .service import Gateway
    from .uploader import Uploader

    token = settings.require_token()
    outbox, damaged = await _open_storage(settings, token)
    uploader = Uploader(settings.server_url, token, outbox, batch_size=settings.batch_size)
    patient_side = build_patient_side(settings, outbox, uploader)
    local = Bindings([*outbox.bindings(), *settings.bindings().all()])
    # Always polled: the clinic binds the home's devices even where nothing speaks.
    clinic = ClinicSettings(
        settings.server_url,
        token,
        settings.data_dir / "clinic-settings.json",
        local=settings.feedback,
        local_reminders=settings.reminders,
        apply=patient_side.apply if patient_side is not None else lambda *_: None,
        interval=settings.heartbeat_interval,
        local_bindings=local,
    )
    async with _ble_environment(settings) as ble:
        gateway = Gateway(
            identity=settings.identity(),
            bindings=local,
            outbox=outbox,
            uploader=uploader,
            ble=ble,
            zone=settings.zone,
            idle_timeout=settings.idle_timeout,
            cooldown=settings.cooldown,
            heartbeat_interval=settings.heartbeat_interval,
            heartbeat_keepalive=settings.heartbeat_keepalive,
            prune_after=settings.sent_retention_days * 86400,
            damaged_outbox=damaged,
            test_data=settings.simulate,
            patient_side=patient_side,
            clinic_settings=clinic,
        )
        clinic.apply_bindings = gateway.rebind
        try:
            await gateway.run()
        finally:
            await clinic.aclose()
            await uploader.aclose()
            outbox.close()


def _without_emulation(settings: GatewaySettings) -> bool:
    """True (after one line saying what to install) when --simulate cannot run here."""
    if not settings.simulate or importlib.util.find_spec("bumble") is not None:
        return False
    try:
        wheel = f"homevitals-{importlib.metadata.version('homevitals')}-py3-none-any.whl"
    except importlib.metadata.PackageNotFoundError:
        wheel = "the homevitals wheel"
    print(
        "--simulate needs the emulated radio (bumble) of the dev extra, not installed here: "
        f"pip install '{wheel}[gateway,dev]' (or pip install -e '.[gateway,dev]' in a checkout)",
        file=sys.stderr,
    )
    return True


def _run_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(args)
    if _without_emulation(settings):
        return 2
    mode = "simulated devices" if settings.simulate else f"adapter {settings.adapter or 'default'}"
    logging.getLogger(__name__).info(
        "gateway %s -> %s (%s, %d devices)",
        settings.system_id,
        settings.server_url,
        mode,
        len(settings.devices),
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings))
    return 0


def _status_command(args: argparse.Namespace) -> int:
    """Print the outbox's state and whether its storage works (0), or does not (2)."""
    from .errors import StorageError
    from .outbox import Outbox, damaged_files

    settings = _settings(args)
    path = settings.data_dir / "gateway.db"
    if not path.exists():
        print(f"no gateway data at {path}", file=sys.stderr)
        return 1
    status: dict[str, Any] = {
        "gateway": settings.system_id,
        "server": settings.server_url,
        "devices": [d.address for d in settings.devices],
        "sent_retention_days": settings.sent_retention_days,
        "damaged_outbox_files": [str(p) for p in damaged_files(path)],
    }
    try:
        outbox = Outbox(path)
    except StorageError as exc:
        status["storage"] = f"fault: {exc}"
        print(json.dumps(status, indent=2, ensure_ascii=False))
        return 2
    try:
        counts = outbox.counts()
        size = outbox.size()
        status |= {
            "queue_depth": counts["pending"],
            "oldest_unsent_age_s": outbox.oldest_pending_age(),
            "sent": counts["sent"],
            "rejected": counts["rejected"],
            "quarantined": counts["quarantined"],
            "outbox_rows": size["rows"],
            "outbox_bytes": size["bytes"],
            "rejected_rows": [
                {"seq": seq, "resource": resource.get("id"), "outcome": outcome}
                for seq, resource, outcome in outbox.rejected()
            ],
            "quarantined_payloads": outbox.quarantined(),
            # Readings for a Patient/Device the server does not hold yet: they are sent
            # again (at most hourly) and arrive once the clinic registers it.
            "waiting_for_server": [
                {"seq": seq, "outcome": outcome} for seq, outcome in outbox.waiting_for_server()
            ],
        }
        outbox.probe()  # can the disk take a commit now (not full, not read-only)?
        status["storage"] = "ok"
    except StorageError as exc:
        status["storage"] = f"fault: {exc}"
    finally:
        outbox.close()
    print(json.dumps(status, indent=2, ensure_ascii=False))
    return 0 if status["storage"] == "ok" else 2


def _pair_command(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    settings = _settings(args)
    if _without_emulation(settings):
        return 2
    return asyncio.run(_pair(settings, args))


async def _pair(settings: GatewaySettings, args: argparse.Namespace) -> int:
    import httpx

    from .outbox import Outbox
    from .pairing import PairingError, pair_device

    token = settings.require_token()
    outbox = Outbox(settings.data_dir / "gateway.db")
    print("Waiting for a device in pairing mode (hold its Bluetooth button) ...")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    try:
        async with (
            _ble_environment(settings) as ble,
            httpx.AsyncClient(
                base_url=settings.server_url.rstrip("/") + "/", headers=headers
            ) as server,
        ):
            paired = await pair_device(
                ble=ble,
                outbox=outbox,
                server=server,
                patient=args.patient,
                slot=args.slot,
                address=args.address,
                bond=not args.no_bond,
                timeout=args.timeout,
            )
    except PairingError as exc:
        print(f"pairing failed: {exc}", file=sys.stderr)
        return 1
    finally:
        outbox.close()
    slot = "all users" if paired.slot is None else f"user {paired.slot}"
    device = f"{paired.kind} {paired.address} (Device/{paired.device_id})"
    print(f"paired {device}, {slot} -> Patient/{args.patient}")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `gateway run` and `gateway status`."""
    gateway = commands.add_parser("gateway", help="the home gateway")
    sub = gateway.add_subparsers(dest="gateway_command", required=True)
    run = sub.add_parser("run", help="run the gateway service")
    run.add_argument(
        "--simulate", action="store_true", help="emulated Bluetooth instead of the adapter"
    )
    run.add_argument("--home", help="a simulated home's JSON file (with --simulate)")
    run.set_defaults(handler=_run_command)
    pair = sub.add_parser("pair", help="pair a device in pairing mode and bind it to a patient")
    pair.add_argument("--patient", required=True, help="the Patient id on the server")
    pair.add_argument("--slot", type=int, help="a cuff's user slot (default: the whole device)")
    pair.add_argument("--address", help="pair only the device with this address")
    pair.add_argument("--timeout", type=float, default=60.0)
    pair.add_argument("--no-bond", action="store_true", help="do not bond (devices that refuse to)")
    pair.add_argument("--simulate", action="store_true")
    pair.add_argument("--home", help="a simulated home's JSON file (with --simulate)")
    pair.set_defaults(handler=_pair_command)
    status = sub.add_parser(
        "status", help="print the outbox's state and size; exit 2 on a storage fault"
    )
    status.set_defaults(handler=_status_command)

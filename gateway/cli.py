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
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .bindings import Bindings
from .settings import GatewaySettings

if TYPE_CHECKING:
    from .service import BleEnvironment

__all__ = ["add_commands"]


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


async def _run(settings: GatewaySettings) -> None:
    from .outbox import Outbox
    from .service import Gateway
    from .uploader import Uploader

    token = settings.require_token()
    outbox = Outbox(settings.data_dir / "gateway.db")
    uploader = Uploader(settings.server_url, token, outbox, batch_size=settings.batch_size)
    async with _ble_environment(settings) as ble:
        gateway = Gateway(
            identity=settings.identity(),
            bindings=Bindings([*outbox.bindings(), *settings.bindings().all()]),
            outbox=outbox,
            uploader=uploader,
            ble=ble,
            zone=settings.zone,
            idle_timeout=settings.idle_timeout,
            cooldown=settings.cooldown,
            heartbeat_interval=settings.heartbeat_interval,
            test_data=settings.simulate,
        )
        try:
            await gateway.run()
        finally:
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
    from .outbox import Outbox

    settings = _settings(args)
    path = settings.data_dir / "gateway.db"
    if not path.exists():
        print(f"no gateway data at {path}", file=sys.stderr)
        return 1
    outbox = Outbox(path)
    counts = outbox.counts()
    status = {
        "gateway": settings.system_id,
        "server": settings.server_url,
        "queue_depth": counts["pending"],
        "oldest_unsent_age_s": outbox.oldest_pending_age(),
        "sent": counts["sent"],
        "rejected": counts["rejected"],
        "quarantined": counts["quarantined"],
        "devices": [d.address for d in settings.devices],
    }
    print(json.dumps(status, indent=2, ensure_ascii=False))
    outbox.close()
    return 0


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
    status = sub.add_parser("status", help="print the gateway's queue and counts")
    status.set_defaults(handler=_status_command)

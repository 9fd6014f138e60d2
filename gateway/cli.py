"""`homevitals gateway ...`: run the gateway, show its status."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from typing import Any

from .settings import GatewaySettings

__all__ = ["add_commands"]


def _settings(args: argparse.Namespace) -> GatewaySettings:
    overrides: dict[str, Any] = {}
    if getattr(args, "simulate", False):
        overrides["simulate"] = True
    if getattr(args, "home", None):
        overrides["simulation_home"] = args.home
    return GatewaySettings(**overrides)


async def _run(settings: GatewaySettings) -> None:
    from .outbox import Outbox
    from .service import BleEnvironment, Gateway
    from .uploader import Uploader

    token = settings.require_token()
    outbox = Outbox(settings.data_dir / "gateway.db")
    uploader = Uploader(settings.server_url, token, outbox, batch_size=settings.batch_size)
    devices: list[Any] = []
    if settings.simulate:
        from .simulation import VirtualBus
        from .simulation.home_file import start_home

        bus = VirtualBus()
        ble = BleEnvironment.simulated(bus)
        if settings.simulation_home is not None:
            devices = await start_home(settings.simulation_home, bus)
    else:
        ble = BleEnvironment.adapter(settings.adapter)
    gateway = Gateway(
        identity=settings.identity(),
        bindings=settings.bindings(),
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
        for device in devices:
            with contextlib.suppress(Exception):
                await device.stop()
        outbox.close()


def _run_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(args)
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
    status = sub.add_parser("status", help="print the gateway's queue and counts")
    status.set_defaults(handler=_status_command)

"""The `homevitals` command: one entry point, a subcommand per job.

Subcommands import their package lazily, so a gateway installed with only the
`gateway` extra never imports the server's dependencies. Where an extra is
missing, its commands are stand-ins that say in one line what to install,
rather than argparse's "invalid choice" or an import traceback (issue 9).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import gc
import importlib.metadata
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from device_adapters import DeviceAdapterError, Quantity, Reading, parse

__all__ = ["describe", "main"]

# Payloads the demo decodes until the gateway and server exist (issues 4 and 5 turn
# `demo` into the full home: emulated devices, gateway, server and clinician view).
DEMO_PAYLOADS: tuple[tuple[str, str, str], ...] = (
    ("Blood pressure cuff", "2a35", "1e7a0050006000e8070b1b0a1e004800010000"),
    ("Blood pressure cuff, kPa", "2a35", "15bdf00b009ff03c001200"),
    ("Blood pressure cuff, NaN systolic", "2a35", "00ff0750006000"),
    ("Pulse oximeter, stored record", "2a5e", "0f61004000e8070b1b070509000220000019f0"),
    ("Thermometer", "2a1c", "06b00e00fedc070c050b321b04"),
    ("Scale", "2a9d", "0eb630e8070b1b07000002ea006006"),
    (
        "Sleep sensor epoch",
        "725e0003-650c-4bc4-ad17-0eb60f2b1771",
        "070102e8070b1b021e002c0103360087f00200",
    ),
    ("Truncated cuff payload", "2a35", "1e7a0050"),
)


# What each extra brings that a command imports (checked without importing it).
_EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "gateway": ("bleak", "httpx", "pydantic_settings", "fhir"),
    "server": ("fastapi", "uvicorn", "sqlalchemy", "alembic"),
    "dev": ("bumble",),
}

# Where a token comes from, for a gateway that has none (issue 9).
ACCESS_HINT = (
    "on the server's host an administrator runs "
    "`homevitals admin gateway-token create --gateway <home> --patient <id>` and gives you "
    "the token it prints once; put it in HOMEVITALS_GATEWAY_TOKEN (on a Pi: "
    "/etc/homevitals/gateway.env)"
)


def missing_extras(*extras: str) -> list[str]:
    """The extras among `extras` that this installation lacks."""
    return [
        extra
        for extra in extras
        if any(importlib.util.find_spec(module) is None for module in _EXTRA_MODULES[extra])
    ]


def install_hint(extras: Sequence[str]) -> str:
    """The pip command that adds `extras`, for a wheel install and for a checkout."""
    wanted = ",".join(extras)
    try:
        wheel = f"homevitals-{importlib.metadata.version('homevitals')}-py3-none-any.whl"
    except importlib.metadata.PackageNotFoundError:
        wheel = "the homevitals wheel"
    return f"pip install '{wheel}[{wanted}]' (or pip install -e '.[{wanted}]' in a checkout)"


def _needs(command: str, extras: Sequence[str], why: str = "") -> int:
    """Say in one line what to install for `command`, instead of a traceback."""
    print(
        f"homevitals {command} needs the {'/'.join(extras)} extra{'s' if len(extras) > 1 else ''}, "
        f"not installed here{why}: {install_hint(extras)}",
        file=sys.stderr,
    )
    return 2


def _value(value: object) -> str:
    if isinstance(value, Quantity):
        if value.value is None:
            return f"absent ({value.absent_reason}) {value.unit}"
        return f"{value.value:.{value.decimals}f} {value.unit}"
    if isinstance(value, enum.Flag):
        return "|".join(m.name or "" for m in type(value) if m in value) or "none"
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def describe(reading: Reading) -> str:
    """One line per field that carries information, for people reading a terminal."""
    lines = [type(reading).__name__]
    for field in dataclasses.fields(reading):
        value = getattr(reading, field.name)
        if value is None or value == () or value is False:
            continue
        lines.append(f"  {field.name.replace('_', ' ')}: {_value(value)}")
    return "\n".join(lines)


def _decode(args: argparse.Namespace) -> int:
    try:
        data = bytes.fromhex(args.payload)
    except ValueError:
        print(f"error: {args.payload!r} is not hex", file=sys.stderr)
        return 2
    try:
        print(describe(parse(args.characteristic, data)))
    except DeviceAdapterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.decode_only:
        return _decode_samples()
    missing = missing_extras("gateway", "server", "dev")
    if missing:  # the demo runs the server and an emulated home: everything
        return _needs("demo", ["gateway", "server", "dev"], f" (missing: {', '.join(missing)})")
    from homevitals_demo import run_demo

    try:
        result = run_demo(
            port=args.port,
            days=args.days,
            duration=args.duration,
            data_dir=args.data_dir,
            live_every=args.live_every,
        )
    except RuntimeError as exc:  # the server could not start: one line says why
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        _exit_quickly()
    print(f"the gateway uploaded {result.uploaded} resources")
    if result.error is not None:
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    return 0


def _exit_quickly() -> None:
    """Spare the process the collection of everything it imported when it exits.

    Tearing down the server's, the gateway's and bumble's modules takes about a
    second on a busy Raspberry Pi-class machine, and Ctrl-C must stop the demo
    within two; the process ends right after this, so nothing needs collecting.
    """
    gc.freeze()


def _decode_samples() -> int:
    print("HomeVitals: decoding sample Bluetooth LE payloads\n")
    for title, characteristic, payload in DEMO_PAYLOADS:
        print(f"== {title}  [{characteristic} {payload}]")
        try:
            print(describe(parse(characteristic, bytes.fromhex(payload))))
        except DeviceAdapterError as error:
            print(f"  quarantined: {error}")
        print()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and shell completion)."""
    parser = argparse.ArgumentParser(prog="homevitals", description="HomeVitals home telemedicine")
    commands = parser.add_subparsers(dest="command", required=True)
    decode = commands.add_parser("decode", help="decode one characteristic value")
    decode.add_argument("characteristic", help='UUID, e.g. "2a35" or a 128-bit UUID')
    decode.add_argument("payload", help="the value in hex, e.g. 1e7a0050...")
    decode.set_defaults(handler=_decode)
    demo = commands.add_parser("demo", help="run the demo: server, simulated home, live readings")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--days", type=int, default=90, help="days of history in the cuffs' memory")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    demo.add_argument(
        "--live-every", type=float, default=30.0, help="seconds between live readings"
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        help="keep the demo's data (server store, gateway outbox, log) here; "
        "default: a temporary folder removed on exit",
    )
    demo.add_argument("--decode-only", action="store_true", help="only decode sample payloads")
    demo.set_defaults(handler=_demo)
    try:  # the gateway's commands need the `gateway` extra
        from gateway.cli import add_commands as add_gateway_commands
    except ImportError:
        _not_installed(commands, "gateway", "the home gateway", ["gateway"])
    else:
        add_gateway_commands(commands)
    # The server's commands exist only where the `server` extra is installed; asked of
    # the installation, since fhir_api.cli imports its dependencies only when run.
    if missing_extras("server"):
        _not_installed(commands, "server", "run the FHIR server", ["server"])
        _not_installed(commands, "token", "manage API tokens", ["server"], SERVER_HOST_ONLY)
        _not_installed(commands, "admin", "staff accounts and access", ["server"])
    else:
        from fhir_api.cli import add_commands

        add_commands(commands)
    return parser


# `homevitals token` where there is no server: tokens live in the server's database.
SERVER_HOST_ONLY = f"homevitals token works only where the server runs: {ACCESS_HINT}"


def _not_installed(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    extras: list[str],
    hint: str | None = None,
) -> None:
    """A stand-in for a command whose extra is missing: it says what to install."""
    stand_in = commands.add_parser(
        name, help=f"{summary} (needs the {','.join(extras)} extra)", add_help=False
    )

    def explain(_: argparse.Namespace) -> int:
        if hint is not None:
            print(f"{hint} (or install the server here: {install_hint(extras)})", file=sys.stderr)
            return 2
        return _needs(name, extras)

    stand_in.set_defaults(handler=explain, takes_any_arguments=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `homevitals` command."""
    try:
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
        if unknown and not getattr(args, "takes_any_arguments", False):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        handler = args.handler
        result: int = handler(args)
    except KeyboardInterrupt:  # Ctrl-C while starting up: stop quietly, as a shell expects
        _exit_quickly()
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
